#include "superslab/latency.hpp"

#include <cstring>

namespace hakmem {

std::atomic<bool> g_latency_enabled{false};

namespace {

constexpr unsigned kShards = 8;

struct alignas(64) Shard {
  std::atomic<std::uint64_t> sum_ns{0};
  std::atomic<std::uint64_t> max_ns{0};
  std::atomic<std::uint64_t> buckets[kLatencyBuckets] = {};
};

Shard g_shards[kLatencyKinds][kShards];
const char* const kNames[kLatencyKinds] = {"refill", "superslab_acquire", "purge"};

// Threads' stacks lie megabytes apart: the 8 MiB region of the caller's frame picks a shard
// (no TLS, no atomic). Two threads on one shard only share cache lines, never lose counts.
unsigned shard_of_caller() {
  auto sp = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
  return static_cast<unsigned>((sp >> 23) ^ (sp >> 26)) % kShards;
}

}  // namespace

const char* latency_name(Latency which) { return kNames[static_cast<unsigned>(which)]; }

void latency_read(Latency which, LatencySnapshot* out) {
  std::memset(out, 0, sizeof(*out));
  for (const Shard& s : g_shards[static_cast<unsigned>(which)]) {
    for (unsigned b = 0; b < kLatencyBuckets; ++b) {
      std::uint64_t n = s.buckets[b].load(std::memory_order_relaxed);
      out->buckets[b] += n;
      out->count += n;
    }
    out->sum_ns += s.sum_ns.load(std::memory_order_relaxed);
    std::uint64_t m = s.max_ns.load(std::memory_order_relaxed);
    if (m > out->max_ns) out->max_ns = m;
  }
}

void latency_record(Latency which, std::uint64_t ns) {
  Shard& s = g_shards[static_cast<unsigned>(which)][shard_of_caller()];
  s.buckets[latency_bucket(ns)].fetch_add(1, std::memory_order_relaxed);
  s.sum_ns.fetch_add(ns, std::memory_order_relaxed);
  std::uint64_t max = s.max_ns.load(std::memory_order_relaxed);
  while (ns > max && !s.max_ns.compare_exchange_weak(max, ns, std::memory_order_relaxed)) {
  }
}

void latency_reset_max() {
  for (auto& kind : g_shards) {
    for (Shard& s : kind) s.max_ns.store(0, std::memory_order_relaxed);
  }
}

}  // namespace hakmem
