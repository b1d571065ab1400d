// What faulting memory in costs on the machine the process runs on, measured on the
// allocator's own populates, and the huge-page decision taken from it.
//
// Why: the price of a transparent huge page depends on where its 2 MiB come from. On bare
// metal one THP populate is several times cheaper than 512 4 KiB populates; on a guest
// whose host reclaims free guest memory (free page reporting), a fresh 2 MiB block must be
// backed by the host again and costs 2.75 ms here — six times the 0.45 ms of populating the
// same 2 MiB as 4 KiB pages (../shared/BENCHMARKING.md). A fixed policy is wrong on one of
// the two. So HUGEPAGES=auto probes: once the heap is large enough that 2 MiB and a few ms
// are noise (kProbeAfterSuperSlabs), the next fresh dense SuperSlab is advised huge pages
// and its populate timed; huge pages stay on while they cost no more per byte than 4 KiB
// populates (sampled on slab-grain populates of the same process), and are re-probed at
// exponentially growing intervals while they are off, since the host's state changes.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hakmem {

// A populate of `bytes` of 4 KiB-page memory took `ns` (ignored below 64 KiB: syscall
// overhead would dominate).
void page_cost_note_small(std::size_t bytes, std::uint64_t ns);
// A fresh SuperSlab advised huge pages was populated (2 MiB) in `ns`.
void page_cost_note_huge(std::uint64_t ns);
// Should the fresh dense SuperSlab about to be mapped get huge pages? `mapped` is how many
// SuperSlabs the process has mapped so far. Counts the decision (probe bookkeeping).
bool page_cost_want_huge(std::uint64_t mapped);

struct PageCostStats {
  std::uint64_t small_ns_per_page;  // EWMA; 0 = no sample yet
  std::uint64_t huge_ns_per_2m;     // EWMA of fresh THP populates; 0 = never probed
  std::uint64_t probes;             // fresh huge pages tried
  bool huge_on;                     // the current decision
};
PageCostStats page_cost_stats();
// Tests: forget every sample.
void page_cost_reset();

inline constexpr std::uint64_t kProbeAfterSuperSlabs = 16;  // 32 MiB mapped
inline constexpr std::uint64_t kReprobeFirst = 32;          // fresh dense SuperSlabs

}  // namespace hakmem
