// The memory breakdown's accounting (superslab/account.cpp, unified_cache/account.cpp,
// allocator/profile_memory.cpp) in-process: a SuperSlab's slab bytes from hand-set slab
// states, exact per-class figures for the test thread's own objects, and walks racing
// threads that allocate, free each other's objects and exit (the sanitizer trees run this:
// the walk must be race-free without touching the fast path).
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "allocator/profile_memory.hpp"
#include "hakmem/hakmem.h"
#include "internal/internal_support.hpp"
#include "superslab/account.hpp"
#include "unified_cache/heap.hpp"
#include "unified_cache/size_classes.hpp"

namespace {

using namespace hakmem;

TEST(SuperSlabAccount, SlabBytesFromItsHeader) {
  hakt_internal::OwnSuperSlab own;
  ASSERT_TRUE(own.ok());
  SuperSlab* ss = own.get();
  constexpr unsigned kCls = 7;  // 128 B
  Slab* s = superslab_carve_slab(ss, kCls, 128, false, 0);
  ASSERT_NE(s, nullptr);
  // 100 objects handed out, 60 still out, one page of the free ones given back; refill
  // populated the first 7 pages of its unit.
  s->bump = s->start + 100 * 128;
  s->used = 60;
  s->purged_pages = 1u << 1;
  s->populated_pages = 7;
  SlabBytes per[kNumClasses];
  SuperSlabBytes total;
  superslab_account(ss, per, kNumClasses, &total);
  EXPECT_EQ(total.slabs, 1u);
  EXPECT_EQ(per[kCls].in_use, 60u * 128);
  EXPECT_EQ(per[kCls].free, 40u * 128 - 4096);
  EXPECT_EQ(per[kCls].purged, 4096u);
  const char* unit_base = unit_address(ss, s->first_unit);
  EXPECT_EQ(per[kCls].tail, static_cast<std::uint64_t>(unit_base + 7 * 4096 - s->bump));
  for (unsigned c = 0; c < kNumClasses; ++c) {
    if (c == kCls) continue;
    EXPECT_EQ(per[c].in_use + per[c].free + per[c].tail, 0u) << c;
  }
  // Free units: only those populated or touched may hold pages.
  EXPECT_EQ(total.free_units, 0u);
  ss->touched_units |= 1u << 20;
  SuperSlabBytes again;
  SlabBytes per2[kNumClasses];
  superslab_account(ss, per2, kNumClasses, &again);
  EXPECT_EQ(again.free_units, kUnitSize);
  EXPECT_EQ(superslab_units_bytes(1u), kUnitSize - kSuperSlabHeaderSize);
}

std::uint64_t class_index(std::size_t size) {
  for (unsigned c = 0; c < kNumClasses; ++c) {
    if (kClassSize[c] == size) return c;
  }
  return kNumClasses;
}

TEST(MemoryCollect, OwnObjectsAreExact) {
  heap_set_accounting(true);
  constexpr std::size_t kSize = 2560;
  const std::uint64_t c = class_index(kSize);
  ASSERT_LT(c, kNumClasses);
  // Other heaps — parked by threads of earlier tests in this process — may hold objects of
  // the class in their bins or live: measured first, and unchanged while this thread runs.
  hak_thread_flush();
  hakmem_profile_memory m0;
  memory_collect(&m0, true);
  const std::uint64_t other_live = m0.classes[c].live, other_bins = m0.classes[c].bins;
  std::vector<void*> objs;
  for (int i = 0; i < 300; ++i) objs.push_back(hak_malloc(kSize));
  hak_thread_flush();  // the bins empty: every object is live or back on its slab
  hakmem_profile_memory m;
  memory_collect(&m, true);
  ASSERT_TRUE(m.flags & HAKMEM_PROFILE_MEMORY_VALID);
  EXPECT_EQ(m.classes[c].live, other_live + 300 * kSize);
  EXPECT_EQ(m.classes[c].bins, other_bins);
  EXPECT_GE(m.heaps_live, 1u);
  ASSERT_GE(m.num_heaps, 1u);
  EXPECT_GE(m.heaps[0].in_use, 300 * kSize);
  EXPECT_GT(m.meta_superslabs, 0u);
  EXPECT_GT(m.meta_heaps, 0u);
  // Freed into the bin (32 objects a bin for this class, half flushed when full): published
  // by the flush and by hakmem_stats_get.
  for (void* p : objs) hak_free(p);
  hakmem_stats st;
  hakmem_stats_get(&st);
  memory_collect(&m, true);
  EXPECT_EQ(m.classes[c].live, other_live);
  EXPECT_GT(m.classes[c].bins, other_bins);
  EXPECT_LE(m.classes[c].bins, other_bins + 32 * kSize);
  EXPECT_EQ(m.classes[c].bins % kSize, 0u);
  hak_thread_flush();
  memory_collect(&m, true);
  EXPECT_EQ(m.classes[c].bins, other_bins);
  // Medium and huge.
  void* medium = hak_malloc(100000);
  void* huge = hak_malloc(std::size_t{4} << 20);
  hakmem_profile_memory m2;
  memory_collect(&m2, true);
  EXPECT_GE(m2.medium_live, m.medium_live + 106496);
  EXPECT_EQ(m2.huge_live, m.huge_live + (std::size_t{6} << 20));
  hak_free(medium);
  hak_free(huge);
  memory_collect(&m2, true);
  EXPECT_EQ(m2.huge_live, m.huge_live);
  EXPECT_GE(m2.huge_cached, std::size_t{6} << 20);
}

// A thread that exits while the breakdown is off parks its heap with its bins full and
// their levels never published; turned on later (hakmem-stat attaching to a running
// process), the walk must still count those objects as in bins, not live. Before the fix
// the 40 freed objects below showed as 40 live ones.
TEST(MemoryCollect, ParkedHeapsBinsAreNotLive) {
  constexpr std::size_t kSize = 3072;
  const std::uint64_t c = class_index(kSize);
  ASSERT_LT(c, kNumClasses);
  heap_set_accounting(true);
  hakmem_profile_memory m0;
  memory_collect(&m0, true);
  heap_set_accounting(false);
  std::thread([] {
    std::vector<void*> objs;
    for (int i = 0; i < 40; ++i) objs.push_back(hak_malloc(kSize));
    for (void* p : objs) hak_free(p);  // into the bin (or flushed: then not live either)
  }).join();
  heap_set_accounting(true);
  hakmem_profile_memory m1;
  memory_collect(&m1, true);
  EXPECT_EQ(m1.classes[c].live, m0.classes[c].live);
  EXPECT_GE(m1.classes[c].bins, m0.classes[c].bins);
}

TEST(MemoryCollect, WalksRaceAllocatingAndExitingThreads) {
  heap_set_accounting(true);
  std::atomic<int> finished{0};
  constexpr int kThreads = 3;
  std::vector<std::atomic<void*>> handoff(256);
  auto worker = [&](int id) {
    std::vector<void*> mine;
    for (int round = 0; round < 200; ++round) {
      for (int i = 0; i < 64; ++i) mine.push_back(hak_malloc(16 + 48 * ((i + id) % 40)));
      if (round % 16 == 0) mine.push_back(hak_malloc(40000 + 4096 * id));  // medium
      // Hand some to the others (remote frees), free the rest.
      for (std::size_t i = 0; i < mine.size(); ++i) {
        void* p = mine[i];
        if (i % 4 == 0) p = handoff[(round * 7 + i) % handoff.size()].exchange(p);
        hak_free(p);
      }
      mine.clear();
    }
    finished.fetch_add(1);
  };
  std::vector<std::thread> ts;
  for (int i = 0; i < kThreads; ++i) ts.emplace_back(worker, i);
  // Short-lived threads too: their heaps are parked and retired while walks run.
  std::thread churn([&] {
    for (int i = 0; i < 20; ++i) {
      std::thread([] {
        void* p = hak_malloc(64);
        hak_free(p);
      }).join();
    }
    finished.fetch_add(1);
  });
  // Walks for as long as the threads run (at least 200).
  std::uint64_t walks = 0;
  for (int i = 0; i < 200 || finished.load() < kThreads + 1; ++i) {
    hakmem_profile_memory m;
    memory_collect(&m, true);
    walks = m.walks;
    EXPECT_LE(m.num_heaps, static_cast<unsigned>(HAKMEM_PROFILE_MAX_HEAPS));
    for (unsigned k = 1; k < m.num_heaps; ++k) EXPECT_GE(m.heaps[k - 1].resident, m.heaps[k].resident);
  }
  for (auto& t : ts) t.join();
  churn.join();
  for (auto& slot : handoff) hak_free(slot.exchange(nullptr));
  EXPECT_GE(walks, 200u);
}

}  // namespace
