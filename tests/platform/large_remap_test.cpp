// Huge blocks grown by realloc move their pages with mremap through the OS layer: the
// mapped-bytes statistic must follow (issue 14), and a refused mremap must leave the block
// as it was and give back the reservation it took.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "hakmem/hakmem.h"
#include "platform/platform.hpp"
#include "superslab/os_stats.hpp"

namespace {

namespace platform = hakmem::platform;

constexpr std::size_t kMiB = std::size_t{1} << 20;
std::atomic<int> g_mremaps{0};
std::atomic<int> g_munmaps{0};
std::atomic<bool> g_refuse{false};

const platform::Ops& counting_ops() {
  static const platform::Ops ops = [] {
    platform::Ops o = platform::linux_ops();
    o.mremap = [](void* old_addr, std::size_t old_len, std::size_t new_len, int flags,
                  void* new_addr) -> void* {
      g_mremaps.fetch_add(1);
      if (g_refuse.load()) {
        errno = ENOMEM;
        return MAP_FAILED;
      }
      return platform::linux_ops().mremap(old_addr, old_len, new_len, flags, new_addr);
    };
    o.munmap = [](void* addr, std::size_t len) -> int {
      g_munmaps.fetch_add(1);
      return platform::linux_ops().munmap(addr, len);
    };
    return o;
  }();
  return ops;
}

std::uint64_t bytes_mapped() {
  return hakmem::os::g_os_stats.bytes_mapped.load(std::memory_order_relaxed);
}

void fill(void* p, std::size_t n, unsigned char v) { std::memset(p, v, n); }
bool holds(const void* p, std::size_t n, unsigned char v) {
  const auto* c = static_cast<const unsigned char*>(p);
  for (std::size_t i = 0; i < n; i += 4096) {
    if (c[i] != v) return false;
  }
  return c[n - 1] == v;
}

// Freed huge blocks are unmapped at once (no cache), so bytes_mapped returns to its start.
class PlatformLargeRemap : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(hak_option_set("LARGE_CACHE_MB", 0), 0);
    hak_malloc_trim(0);
    before_ = bytes_mapped();
  }
  // A 4 MiB huge block, every byte v.
  static void* filled_block(unsigned char v) {
    void* p = hak_malloc(4 * kMiB);
    if (p) fill(p, 4 * kMiB, v);
    return p;
  }

  platform::ScopedOps use_{counting_ops()};
  std::uint64_t before_ = 0;
};

TEST_F(PlatformLargeRemap, GrowingReallocKeepsBytesMappedRight) {
  void* p = filled_block(0x11);
  ASSERT_NE(p, nullptr);
  EXPECT_GE(bytes_mapped() - before_, 4 * kMiB);
  g_mremaps = 0;
  void* q = hak_realloc(p, 40 * kMiB);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(g_mremaps.load(), 1) << "the grow did not move the pages with mremap";
  EXPECT_TRUE(holds(q, 4 * kMiB, 0x11));
  fill(q, 40 * kMiB, 0x22);
  const std::uint64_t big = bytes_mapped() - before_;
  EXPECT_GE(big, 40 * kMiB);
  EXPECT_LT(big, 40 * kMiB + 4 * kMiB) << "more counted than one mapping of the new size";
  hak_free(q);
  hak_malloc_trim(0);
  EXPECT_EQ(bytes_mapped(), before_) << "the mapping's growth was not counted, or not uncounted";
}

TEST_F(PlatformLargeRemap, RefusedMremapLeavesBlockAndCountsUnchanged) {
  void* p = filled_block(0x33);
  ASSERT_NE(p, nullptr);
  const std::uint64_t with_block = bytes_mapped();
  g_refuse = true;
  g_mremaps = 0;
  g_munmaps = 0;
  void* q = hak_realloc(p, 40 * kMiB);  // may still succeed by copying into a new mapping
  g_refuse = false;
  EXPECT_EQ(g_mremaps.load(), 1);
  EXPECT_GE(g_munmaps.load(), 1) << "the reservation for the move was not given back";
  if (q == nullptr) {
    EXPECT_TRUE(holds(p, 4 * kMiB, 0x33));
    EXPECT_EQ(bytes_mapped(), with_block);
    hak_free(p);
  } else {
    EXPECT_TRUE(holds(q, 4 * kMiB, 0x33));
    hak_free(q);
  }
  hak_malloc_trim(0);
  EXPECT_EQ(bytes_mapped(), before_);
}

}  // namespace
