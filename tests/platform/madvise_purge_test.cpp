// A fake madvise that records every MADV_DONTNEED range (then passes it to the kernel):
// malloc_trim's purge of partly used slabs must give back whole pages only, and never a
// page that holds a byte of a live object.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <vector>

#include "hakmem/hakmem.h"
#include "platform/platform.hpp"

namespace {

namespace platform = hakmem::platform;

constexpr std::uintptr_t kPage = 4096;
constexpr int kMaxRanges = 1 << 16;
// Atomics: the background purger may record too while the test reads.
std::atomic<std::uintptr_t> g_start[kMaxRanges];
std::atomic<std::size_t> g_len[kMaxRanges];
std::atomic<int> g_ranges{0};

const platform::Ops& recording_ops() {
  static const platform::Ops ops = [] {
    platform::Ops o = platform::linux_ops();
    o.madvise = [](void* addr, std::size_t len, int advice) -> int {
      if (advice == MADV_DONTNEED) {
        int i = g_ranges.fetch_add(1);
        if (i < kMaxRanges) {
          g_start[i].store(reinterpret_cast<std::uintptr_t>(addr), std::memory_order_relaxed);
          g_len[i].store(len, std::memory_order_release);
        }
      }
      return platform::linux_ops().madvise(addr, len, advice);
    };
    return o;
  }();
  return ops;
}

struct Block {
  std::uintptr_t start;
  std::size_t size;
};

// Sizes whose objects straddle page boundaries, and one that divides a page.
class PlatformPurge : public ::testing::TestWithParam<std::size_t> {};

TEST_P(PlatformPurge, TrimPurgesWholeFreePagesOnlyAndKeepsLiveObjects) {
  const std::size_t size = GetParam();
  const std::size_t count = (std::size_t{4} << 20) / size;  // a few slabs' worth
  const std::size_t keep_every = 97;                       // sparse survivors
  std::vector<void*> objs(count);
  platform::ScopedOps use(recording_ops());
  for (std::size_t i = 0; i < count; ++i) {
    objs[i] = hak_malloc(size);
    ASSERT_NE(objs[i], nullptr);
    std::memset(objs[i], static_cast<int>(i % 251), size);
  }
  std::vector<Block> kept;
  std::uintptr_t lo = UINTPTR_MAX, hi = 0;
  for (std::size_t i = 0; i < count; ++i) {
    auto a = reinterpret_cast<std::uintptr_t>(objs[i]);
    lo = a < lo ? a : lo;
    hi = a + size > hi ? a + size : hi;
    if (i % keep_every == 0) {
      kept.push_back(Block{a, size});
    } else {
      hak_free(objs[i]);
      objs[i] = nullptr;
    }
  }
  g_ranges = 0;
  hak_malloc_trim(0);
  int n = g_ranges.load() < kMaxRanges ? g_ranges.load() : kMaxRanges;
  int inside = 0;
  for (int r = 0; r < n; ++r) {
    std::size_t len = g_len[r].load(std::memory_order_acquire);
    std::uintptr_t s = g_start[r].load(std::memory_order_relaxed);
    ASSERT_EQ(s % kPage, 0u) << "range " << r << " starts inside a page";
    ASSERT_EQ(len % kPage, 0u) << "range " << r << " is not whole pages";
    ASSERT_GT(len, 0u);
    if (s + len <= lo || s >= hi) continue;  // not among this test's objects
    ++inside;
    for (const Block& b : kept) {
      ASSERT_TRUE(b.start + b.size <= s || b.start >= s + len)
          << "purged [" << s << ", +" << len << ") holds the live object at " << b.start;
    }
  }
  EXPECT_GT(inside, 0) << "trim purged no page among " << count << " freed objects";
  for (std::size_t i = 0; i < count; i += keep_every) {
    auto* p = static_cast<unsigned char*>(objs[i]);
    for (std::size_t k = 0; k < size; k += 7) ASSERT_EQ(p[k], i % 251) << "object " << i;
    hak_free(objs[i]);
  }
  // The purged pages come back in use: allocate over them again and write everything.
  for (std::size_t i = 0; i < count; ++i) {
    objs[i] = hak_malloc(size);
    ASSERT_NE(objs[i], nullptr);
    std::memset(objs[i], 0xa5, size);
  }
  for (void* p : objs) hak_free(p);
}

INSTANTIATE_TEST_SUITE_P(Sizes, PlatformPurge, ::testing::Values(176, 256, 1008, 3072));

}  // namespace
