#include "allocator/profile_memory.hpp"

#include <time.h>

#include <cstring>

#include "allocator/large.hpp"
#include "platform/clock.hpp"
#include "superslab/pool.hpp"
#include "superslab/span.hpp"
#include "unified_cache/account.hpp"
#include "unified_cache/heap.hpp"

namespace hakmem {
namespace {

static_assert(kNumClasses <= HAKMEM_PROFILE_MAX_CLASSES);
// The walk's cost, estimated from what it read rather than timed: its time includes waits
// for heap locks their busy owners hold, which cost this thread nothing. Measured at about
// 8 ns per slab and 240 ns per SuperSlab (PERF_NOTES.md, 2026-12-03); rounded up.
constexpr std::uint64_t kNsPerSlab = 10;
constexpr std::uint64_t kNsPerSuperSlab = 300;
constexpr std::uint64_t kWalkCostFactor = 100;  // a walk every 100x its cost at most

// Guarded by the caller's serialisation (profile.cpp's refresh lock).
hakmem_profile_memory g_last;
CacheAccount g_cache;  // ~5 KiB: static, not on the publisher's small stack
std::uint64_t g_next_walk_ns = 0;

std::uint64_t sub(std::uint64_t a, std::uint64_t b) { return a > b ? a - b : 0; }

// Keeps the HAKMEM_PROFILE_MAX_HEAPS largest heaps by resident bytes, largest first.
void keep_heap(const HeapAccount& a, void* ctx) {
  auto* m = static_cast<hakmem_profile_memory*>(ctx);
  hakmem_profile_heap e{};
  e.tid = a.tid > 0 ? a.tid : 0;
  e.flags = a.tid == ThreadHeap::kParkedTid ? HAKMEM_PROFILE_HEAP_PARKED : 0;
  e.superslabs = a.superslabs;
  e.in_use = a.in_use;
  e.bins = a.bins;
  e.live = sub(a.in_use, a.bins);
  e.free = a.free;
  e.tail = a.tail;
  e.free_units = a.free_units;
  e.medium_cached = a.medium_cached;
  e.resident = a.in_use + a.free + a.tail + a.free_units + a.medium_cached;
  unsigned n = m->num_heaps;
  unsigned at = n;
  while (at > 0 && m->heaps[at - 1].resident < e.resident) --at;
  if (at >= HAKMEM_PROFILE_MAX_HEAPS) return;
  unsigned last = n < HAKMEM_PROFILE_MAX_HEAPS ? n : HAKMEM_PROFILE_MAX_HEAPS - 1;
  for (unsigned i = last; i > at; --i) m->heaps[i] = m->heaps[i - 1];
  m->heaps[at] = e;
  if (n < HAKMEM_PROFILE_MAX_HEAPS) m->num_heaps = n + 1;
}

void walk(hakmem_profile_memory* m) {
  std::uint64_t walks = m->walks;
  std::memset(m, 0, sizeof(*m));
  m->walks = walks + 1;
  m->flags = HAKMEM_PROFILE_MEMORY_VALID;

  g_cache = CacheAccount{};
  PoolAccount pool;
  cache_account(&g_cache, &pool, keep_heap, m);
  for (unsigned c = 0; c < kNumClasses; ++c) {
    const SlabBytes& s = g_cache.classes[c];
    hakmem_profile_class_memory& o = m->classes[c];
    o.bins = g_cache.bins[c];
    // Bins are as last published, slabs as walked now: clamp what the two views disagree on.
    o.live = sub(s.in_use, o.bins);
    o.free = s.free;
    o.purged = s.purged;
    o.tail = s.tail;
  }
  m->walked_superslabs = g_cache.superslabs;
  m->walked_slabs = g_cache.units.slabs;
  m->heaps_live = g_cache.heaps;
  m->slab_free_units = g_cache.units.free_units;
  m->orphan_superslabs = g_cache.orphans;

  SpanAccount span;
  span_account(&span);
  m->walked_superslabs += span.superslabs;
  m->medium_cached = g_cache.medium_cached;
  m->medium_live = sub(span.live, g_cache.medium_cached);
  m->span_free_resident = span.free_resident;
  m->span_free_purged = span.free_purged;

  m->reserve_resident = pool.reserve_resident;
  m->reserve_lazy = pool.reserve_lazy;
  m->reserve_purged = pool.reserve_purged;
  LargeStats ls = large_stats();
  m->huge_live = ls.live_bytes;
  m->huge_cached = ls.cached_bytes;
  m->meta_superslabs = pool.headers;
  constexpr std::uint64_t kHeapBytes = (sizeof(ThreadHeap) + 4095) / 4096 * 4096;
  m->meta_heaps = heaps_mapped() * kHeapBytes;
}

}  // namespace

void memory_collect(hakmem_profile_memory* out, bool force) {
  std::uint64_t t0 = platform::clock_ns(CLOCK_MONOTONIC);
  if (force || t0 >= g_next_walk_ns || !(g_last.flags & HAKMEM_PROFILE_MEMORY_VALID)) {
    walk(&g_last);
    std::uint64_t t1 = platform::clock_ns(CLOCK_MONOTONIC);
    g_last.walk_ns = t1 - t0;
    g_last.updated_time_ns = platform::clock_ns(CLOCK_REALTIME);
    const std::uint64_t cost = g_last.walked_slabs * kNsPerSlab + g_last.walked_superslabs * kNsPerSuperSlab;
    g_next_walk_ns = t1 + kWalkCostFactor * cost;
  }
  *out = g_last;
}

}  // namespace hakmem
