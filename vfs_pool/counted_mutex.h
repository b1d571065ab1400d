// A std::mutex that counts acquisitions, contended acquisitions and wait time separately.
//
// DESIGN.md §1: a futex in a profile can be an idle waiter rather than contention, so the
// pool reports how often a lock was taken, how often the first try failed, and how long the
// losers waited. Counters are written only by the holder of the lock (after acquiring it),
// so they are plain relaxed loads and stores, never read-modify-write atomics; readers from
// other threads may see slightly stale values, which is all statistics need.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>

namespace hakmem::vfs {

struct LockStats {
  std::uint64_t acquisitions = 0;
  std::uint64_t contended = 0;  // the first try_lock failed and the thread had to block
  std::uint64_t wait_ns = 0;    // time spent blocked in those contended acquisitions

  LockStats& operator+=(const LockStats& o) {
    acquisitions += o.acquisitions;
    contended += o.contended;
    wait_ns += o.wait_ns;
    return *this;
  }
};

class CountedMutex {
 public:
  void lock() {
    if (mu_.try_lock()) {
      bump(acquisitions_);
      return;
    }
    const auto t0 = std::chrono::steady_clock::now();
    mu_.lock();
    const auto waited = std::chrono::steady_clock::now() - t0;
    bump(acquisitions_);
    bump(contended_);
    bump(wait_ns_, static_cast<std::uint64_t>(
                       std::chrono::duration_cast<std::chrono::nanoseconds>(waited).count()));
  }

  bool try_lock() {
    if (!mu_.try_lock()) return false;
    bump(acquisitions_);
    return true;
  }

  void unlock() { mu_.unlock(); }

  // The underlying mutex, for statistics readers whose own locking must not be counted.
  std::mutex& uncounted() { return mu_; }

  LockStats stats() const {
    return {acquisitions_.load(std::memory_order_relaxed), contended_.load(std::memory_order_relaxed),
            wait_ns_.load(std::memory_order_relaxed)};
  }

 private:
  // Only the lock holder writes, so load+store (two plain movs on x86) is race-free.
  static void bump(std::atomic<std::uint64_t>& c, std::uint64_t by = 1) {
    c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  }

  std::mutex mu_;
  std::atomic<std::uint64_t> acquisitions_{0};
  std::atomic<std::uint64_t> contended_{0};
  std::atomic<std::uint64_t> wait_ns_{0};
};

// Relaxed counter written only under some lock the writer holds (see CountedMutex::bump).
class LockedCounter {
 public:
  void add(std::uint64_t by = 1) {
    v_.store(v_.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  }
  std::uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

}  // namespace hakmem::vfs
