#include "superslab/page_cost.hpp"

#include <atomic>

#include "superslab/os.hpp"

namespace hakmem {
namespace {

// Slow paths only (populates happen outside the fast path), but from any thread: relaxed
// atomics, last writer wins on the averages, which is all an estimate needs.
std::atomic<std::uint64_t> g_small_ns_per_page{0};
std::atomic<std::uint64_t> g_huge_ns{0};
std::atomic<std::uint64_t> g_probes{0};
std::atomic<bool> g_huge_on{false};
// Fresh dense SuperSlabs mapped without huge pages since the last probe, and how many to
// wait for before the next one (doubles after every failed probe).
std::atomic<std::uint64_t> g_since_probe{0};
std::atomic<std::uint64_t> g_reprobe_after{kReprobeFirst};

std::uint64_t ewma(std::uint64_t old, std::uint64_t sample) {
  return old == 0 ? sample : (old * 7 + sample) / 8;
}

bool huge_pays(std::uint64_t huge_ns) {
  std::uint64_t small = g_small_ns_per_page.load(std::memory_order_relaxed);
  // No 4 KiB sample yet: take the reference figure for populating 4 KiB pages on a guest
  // (0.87-2.5 us per page measured; the low end, so huge pages must really be cheap).
  if (small == 0) small = 870;
  std::uint64_t pages = os::kHugePageSize / os::kPageSize;
  // A huge page also saves TLB misses later: allow it a quarter more than the 4 KiB cost.
  return huge_ns * 4 <= small * pages * 5;
}

}  // namespace

void page_cost_note_small(std::size_t bytes, std::uint64_t ns) {
  if (bytes < (std::size_t{64} << 10)) return;
  std::uint64_t per_page = ns / (bytes / os::kPageSize);
  g_small_ns_per_page.store(ewma(g_small_ns_per_page.load(std::memory_order_relaxed), per_page),
                            std::memory_order_relaxed);
}

void page_cost_note_huge(std::uint64_t ns) {
  g_probes.fetch_add(1, std::memory_order_relaxed);
  std::uint64_t avg = ewma(g_huge_ns.load(std::memory_order_relaxed), ns);
  g_huge_ns.store(avg, std::memory_order_relaxed);
  // Judge on this sample, not only the average: the host's state changes (memory the guest
  // recycled is cheap again), and one dear probe must not hide cheap huge pages for long.
  bool on = huge_pays(ns < avg ? ns : avg);
  g_huge_on.store(on, std::memory_order_relaxed);
  if (!on) {
    std::uint64_t next = g_reprobe_after.load(std::memory_order_relaxed);
    if (g_probes.load(std::memory_order_relaxed) > 1 && next < (std::uint64_t{1} << 20)) next *= 2;
    g_reprobe_after.store(next, std::memory_order_relaxed);
  }
  g_since_probe.store(0, std::memory_order_relaxed);
}

bool page_cost_want_huge(std::uint64_t mapped) {
  if (mapped < kProbeAfterSuperSlabs) return false;  // small heaps never pay for a probe
  if (g_probes.load(std::memory_order_relaxed) == 0) return true;  // first probe
  if (g_huge_on.load(std::memory_order_relaxed)) return true;
  std::uint64_t n = g_since_probe.fetch_add(1, std::memory_order_relaxed) + 1;
  return n >= g_reprobe_after.load(std::memory_order_relaxed);
}

PageCostStats page_cost_stats() {
  return PageCostStats{g_small_ns_per_page.load(std::memory_order_relaxed),
                       g_huge_ns.load(std::memory_order_relaxed),
                       g_probes.load(std::memory_order_relaxed),
                       g_huge_on.load(std::memory_order_relaxed)};
}

void page_cost_reset() {
  g_small_ns_per_page.store(0, std::memory_order_relaxed);
  g_huge_ns.store(0, std::memory_order_relaxed);
  g_probes.store(0, std::memory_order_relaxed);
  g_huge_on.store(false, std::memory_order_relaxed);
  g_since_probe.store(0, std::memory_order_relaxed);
  g_reprobe_after.store(kReprobeFirst, std::memory_order_relaxed);
}

}  // namespace hakmem
