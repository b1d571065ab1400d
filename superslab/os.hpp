// OS layer: every mapping and madvise of the heap goes through here, so placement policy
// (populate, huge pages, NUMA) lives in one place and is counted (os_stats.hpp). The raw
// calls below it are the platform layer's (platform/platform.hpp).
#pragma once

#include <cstddef>
#include <cstdint>

namespace hakmem::os {

inline constexpr std::size_t kPageSize = 4096;
inline constexpr std::size_t kHugePageSize = std::size_t{2} << 20;

enum class HugePolicy : int { kAuto = 0, kThp = 1, kHugetlb = 2, kOff = 3 };
enum class PopulatePolicy : int { kAuto = 0, kAlways = 1, kNever = 2 };

struct Policy {
  HugePolicy huge = HugePolicy::kAuto;
  PopulatePolicy populate = PopulatePolicy::kAuto;
};

// Set once at start-up (and by the option API); read on slow paths only.
void set_policy(const Policy& p);
Policy policy();

// Anonymous read-write mapping; nullptr on failure (errno set by the kernel).
void* map(std::size_t size);
// Mapping of `size` bytes whose start is a multiple of `align` (a power of two >= page).
// Over-maps by `align` and trims both ends. When `try_hugetlb` is set and hugetlbfs pages
// are available, uses MAP_HUGETLB (size must be a multiple of 2 MiB); *got_hugetlb tells.
void* map_aligned(std::size_t size, std::size_t align, bool try_hugetlb = false,
                  bool* got_hugetlb = nullptr);
// Address space only (PROT_NONE, no commit), aligned.
void* reserve_aligned(std::size_t size, std::size_t align);
void unmap(void* p, std::size_t size);
// Gives back address space from reserve_aligned() that was never used (not counted mapped).
void release_reservation(void* p, std::size_t size);
// Moves the mapping [old_base, old_base + old_size) onto `target` (a reservation of
// new_size bytes from reserve_aligned(), which it replaces) and resizes it to new_size:
// mremap(MREMAP_MAYMOVE | MREMAP_FIXED), pages moved, not copied. bytes_mapped follows the
// size change. nullptr on failure (errno from the kernel; old mapping and target unchanged).
void* remap_into(void* old_base, std::size_t old_size, std::size_t new_size, void* target);

// Pre-faults [p, p+len) for writing: MADV_POPULATE_WRITE (Linux >= 5.14), falling back to
// touching one byte per page. Returns bytes populated.
std::size_t populate(void* p, std::size_t len);
// madvise(MADV_HUGEPAGE); returns true if the kernel accepted it.
bool advise_hugepage(void* p, std::size_t len);
// Two purge stages: MADV_FREE (lazy; RSS drops only under pressure, no refault when reused
// soon) and MADV_DONTNEED (RSS drops now; the next touch faults a zero page).
bool purge_lazy(void* p, std::size_t len);
bool purge_now(void* p, std::size_t len);
// mprotect: PROT_NONE (a guard page: any access faults) or read/write again. True on success.
bool protect_none(void* p, std::size_t len);
bool protect_read_write(void* p, std::size_t len);

// Transparent huge page mode from /sys: "always", "madvise" or "never"; kThpUnknown if unread.
enum ThpMode : int { kThpUnknown = -1, kThpAlways = 0, kThpMadvise = 1, kThpNever = 2 };
int thp_mode();
// Minor page faults of the whole process so far (getrusage), for slow-path accounting.
std::uint64_t minor_faults();
// Gives the CPU to another thread (sched_yield): slow-path waits only.
void yield_cpu();
// Monotonic nanoseconds (vDSO clock_gettime, no syscall).
std::uint64_t now_ns();

}  // namespace hakmem::os
