// unified_cache/purge.cpp's feedback on a heap of its own thread: memory a purge pass gives
// back and the heap then populates again doubles the heap's decay delay (up to
// kMaxPurgeBackoff doublings); memory given back and left unused halves it again. Driven
// pass by pass: the base delay is an hour, so no slow path or purger runs a pass of its own,
// and each pass the test runs is forced (it gives back every free page at once). The counts
// are exact whatever the machine's load.
#include <gtest/gtest.h>

#include <cstring>
#include <thread>
#include <vector>

#include "superslab/os.hpp"
#include "internal_support.hpp"
#include "unified_cache/heap.hpp"
#include "unified_cache/heap_internal.hpp"

namespace {

using namespace hakmem;

using hakt_internal::class_of_size;

// n objects of class cls taken as malloc takes them (the bin, then refills), each written
// whole with `fill` so that its pages are resident whatever a pass gave back.
void take(ThreadHeap* h, unsigned cls, unsigned n, int fill, std::vector<void*>* out) {
  Bin& b = h->cache.bins[cls];
  for (unsigned i = 0; i < n; ++i) {
    void* p = b.top != b.base ? *--b.top : cache_refill_pop(cls);
    ASSERT_NE(p, nullptr);
    std::memset(p, fill, kClassSize[cls]);
    out->push_back(p);
  }
}

// Frees n objects straight to their slabs, tagged as free() tags them.
void give_back(ThreadHeap* h, void** objs, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) *static_cast<std::uintptr_t*>(objs[i]) = free_tag();
  LockGuard g(h->lock);
  heap_return_objects(h, objs, static_cast<std::uint32_t>(n));
}

// A burst: n objects taken and written, then freed and flushed, so their slabs empty and
// their units go back to the SuperSlabs.
void burst(ThreadHeap* h, unsigned cls, unsigned n) {
  std::vector<void*> objs;
  take(h, cls, n, 0x5a, &objs);
  give_back(h, objs.data(), objs.size());
  heap_flush_all(h);
}

std::size_t pass(ThreadHeap* h) {
  LockGuard g(h->lock);
  return heap_purge(h, true);
}

unsigned backoff(const ThreadHeap* h) { return h->purge_backoff.load(); }

// Runs body on a thread of its own, its feedback state cleared (a new thread may take a
// parked heap with some), so the heap's passes are the test's alone.
template <class F>
void on_own_thread(F body) {
  std::thread run([&] {
    ThreadHeap* h = heap_current();
    ASSERT_NE(h, nullptr);
    {
      LockGuard g(h->lock);
      h->purge_backoff.store(0);
      h->purged_last_pass = 0;
      h->purge_quiet_passes = 0;
    }
    body(h);
  });
  run.join();
}

class PurgeFeedback : public ::testing::Test {
 protected:
  void SetUp() override {
    saved_ = heap_purge_delay_ns();
    heap_set_purge_delay(kBaseDelay);
  }
  void TearDown() override { heap_set_purge_delay(saved_); }
  std::uint64_t saved_ = 0;
  const unsigned cls_ = class_of_size(4096);
  static constexpr std::uint64_t kBaseDelay = 3600ull * 1000 * 1000 * 1000;
  static constexpr unsigned kObjects = 256;  // 1 MiB of 4 KiB objects: 16 or more slabs
};

TEST_F(PurgeFeedback, MemoryPopulatedAgainAfterEachPurgeRaisesTheDelayToItsBound) {
  ASSERT_LT(cls_, kNumClasses);
  on_own_thread([&](ThreadHeap* h) {
    std::vector<unsigned> seen;
    for (unsigned cycle = 0; cycle < kMaxPurgeBackoff + 3; ++cycle) {
      burst(h, cls_, kObjects);  // populates again what the last cycle's pass gave back
      // The pass judges the last one by what this burst populated again, then gives back.
      std::size_t released = pass(h);
      seen.push_back(backoff(h));
      EXPECT_GE(released, std::size_t{kObjects} * 4096 / 2) << "cycle " << cycle;
    }
    // Cycle 0 had nothing to judge; from cycle 1 on, each raised the backoff by one.
    for (unsigned cycle = 0; cycle < seen.size(); ++cycle) {
      unsigned want = cycle < kMaxPurgeBackoff ? cycle : kMaxPurgeBackoff;
      EXPECT_EQ(seen[cycle], want) << "cycle " << cycle;
    }
    EXPECT_EQ(heap_purge_delay_of(h), kBaseDelay << kMaxPurgeBackoff);
  });
}

