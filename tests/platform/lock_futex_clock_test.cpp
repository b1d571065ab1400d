// The internal lock through a fake platform: contention reaches futex_wait and futex_wake
// (counted by the fake, then passed to the kernel), and the wait time is measured with the
// platform clock (a fake one here, advancing a fixed step per reading, so it is exact).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "platform/platform.hpp"
#include "superslab/lock.hpp"

namespace {

namespace platform = hakmem::platform;

constexpr std::uint64_t kStepNs = 500;
std::atomic<long> g_waits{0};
std::atomic<long> g_wakes{0};
std::atomic<long> g_clock_reads{0};

const platform::Ops& counting_ops() {
  static const platform::Ops ops = [] {
    platform::Ops o = platform::linux_ops();
    o.futex_wait = [](std::atomic<int>* word, int expected) -> long {
      g_waits.fetch_add(1);
      return platform::linux_ops().futex_wait(word, expected);
    };
    o.futex_wake = [](std::atomic<int>* word, int count) -> long {
      g_wakes.fetch_add(1);
      return platform::linux_ops().futex_wake(word, count);
    };
    o.clock_gettime = [](clockid_t, struct timespec* ts) -> int {
      std::uint64_t t = static_cast<std::uint64_t>(g_clock_reads.fetch_add(1) + 1) * kStepNs;
      ts->tv_sec = static_cast<time_t>(t / 1000000000u);
      ts->tv_nsec = static_cast<long>(t % 1000000000u);
      return 0;
    };
    return o;
  }();
  return ops;
}

TEST(PlatformLock, UncontendedLockMakesNoPlatformCall) {
  platform::ScopedOps use(counting_ops());
  g_waits = g_wakes = g_clock_reads = 0;
  hakmem::Lock lock("uncontended");
  for (int i = 0; i < 1000; ++i) {
    lock.lock();
    lock.unlock();
  }
  EXPECT_EQ(g_waits.load(), 0);
  EXPECT_EQ(g_wakes.load(), 0);
  EXPECT_EQ(g_clock_reads.load(), 0);
  EXPECT_EQ(lock.stats().acquisitions.load(), 1000u);
  EXPECT_EQ(lock.stats().contended.load(), 0u);
}

TEST(PlatformLock, ContendedLockWaitsOnFutexAndTimesWithPlatformClock) {
  platform::ScopedOps use(counting_ops());
  g_waits = g_wakes = g_clock_reads = 0;
  hakmem::Lock lock("contended");
  lock.lock();
  std::thread waiter([&] {
    lock.lock();
    lock.unlock();
  });
  // The holder keeps the lock until the waiter has gone to the futex (bounded: 60 s).
  for (int i = 0; i < 60000 && g_waits.load() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_GT(g_waits.load(), 0) << "the waiter never reached futex_wait";
  lock.unlock();
  waiter.join();
  EXPECT_GE(g_wakes.load(), 1) << "unlock with a waiter must wake it";
  EXPECT_EQ(lock.stats().acquisitions.load(), 2u);
  EXPECT_EQ(lock.stats().contended.load(), 1u);
  // One reading at the start of the contended path, one at acquisition.
  EXPECT_EQ(g_clock_reads.load(), 2);
  EXPECT_EQ(lock.stats().wait_ns.load(), kStepNs);
}

}  // namespace
