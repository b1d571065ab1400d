// The thread heaps' share of the profile record's memory breakdown: every live heap's
// SuperSlabs walked under its lock, its bins as its owner last published them, its medium
// cache, and the orphaned SuperSlabs (allocator/profile_memory.cpp assembles the record).
// Slow: one pass over every carved slab's header. Never called on an allocation path.
#pragma once

#include <cstdint>

#include "superslab/account.hpp"
#include "unified_cache/size_classes.hpp"

namespace hakmem {

struct HeapAccount {
  std::int32_t tid = 0;  // ThreadHeap::tid (kParkedTid while parked)
  std::uint32_t superslabs = 0;
  std::uint64_t in_use = 0, bins = 0, free = 0, tail = 0, free_units = 0, medium_cached = 0;
};

struct CacheAccount {
  SlabBytes classes[kNumClasses];    // heaps' and orphans' slabs together
  std::uint64_t bins[kNumClasses] = {};  // bytes in every heap's bins
  SuperSlabBytes units;              // free units, and slabs walked
  std::uint64_t superslabs = 0;      // walked (heaps' and orphans')
  std::uint64_t medium_cached = 0;
  std::uint64_t heaps = 0;
  std::uint64_t orphans = 0;
};

// Fills *out and *pool (which start zeroed; the pool's orphans are walked into *out) and
// calls per_heap once per live heap, under the heap registry lock (so it may not take any
// of the allocator's locks). Needs accounting on (heap_set_accounting) for the bins to be
// counted. A SuperSlab that moves between a heap and the orphan list during the walk may
// be seen twice or not at all. Never allocates.
struct PoolAccount;
using HeapAccountFn = void (*)(const HeapAccount& h, void* ctx);
void cache_account(CacheAccount* out, PoolAccount* pool, HeapAccountFn per_heap, void* ctx);

}  // namespace hakmem
