// The order of a heap's owned SuperSlabs (unified_cache/heap_internal.hpp): the ones with
// free units in front, since the scan for a new slab stops at the first full one. Before
// the fix, a SuperSlab that filled up stayed in front and hid the free units of every one
// behind it: a program repeating the same burst of 64-8064 B objects (all freed after each
// burst) mapped a new SuperSlab at nearly every burst, 43 of them (86 MiB) for a 16 MiB
// burst. Counts only: SuperSlabs owned after each burst.
#include <gtest/gtest.h>

#include <cstring>
#include <thread>
#include <vector>

#include "hakmem/hakmem.h"
#include "unified_cache/heap.hpp"
#include "unified_cache/heap_internal.hpp"

namespace {

using namespace hakmem;

TEST(OwnedOrder, RepeatedBurstsReuseTheirSuperSlabs) {
  std::thread run([] {
    ThreadHeap* h = heap_current();
    ASSERT_NE(h, nullptr);
    constexpr unsigned kObjects = 4000, kBursts = 12;
    std::vector<void*> objs(kObjects);
    std::vector<std::uint32_t> owned;
    std::uint32_t seed = 1;
    for (unsigned burst = 0; burst < kBursts; ++burst) {
      for (auto& p : objs) {
        seed = seed * 1103515245u + 12345u;
        std::size_t n = 64 + (seed >> 8) % 8000;
        p = hak_malloc(n);
        ASSERT_NE(p, nullptr);
        std::memset(p, 1, n);
      }
      for (void* p : objs) hak_free(p);
      {
        LockGuard g(h->lock);
        EXPECT_TRUE(owned_order_ok(h)) << "a SuperSlab with free units behind a full one";
      }
      owned.push_back(h->owned_count);
    }
    // The same burst needs the same memory: after the first two, no more SuperSlabs (one
    // of slack for the bins' and partial slabs' spread).
    EXPECT_LE(owned.back(), owned[1] + 1) << "burst 2: " << owned[1] << " SuperSlabs, burst "
                                          << kBursts << ": " << owned.back();
  });
  run.join();
}

}  // namespace
