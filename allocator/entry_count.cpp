// The out-of-line half of entry_count.hpp: operator new and delete off their inline path,
// and the counters of threads that have no heap.
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

unsigned index_of(FastField f) {
  static constexpr FastCounters probe{};
  return static_cast<unsigned>(
      (reinterpret_cast<const char*>(&(probe.*f)) - reinterpret_cast<const char*>(&probe)) /
      sizeof(std::uint64_t));
}

}  // namespace

void count_heapless(FastField f, std::uint64_t by) {
  g_heapless[index_of(f)].fetch_add(by, std::memory_order_relaxed);
}

void heapless_add_to(FastCounters* out) {
  auto* dst = reinterpret_cast<std::uint64_t*>(out);
  for (unsigned i = 0; i < kFields; ++i) dst[i] += g_heapless[i].load(std::memory_order_relaxed);
}

void* counted_new_slow(std::size_t n, std::size_t align) {
  void* p = aligned_impl(align, n);  // never plain malloc's slow path
  if (p) {
    if (chunk_kind(p) == kChunkSmall) note_wrapped_pop(p, n);  // it was one bin pop
    count_event(&FastCounters::new_calls);
  }
  return p;
}

void counted_delete_slow(void* p) {
  if (p == nullptr) return;
  if (chunk_kind(p) == kChunkSmall) {  // a thread without a heap yet: the free makes one
    fast_free(p);
    count_event(&FastCounters::wrapped_pushes);  // a bin push, or a rejected free
  } else {
    free_beyond(p);  // never plain free's slow path
  }
  count_event(&FastCounters::delete_calls);
}

}  // namespace hakmem
