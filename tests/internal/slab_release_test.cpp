// Empty slabs give their units back to their SuperSlab, so that memory one class freed
// serves every other class (unified_cache/flush.cpp, purge.cpp). A heap keeps at most one
// empty slab per class: the class's current slab, the head of its partial list. Two ways
// it kept many, both found on redis (PERF_NOTES.md, 2026-12-06):
// - freed in allocation order, each full slab that got a free went to the head of the
//   list and hid the slab before it, which then emptied as a non-head nobody freed into
//   again: 300k freed listpacks left 335 MiB of empty 8 KiB-class slabs carved;
// - a slab that is not full and is emptied by other threads' frees was collected only when
//   refill reached it; a purge pass collected its frees and purged its pages, but kept it.
// Counts only: the carved slabs of the class after everything is freed.
#include <gtest/gtest.h>

#include <map>
#include <thread>
#include <vector>

#include "hakmem/hakmem.h"
#include "internal_support.hpp"
#include "unified_cache/heap.hpp"
#include "unified_cache/heap_internal.hpp"

namespace {

using namespace hakmem;

using hakt_internal::class_of_size;

// Slabs of cls carved in h's SuperSlabs (owner thread, or under h->lock).
unsigned carved_slabs(const ThreadHeap* h, unsigned cls) {
  unsigned n = 0;
  for (const SuperSlab* ss = h->owned; ss; ss = ss->next) {
    for (unsigned u = 0; u < kUnitsPerSuperSlab; ++u) {
      const Slab& s = ss->slabs[u];
      if (s.state != SlabState::kUnused && s.first_unit == u && s.cls == cls) ++n;
    }
  }
  return n;
}

// Frees objs to their slabs as a flush does, from heap `from` (the owner's: local frees;
// another thread's: remote pushes), tagged as free() tags them.
void return_from(ThreadHeap* from, std::vector<void*>& objs) {
  for (void* p : objs) *static_cast<std::uintptr_t*>(p) = free_tag();
  LockGuard g(from->lock);
  heap_return_objects(from, objs.data(), static_cast<std::uint32_t>(objs.size()));
}

TEST(SlabRelease, SlabsFreedInAllocationOrderGiveTheirUnitsBack) {
  const unsigned cls = class_of_size(7424);  // a 7,203-byte request; 8 to a 64 KiB slab
  ASSERT_LT(cls, kNumClasses);
  std::thread run([cls] {
    ThreadHeap* h = heap_current();
    ASSERT_NE(h, nullptr);
    constexpr unsigned kObjects = 800;  // about 100 slabs
    std::vector<void*> objs(kObjects);
    for (auto& p : objs) {
      p = hak_malloc(7203);
      ASSERT_NE(p, nullptr);
    }
    const unsigned before = carved_slabs(h, cls);
    ASSERT_GE(before, 50u);
    for (void* p : objs) hak_free(p);  // oldest first, through the bins and their flushes
    hak_thread_flush();
    LockGuard g(h->lock);
    EXPECT_LE(carved_slabs(h, cls), 1u) << before << " slabs carved while the objects lived";
  });
  run.join();
}

TEST(SlabRelease, SlabsEmptiedByAnotherThreadGiveTheirUnitsBackAtThePurgePass) {
  const unsigned cls = class_of_size(4096);
  ASSERT_LT(cls, kNumClasses);
  std::thread run([cls] {
    ThreadHeap* h = heap_current();
    ASSERT_NE(h, nullptr);
    constexpr unsigned kObjects = 256;  // 16 or more slabs
    std::map<Slab*, std::vector<void*>> by_slab;
    Bin& b = h->cache.bins[cls];
    for (unsigned i = 0; i < kObjects; ++i) {
      void* p = b.top != b.base ? *--b.top : cache_refill_pop(cls);
      ASSERT_NE(p, nullptr);
      by_slab[slab_of(superslab_of(p), p)].push_back(p);
    }
    // One object of each slab freed here, so the full ones are partial again; the rest of
    // every slab freed by another thread.
    std::vector<void*> mine(b.base, b.top), theirs;  // the bin's leftovers: every slab empties
    b.top = b.base;
    for (auto& [s, v] : by_slab) {
      mine.push_back(v[0]);
      theirs.insert(theirs.end(), v.begin() + 1, v.end());
    }
    return_from(h, mine);
    std::thread other([&theirs] { return_from(heap_current(), theirs); });
    other.join();
    const unsigned before = carved_slabs(h, cls);
    ASSERT_GE(before, 8u);
    LockGuard g(h->lock);
    heap_purge(h, true);
    EXPECT_LE(carved_slabs(h, cls), 1u) << before << " slabs carved before the pass";
  });
  run.join();
}

}  // namespace
