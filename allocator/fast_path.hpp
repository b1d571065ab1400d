// The malloc and free fast paths, inlined into every entry point. malloc: size -> class,
// pop from this thread's bin. free: ownership (registry byte), class (SuperSlab header),
// exact-object check, double-free tag, push to this thread's bin. Everything else is a
// noinline slow path.
#pragma once

#include <cstddef>
#include <cstdint>

#include "allocator/size_class_lookup.hpp"
#include "superslab/registry.hpp"
#include "superslab/superslab.hpp"
#include "unified_cache/heap.hpp"
#include "unified_cache/thread_cache.hpp"

namespace hakmem {

// Everything the fast paths do not handle, by the allocator layer (api.cpp).
HAK_NOINLINE void* malloc_slow(std::size_t n);             // beyond the slab classes
HAK_NOINLINE void* malloc_refill(unsigned cls);            // empty bin (and first call)
HAK_NOINLINE void free_slow(void* p);                      // not a small object / invalid

HAK_ALWAYS_INLINE void* small_alloc(unsigned cls) {
  ThreadCache* tc = t_cache;
  Bin& b = tc->bins[cls];
  void** top = b.top;
  if (top == b.base) [[unlikely]] return malloc_refill(cls);
  void* p = *--top;
  b.top = top;
  // Clear the free tag, or freeing an object the program never wrote would look like a
  // double free and take the slow confirmation path.
  *static_cast<std::uintptr_t*>(p) = 0;
  ++tc->counters.malloc_calls;  // after the check: the sentinel is never written
  return p;
}

HAK_ALWAYS_INLINE void* fast_malloc(std::size_t n) {
  unsigned cls;
  if (n <= kTinyMax) [[likely]] {
    cls = kTinyClass[(n + 15) >> 4];
  } else if (n <= kSmallMax) {
    cls = class_of_medium(n);
  } else {
    return malloc_slow(n);
  }
  return small_alloc(cls);
}

// Exact check that p is the start of an object of its slab, from the per-unit geometry
// kept in the SuperSlab header (no division: a multiply by a precomputed inverse).
HAK_ALWAYS_INLINE bool small_object_valid(const SuperSlab* ss, const void* p, unsigned unit) {
  const UnitGeometry& g = ss->geometry[unit];
  std::uint32_t rel = static_cast<std::uint32_t>(reinterpret_cast<std::uintptr_t>(p) -
                                                 reinterpret_cast<std::uintptr_t>(ss)) - g.start;
  if (rel >= g.bytes) return false;  // header, tail, or a free unit (bytes == 0)
  return std::uint64_t{rel} * g.div_magic <= g.div_magic - 1;
}

HAK_ALWAYS_INLINE void fast_free(void* p) {
  if (chunk_kind(p) != kChunkSmall) [[unlikely]] return free_slow(p);
  SuperSlab* ss = superslab_of(p);
  unsigned unit = unit_of(p);
  if (!small_object_valid(ss, p, unit)) [[unlikely]] return free_slow(p);
  unsigned cls = ss->unit_info[unit] & 0xff;
  ThreadCache* tc = t_cache;
  auto* word = static_cast<std::uintptr_t*>(p);
  std::uintptr_t tag = free_tag(p);
  // word[0] == tag: the object sits in some thread's bin; word[1] == tag: on a slab's free
  // list. malloc clears word[0] and refill clears word[1], so either means a second free.
  if ((word[0] == tag) | (word[1] == tag)) [[unlikely]] return cache_free_suspect(p);
  Bin& b = tc->bins[cls];
  void** top = b.top;
  if (top == b.limit) [[unlikely]] return cache_flush_push(cls, p);
  *word = tag;
  *top = p;
  b.top = top + 1;
  ++tc->counters.free_calls;
}

}  // namespace hakmem
