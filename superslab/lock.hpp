// The internal lock: a futex mutex (no allocation, usable during bootstrap and in atfork
// handlers) that counts acquisitions, contended acquisitions and time spent waiting
// separately — a futex in a profile may be an idle waiter, not contention.
#pragma once

#include <atomic>
#include <cstdint>

namespace hakmem {

struct LockStats {
  std::atomic<std::uint64_t> acquisitions{0};
  std::atomic<std::uint64_t> contended{0};
  std::atomic<std::uint64_t> wait_ns{0};
};

class Lock {
 public:
  constexpr explicit Lock(const char* name) : name_(name) {}
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

  void lock() {
    int expected = 0;
    if (state_.compare_exchange_strong(expected, 1, std::memory_order_acquire,
                                       std::memory_order_relaxed)) [[likely]] {
      stats_.acquisitions.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    lock_contended();
  }
  bool try_lock() {
    int expected = 0;
    if (state_.compare_exchange_strong(expected, 1, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
      stats_.acquisitions.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
    return false;
  }
  // Acquires like lock() but counts nothing: for the profile's memory walk, so that the
  // lock table shows the program's use of a lock, not the profiler's looking at it.
  void lock_uncounted() {
    int expected = 0;
    if (state_.compare_exchange_strong(expected, 1, std::memory_order_acquire,
                                       std::memory_order_relaxed)) [[likely]] {
      return;
    }
    wait_uncounted();
  }
  void unlock() {
    if (state_.exchange(0, std::memory_order_release) == 2) [[unlikely]] wake();
  }
  // Used by the child after fork(): the parent's other threads are gone.
  void reset_after_fork() { state_.store(0, std::memory_order_relaxed); }

  const char* name() const { return name_; }
  const LockStats& stats() const { return stats_; }
  // Adds this lock's statistics to `into` and zeroes them: a thread heap's lock, folded into
  // the exited totals when its thread exits, before the heap is reused by another thread.
  void drain_stats_into(LockStats& into) {
    auto move = [](std::atomic<std::uint64_t>& from, std::atomic<std::uint64_t>& to) {
      to.fetch_add(from.exchange(0, std::memory_order_relaxed), std::memory_order_relaxed);
    };
    move(stats_.acquisitions, into.acquisitions);
    move(stats_.contended, into.contended);
    move(stats_.wait_ns, into.wait_ns);
  }

 private:
  [[gnu::noinline]] void lock_contended();
  [[gnu::noinline]] void wait_uncounted();
  [[gnu::noinline]] void wake();

  std::atomic<int> state_{0};  // 0 free, 1 locked, 2 locked with waiters
  const char* name_;
  LockStats stats_;
};

// Scoped lock: LockGuard counts the acquisition in the lock's statistics, UncountedLockGuard
// (the profiler's memory walk) does not.
template <void (Lock::*Acquire)()>
class BasicLockGuard {
 public:
  explicit BasicLockGuard(Lock& l) : l_(l) { (l_.*Acquire)(); }
  ~BasicLockGuard() { l_.unlock(); }
  BasicLockGuard(const BasicLockGuard&) = delete;
  BasicLockGuard& operator=(const BasicLockGuard&) = delete;

 private:
  Lock& l_;
};
using LockGuard = BasicLockGuard<&Lock::lock>;
using UncountedLockGuard = BasicLockGuard<&Lock::lock_uncounted>;

}  // namespace hakmem