// A program shrinking: its objects freed a group at a time, each group's memory given back
// and never wanted again. Every such pass counts towards a fall; none may count as a rise.
TEST_F(PurgeFeedback, MemoryLeftUnusedAfterPurgesLowersTheDelayAgain) {
  ASSERT_LT(cls_, kNumClasses);
  on_own_thread([&](ThreadHeap* h) {
    constexpr unsigned kGroups = 2 * kQuietPassesPerFall * kMaxPurgeBackoff;
    constexpr unsigned kPerGroup = kObjects / kGroups;
    std::vector<void*> objs;
    take(h, cls_, kObjects, 0x5a, &objs);
    pass(h);  // whatever the carves left behind is judged and given back now
    h->purge_backoff.store(kMaxPurgeBackoff);
    h->purged_last_pass = 0;
    h->purge_quiet_passes = 0;
    unsigned prev = kMaxPurgeBackoff;
    for (unsigned g = 0; g < kGroups; ++g) {
      // Each 4 KiB object fills its own page, so every group frees whole pages.
      give_back(h, &objs[g * kPerGroup], kPerGroup);
      // Judges the last group's pass (nothing populated since: quiet), gives this group back.
      EXPECT_GT(pass(h), std::size_t{0}) << "group " << g << " gave nothing back";
      EXPECT_LE(backoff(h), prev) << "group " << g << ": unused memory raised the delay";
      prev = backoff(h);
    }
    EXPECT_EQ(backoff(h), 0u) << kGroups << " quiet passes bring it down from its bound";
    EXPECT_EQ(heap_purge_delay_of(h), kBaseDelay);
  });
}

// The two-pass rule: a page goes back at the second pass that finds it all-free, and only if
// no object was handed out from it in between (refill.cpp's slab_take clears its mark).
// Otherwise a program working in bursts a little over a delay apart has the same pages
// found free at two passes, given back and faulted in again at every burst.
TEST_F(PurgeFeedback, PagesHandedOutSinceTheLastPassAreNotGivenBack) {
  ASSERT_LT(cls_, kNumClasses);
  on_own_thread([&](ThreadHeap* h) {
    auto unforced_pass = [h] {
      LockGuard g(h->lock);
      // Due now, whatever the (hour-long) delay: the last pass a whole delay ago. Not 0: the
      // clock is CLOCK_MONOTONIC, and a machine up for less than half the delay (a fresh CI
      // runner) would find "0" too recent (unsigned wrap-around keeps this right then too).
      h->last_purge_ns.store(os::now_ns() - heap_purge_delay_of(h));
      return heap_purge(h, false);
    };
    constexpr unsigned kN = 64, kKeepEvery = 8;  // every slab keeps some live objects
    std::vector<void*> objs, freed, kept;
    take(h, cls_, kN, 0x5a, &objs);
    for (unsigned i = 0; i < kN; ++i) (i % kKeepEvery == 0 ? kept : freed).push_back(objs[i]);
    give_back(h, freed.data(), freed.size());
    heap_flush_all(h);
    unforced_pass();  // finds the freed pages all-free: marks them
    // A short burst between the passes: objects handed out, written, freed again.
    std::vector<void*> again;
    take(h, cls_, 8, 0x5b, &again);
    give_back(h, again.data(), again.size());
    heap_flush_all(h);
    std::size_t released = unforced_pass();
    EXPECT_GT(released, std::size_t{0}) << "pages untouched since the first pass stay marked";
    // A page given back reads as zeros; the burst's pages must still hold what it wrote.
    for (void* p : again) {
      EXPECT_EQ(static_cast<unsigned char*>(p)[100], 0x5b) << p << " was given back";
    }
    give_back(h, kept.data(), kept.size());
  });
}

}  // namespace
