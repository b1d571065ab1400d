#include "unified_cache/account.hpp"

#include "superslab/pool.hpp"
#include "unified_cache/heap_internal.hpp"

namespace hakmem {
namespace {

struct Walk {
  CacheAccount* out;
  HeapAccountFn per_heap;
  void* ctx;
};

// Runs under the registry lock (heap_visit_live) and takes the heap's own lock: its owner
// changes its slabs and SuperSlab list only under it, so the walk sees them still. The
// order registry -> heap lock is the one the background purger uses (with try_lock); no
// path holds a heap lock while it waits for the registry lock.
void walk_heap(const ThreadHeap* ch, void* arg) {
  auto* w = static_cast<Walk*>(arg);
  auto* h = const_cast<ThreadHeap*>(ch);
  CacheAccount& out = *w->out;
  HeapAccount ha;
  ha.tid = h->tid.load(std::memory_order_relaxed);
  if (ha.tid == ThreadHeap::kParkedTid) heap_publish_bin_levels(h);  // no owner to do it
  for (unsigned c = 0; c < kNumClasses; ++c) {
    std::uint64_t b = std::uint64_t{h->counters.bin_objects[c].load(std::memory_order_relaxed)} * kClassSize[c];
    out.bins[c] += b;
    ha.bins += b;
  }
  ha.medium_cached = h->medium_bytes.load(std::memory_order_relaxed);
  out.medium_cached += ha.medium_cached;
  SlabBytes mine[kNumClasses];
  SuperSlabBytes units;
  {
    UncountedLockGuard guard(h->lock);  // the profiler's look: not in the lock table
    ha.superslabs = h->owned_count;
    for (const SuperSlab* ss = h->owned; ss; ss = ss->next) {
      superslab_account(ss, mine, kNumClasses, &units);
    }
  }
  for (unsigned c = 0; c < kNumClasses; ++c) {
    SlabBytes& t = out.classes[c];
    t.in_use += mine[c].in_use;
    t.free += mine[c].free;
    t.purged += mine[c].purged;
    t.tail += mine[c].tail;
    ha.in_use += mine[c].in_use;
    ha.free += mine[c].free;
    ha.tail += mine[c].tail;
  }
  ha.free_units = units.free_units;
  out.units.free_units += units.free_units;
  out.units.slabs += units.slabs;
  out.superslabs += ha.superslabs;
  ++out.heaps;
  if (w->per_heap) w->per_heap(ha, w->ctx);
}

void walk_orphan(const SuperSlab* ss, void* arg) {
  auto* out = static_cast<CacheAccount*>(arg);
  superslab_account(ss, out->classes, kNumClasses, &out->units);
  ++out->superslabs;
  ++out->orphans;
}

}  // namespace

void cache_account(CacheAccount* out, PoolAccount* pool, HeapAccountFn per_heap, void* ctx) {
  Walk w{out, per_heap, ctx};
  heap_visit_live(walk_heap, &w);
  pool_account(pool, walk_orphan, out);
}

}  // namespace hakmem
