// The heap profile's sampling path through libhakmem.a (the prefixed API), so that the
// sanitizer trees run it too: samples are recorded with stacks that start in the caller,
// frees (small objects through flushes and thread exit, medium ones directly) remove them,
// and threads sampling at once agree on the totals. The environment (CMakeLists.txt) turns
// the profile on with a small mean interval: HAKMEM_HEAP_SAMPLE=4096, HAKMEM_HEAP_SEED=5.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "hakmem/hakmem.h"
#include "hakmem/heap_profile_record.h"
#include "heap_record_view.hpp"

namespace {

using hakt::heap_path;
using hakt::Record;

HAKT_NOIPA void* alloc_here(std::size_t n) {  // noipa: no constprop clone elsewhere
  void* p = hak_malloc(n);
  __asm__ volatile("" ::"r"(p) : "memory");
  return p;
}

// A block many times R holds one point per block it covers wholly plus at most one at each
// end: its estimate is within 2R of its size (the sampler counts the whole blocks instead of
// drawing a point in each: 2^18 of them here).
TEST(HeapSample, BlockOfManyBlocksIsEstimatedWithinTwoPoints) {
  hak_free(hak_malloc(16));  // start-up
  Record rec;
  ASSERT_NE(rec.r, nullptr) << heap_path();
  const std::uint64_t rate = rec.r->header.sample_bytes;
  for (std::size_t mib : {1, 3, 64, 1024}) {
    const std::size_t n = (mib << 20) + 12345;  // not a whole number of blocks
    std::uint64_t live0 = rec.get(rec.r->header.live_bytes);
    void* p = alloc_here(n);
    ASSERT_NE(p, nullptr);
    std::uint64_t size = hak_malloc_usable_size(p);  // the bytes the stream was charged
    auto est = static_cast<double>(rec.get(rec.r->header.live_bytes) - live0);
    EXPECT_LE(std::fabs(est - static_cast<double>(size)), 2.0 * static_cast<double>(rate))
        << mib << " MiB: estimated " << est;
    hak_free(p);
  }
}

TEST(HeapSample, SamplesStartInTheCallerAndFreesRemoveThem) {
  hak_free(hak_malloc(16));  // start-up
  Record rec;
  ASSERT_NE(rec.r, nullptr) << heap_path();
  ASSERT_EQ(rec.r->header.magic, HAKMEM_HEAP_MAGIC);
  std::uint64_t samples0 = rec.get(rec.r->header.samples);
  std::vector<void*> v;
  for (int i = 0; i < 4000; ++i) v.push_back(alloc_here(512));        // 2 MB: ~500 samples
  for (int i = 0; i < 40; ++i) v.push_back(alloc_here(100000));       // beyond the slabs
  std::uint64_t samples = rec.get(rec.r->header.samples) - samples0;
  EXPECT_GT(samples, 300u);
  std::uint64_t live = rec.get(rec.r->header.live_bytes);
  double truth = 4000.0 * 512 + 40.0 * 100000;
  EXPECT_GT(live, truth * 0.8);
  EXPECT_LT(live, truth * 1.25);
  // The innermost frame of the site's stack is alloc_here itself, not hakmem.
  auto lo = reinterpret_cast<std::uintptr_t>(&alloc_here);
  bool found = false;
  for (const hakmem_heap_stack& s : rec.r->stacks) {
    if (s.state != 2 || s.depth == 0 || s.live_samples == 0) continue;
    if (s.frames[0] >= lo && s.frames[0] < lo + 256) found = true;
  }
  EXPECT_TRUE(found);
  for (void* p : v) hak_free(p);
  hak_thread_flush();
  // A hundred objects may still be counted through another thread's bins: none here.
  EXPECT_LT(rec.get(rec.r->header.live_bytes), truth * 0.02);
}

TEST(HeapSample, ThreadsSampleAndExitCleanly) {
  Record rec;
  ASSERT_NE(rec.r, nullptr);
  std::uint64_t live0 = rec.get(rec.r->header.live_bytes);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([t] {
      std::vector<void*> v;
      for (int i = 0; i < 3000; ++i) v.push_back(alloc_here(64 + 64 * (i % 8) + t));
      for (int i = 0; i < 3000; i += 2) hak_free(v[i]);
      for (int i = 1; i < 3000; i += 2) hak_free(v[i]);
    });
  }
  for (auto& th : ts) th.join();
  // Thread exit flushed their bins: every sampled object went back to a slab.
  EXPECT_LE(rec.get(rec.r->header.live_bytes), live0 + 64 * 1024);
  EXPECT_EQ(rec.get(rec.r->header.dropped_live), 0u);
}

}  // namespace
