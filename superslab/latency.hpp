// Latency histograms of the slow paths (refill, SuperSlab acquire, purge): log2 buckets of
// nanoseconds kept as relaxed atomics. Timing is off unless profiling turned it on, and then
// costs two clock reads (vDSO) and two relaxed increments per timed call — on slow paths
// only, never on the malloc/free fast path. Each histogram is split into shards picked by
// the caller's stack address, so threads refilling at the same time rarely share a line.
#pragma once

#include <atomic>
#include <cstdint>

#include "superslab/os.hpp"

namespace hakmem {

enum class Latency : unsigned { kRefill, kSuperSlabAcquire, kPurge, kCount };
inline constexpr unsigned kLatencyKinds = static_cast<unsigned>(Latency::kCount);
inline constexpr unsigned kLatencyBuckets = 32;  // bucket i: [2^i, 2^(i+1)) ns; last open

// A histogram as read by the profiler (the shards summed; max over the shards).
struct LatencySnapshot {
  std::uint64_t count;
  std::uint64_t sum_ns;
  std::uint64_t max_ns;
  std::uint64_t buckets[kLatencyBuckets];
};

extern std::atomic<bool> g_latency_enabled __attribute__((visibility("hidden")));

inline void latency_set_enabled(bool on) { g_latency_enabled.store(on, std::memory_order_relaxed); }
inline bool latency_enabled() { return g_latency_enabled.load(std::memory_order_relaxed); }

const char* latency_name(Latency which);
void latency_read(Latency which, LatencySnapshot* out);
// Counts one operation of `ns` nanoseconds.
void latency_record(Latency which, std::uint64_t ns);
// Clears every maximum (the other fields are monotonic; readers subtract a baseline).
void latency_reset_max();

constexpr unsigned latency_bucket(std::uint64_t ns) {
  if (ns < 2) return 0;
  unsigned b = 63u - static_cast<unsigned>(__builtin_clzll(ns));
  return b < kLatencyBuckets ? b : kLatencyBuckets - 1;
}

// Times the enclosing scope into a histogram when profiling is on:
//   LatencyTimer timer(Latency::kRefill);
class LatencyTimer {
 public:
  explicit LatencyTimer(Latency which)
      : which_(which), start_(latency_enabled() ? os::now_ns() : 0) {}
  ~LatencyTimer() {
    if (start_ != 0) [[unlikely]] latency_record(which_, os::now_ns() - start_);
  }
  LatencyTimer(const LatencyTimer&) = delete;
  LatencyTimer& operator=(const LatencyTimer&) = delete;

 private:
  Latency which_;
  std::uint64_t start_;
};

}  // namespace hakmem
