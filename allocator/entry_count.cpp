// The counters of threads that have no heap (entry_count.hpp).
#include "allocator/entry_count.hpp"

#include <atomic>

namespace hakmem {
namespace {

constexpr unsigned kFields = sizeof(FastCounters) / sizeof(std::uint64_t);
static_assert(sizeof(FastCounters) == kFields * sizeof(std::uint64_t));

// Only threads that never refilled (a program whose thread only makes huge allocations, or
// a call made after the thread's heap was retired) land here: an atomic add is cheap next
// to the mmap or span lock those calls take anyway.
std::atomic<std::uint64_t> g_heapless[kFields];

}  // namespace

void count_heapless(unsigned index, std::uint64_t by) {
  g_heapless[index].fetch_add(by, std::memory_order_relaxed);
}

void heapless_add_to(FastCounters* out) {
  auto* dst = reinterpret_cast<std::uint64_t*>(out);
  for (unsigned i = 0; i < kFields; ++i) dst[i] += g_heapless[i].load(std::memory_order_relaxed);
}

}  // namespace hakmem
