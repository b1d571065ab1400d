// A fake platform whose mmap fails (ENOMEM) once a budget of calls is spent: the allocator
// must answer NULL with errno ENOMEM, never crash, and serve again from what it holds and
// once the kernel gives memory again.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <vector>

#include "hakmem/hakmem.h"
#include "platform/platform.hpp"

namespace {

namespace platform = hakmem::platform;

std::atomic<long> g_budget{0};  // mmap calls still allowed to succeed
std::atomic<long> g_refused{0};

void* budgeted_mmap(void* addr, std::size_t len, int prot, int flags, int fd, off_t off) {
  if (g_budget.fetch_sub(1, std::memory_order_relaxed) <= 0) {
    g_refused.fetch_add(1, std::memory_order_relaxed);
    errno = ENOMEM;
    return MAP_FAILED;
  }
  return platform::linux_ops().mmap(addr, len, prot, flags, fd, off);
}

const platform::Ops& failing_ops() {
  static const platform::Ops ops = [] {
    platform::Ops o = platform::linux_ops();
    o.mmap = budgeted_mmap;
    return o;
  }();
  return ops;
}

constexpr std::size_t kMiB = std::size_t{1} << 20;

TEST(PlatformMmapFailure, HugeAllocationFailsWithEnomemThenWorks) {
  hak_free(hak_malloc(64));  // initialised before the kernel says no
  g_budget = 0;
  g_refused = 0;
  {
    platform::ScopedOps use(failing_ops());
    errno = 0;
    EXPECT_EQ(hak_malloc(8 * kMiB), nullptr);
    EXPECT_EQ(errno, ENOMEM);
    void* aligned = reinterpret_cast<void*>(1);
    EXPECT_EQ(hak_posix_memalign(&aligned, 4 * kMiB, 8 * kMiB), ENOMEM);
    EXPECT_GT(g_refused.load(), 0) << "the request never reached the fake mmap";
  }
  void* p = hak_malloc(8 * kMiB);
  ASSERT_NE(p, nullptr);
  std::memset(p, 0x5a, 8 * kMiB);
  hak_free(p);
}

TEST(PlatformMmapFailure, SmallAllocationsFailWithEnomemAndHeapStaysUsable) {
  ASSERT_EQ(hak_option_set("RESERVE_MB", 0), 0);  // no warm SuperSlabs to hide the failure
  hak_free(hak_malloc(1024));
  constexpr std::size_t kSize = 1024;
  constexpr std::size_t kMax = 512 * kMiB / kSize;  // far beyond what the allocator holds now
  std::vector<void*> held;
  held.reserve(kMax);  // glibc's malloc: this binary does not replace malloc
  g_budget = 2;        // a little room, then no more
  g_refused = 0;
  int err = 0;
  {
    platform::ScopedOps use(failing_ops());
    for (std::size_t i = 0; i < kMax; ++i) {
      errno = 0;
      void* p = hak_malloc(kSize);
      if (!p) {
        err = errno;
        break;
      }
      std::memset(p, static_cast<int>(i & 0xff), kSize);
      held.push_back(p);
    }
    ASSERT_LT(held.size(), kMax) << "no allocation failed";
    EXPECT_EQ(err, ENOMEM);
    EXPECT_GT(g_refused.load(), 0);
    // Still refused by the kernel, the heap serves what is freed back to it.
    for (std::size_t i = 0; i < held.size(); i += 2) {
      EXPECT_EQ(static_cast<unsigned char*>(held[i])[kSize - 1], i & 0xff);
      hak_free(held[i]);
      held[i] = nullptr;
    }
    for (std::size_t i = 0; i < held.size(); i += 2) {
      held[i] = hak_malloc(kSize);
      ASSERT_NE(held[i], nullptr) << "freed memory not reusable at " << i;
    }
  }
  for (void* p : held) hak_free(p);
  // The kernel gives again: so does the allocator, beyond what it held.
  std::vector<void*> more;
  for (std::size_t i = 0; i < held.size() + 4096; ++i) {
    void* p = hak_malloc(kSize);
    ASSERT_NE(p, nullptr);
    more.push_back(p);
  }
  for (void* p : more) hak_free(p);
}

}  // namespace
