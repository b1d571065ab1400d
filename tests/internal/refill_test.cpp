// unified_cache/refill.cpp and flush.cpp on the test thread's own heap: a refill hands out
// distinct object starts of one slab of the class, tagged as bin residents, with the slab's
// used count covering them; returning them brings the count back to zero.
#include <gtest/gtest.h>

#include <set>

#include "superslab/registry.hpp"
#include "unified_cache/heap.hpp"
#include "unified_cache/heap_internal.hpp"

namespace {

using namespace hakmem;

class RefillPerClass : public ::testing::TestWithParam<unsigned> {};

TEST_P(RefillPerClass, RefillHandsOutTaggedObjectsOfOneSlab) {
  const unsigned cls = GetParam();
  ThreadHeap* h = heap_current();
  ASSERT_NE(h, nullptr);
  Bin& b = h->cache.bins[cls];
  heap_flush_all(h);  // start from an empty bin whatever ran before on this thread
  ASSERT_EQ(b.top, b.base);

  void* p = cache_refill_pop(cls);
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(chunk_kind(p), kChunkSmall);
  SuperSlab* ss = superslab_of(p);
  EXPECT_EQ(ss->owner.load(), h) << "refill carves from the heap's own SuperSlabs";
  Slab* s = slab_of(ss, p);
  EXPECT_EQ(s->cls, cls);
  EXPECT_EQ(unit_info_class(ss->unit_info[unit_of(p)]), cls);
  EXPECT_EQ(ss->geometry[unit_of(p)].owner_tag, bin_offset(cls)) << "free() indexes bins by it";
  EXPECT_LE(b.base, b.top);
  EXPECT_LE(b.top, b.limit);
  EXPECT_LE(static_cast<std::uint32_t>(b.top - b.base) + 1, class_refill_batch(cls));

  std::set<void*> seen{p};
  for (void** it = b.base; it < b.top; ++it) {
    char* o = static_cast<char*>(*it);
    EXPECT_TRUE(seen.insert(o).second) << "handed out twice";
    EXPECT_EQ(slab_of(superslab_of(o), o)->cls, cls);
    EXPECT_GE(o, s->start);
    EXPECT_LT(o, s->bump) << "only carved space is handed out";
    EXPECT_EQ(static_cast<std::size_t>(o - s->start) % s->obj_size, 0u) << "an object start";
    EXPECT_EQ(*reinterpret_cast<std::uintptr_t*>(o), free_tag()) << "bin residents carry the tag";
  }
  // All from the class's current slab: this is the heap's first refill of the class.
  if (superslab_of(*b.base) == ss && slab_of(ss, *b.base) == s) {
    EXPECT_EQ(s->used, seen.size());
  }

  heap_flush_all(h);
  EXPECT_EQ(b.top, b.base);
  {
    LockGuard g(h->lock);
    heap_return_objects(h, &p, 1);
  }
  if (s->state != SlabState::kUnused) {
    EXPECT_EQ(s->used, 0u) << "every object came back";
  }
}

INSTANTIATE_TEST_SUITE_P(Classes, RefillPerClass,
                         ::testing::Values(0u, 7u, 8u, 31u, 32u, 63u, 79u, 80u, 87u, 95u));

TEST(Flush, FullBinFlushesHalfAndKeepsTheNewest) {
  const unsigned cls = 3;
  ThreadHeap* h = heap_current();
  ASSERT_NE(h, nullptr);
  heap_flush_all(h);
  Bin& b = h->cache.bins[cls];
  const std::uint32_t cap = class_bin_capacity(cls);
  // Take a bin's worth (and one) of objects out through refills, as malloc would.
  std::vector<void*> objs;
  while (objs.size() < cap + 1) {
    void* p = b.top != b.base ? *--b.top : cache_refill_pop(cls);
    ASSERT_NE(p, nullptr);
    *static_cast<std::uintptr_t*>(p) = 0;  // malloc clears the tag
    objs.push_back(p);
  }
  // Push them back as free would; the push that meets a full bin flushes the older half.
  for (void* p : objs) {
    if (b.top == b.limit) {
      cache_flush_push(cls, p);
      EXPECT_EQ(static_cast<std::uint32_t>(b.top - b.base), cap - cap / 2 + 1);
      EXPECT_EQ(b.top[-1], p) << "the freed object is on top";
    } else {
      *static_cast<std::uintptr_t*>(p) = free_tag();
      *b.top++ = p;
    }
    EXPECT_LE(b.top, b.limit);
  }
  heap_flush_all(h);
  EXPECT_EQ(b.top, b.base);
}

}  // namespace
