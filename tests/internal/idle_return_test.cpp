// A thread back from idle returns its caches at its next slow path, slab or medium
// (unified_cache/medium.cpp, heap_note_slow_path): bins and the medium cache are owner-only,
// so no purger can empty them. Before slab slow paths counted, a thread whose last calls were
// slab frees kept its bins: realloc_growth's RSS after freeing everything rose from 9.4 to
// 20.6 MiB once its strings stopped in the 8 KiB class instead of page spans. The idle time
// is simulated (the heap's last slow path moved a purge delay back), so nothing sleeps and
// the counts are exact.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "hakmem/hakmem.h"
#include "superslab/os.hpp"
#include "internal_support.hpp"
#include "unified_cache/heap.hpp"
#include "unified_cache/heap_internal.hpp"

namespace {

using namespace hakmem;

using hakt_internal::class_of_size;

std::uint64_t calls_of(const ThreadHeap* h) {
  std::uint64_t n = 0;
  for (std::uint64_t c : h->cache.counters.calls) n += c;
  return n;
}

// Fills the 64 B class's bin with freed objects, sets the heap's last slow path a purge delay
// back with `calls_since` calls made after it, then takes one slab slow path (a malloc of a
// class whose bin is empty, so it refills). Returns the 64 B bin's objects after it.
std::size_t bin_after_slow_path(std::uint64_t calls_since) {
  std::size_t left = 0;
  std::thread run([&] {
    ThreadHeap* h = heap_current();
    ASSERT_NE(h, nullptr);
    const unsigned small = class_of_size(64);
    const unsigned other = class_of_size(24576);
    ASSERT_LT(small, kNumClasses);
    ASSERT_LT(other, kNumClasses);
    std::vector<void*> objs(64);
    for (auto& p : objs) p = hak_malloc(64);
    for (void* p : objs) hak_free(p);
    Bin& b = heap_bin(h, small);
    ASSERT_GE(b.top - b.base, 32) << "the frees stayed in the bin";
    // Whatever the thread's first mallocs left in the other class's bin: emptied, so the
    // next malloc of it refills.
    Bin& o = heap_bin(h, other);
    std::vector<void*> drained(o.base, o.top);
    o.top = o.base;
    const std::uint64_t delay = heap_purge_delay_of(h);
    h->last_slow_ns = os::now_ns() - delay - 1;
    h->last_slow_calls = calls_of(h) - calls_since;
    void* q = hak_malloc(24576);  // a refill: the slab slow path
    ASSERT_NE(q, nullptr);
    left = static_cast<std::size_t>(b.top - b.base);
    hak_free(q);
    LockGuard g(h->lock);  // the drained objects carry the free tag, as bin residents do
    heap_return_objects(h, drained.data(), static_cast<std::uint32_t>(drained.size()));
  });
  run.join();
  return left;
}

TEST(IdleReturn, AThreadBackFromIdleReturnsItsBinsAtASlabRefill) {
  EXPECT_EQ(bin_after_slow_path(0), 0u) << "an idle thread kept its bins";
}

TEST(IdleReturn, ABusyThreadKeepsItsBins) {
  // The same delay with thousands of calls since the last slow path: all fast-path hits,
  // the bins in use; they stay.
  EXPECT_GE(bin_after_slow_path(5000), 32u);
}

}  // namespace
