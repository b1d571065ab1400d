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

HAK_ALWAYS_INLINE void* small_alloc_at(std::uint32_t bin) {
  ThreadCache* tc = t_cache;
  Bin& b = bin_at(tc, bin);
  void** top = b.top;
  if (top == b.base) [[unlikely]] return malloc_refill(class_of_bin_offset(bin));
  void* p = *--top;
  b.top = top;
  // Clear the free tag, or freeing an object the program never wrote would look like a
  // double free and take the slow confirmation path.
  *static_cast<std::uintptr_t*>(p) = 0;
  ++tc->counters.malloc_calls;  // after the check: the sentinel is never written
  return p;
}
HAK_ALWAYS_INLINE void* small_alloc(unsigned cls) { return small_alloc_at(bin_offset(cls)); }

// A pop that returns nullptr on an empty bin instead of refilling (and so never writes the
// sentinel cache): for wrappers that count their own calls and keep one noinline miss path.
HAK_ALWAYS_INLINE void* small_try_pop(ThreadCache* tc, std::uint32_t bin) {
  Bin& b = bin_at(tc, bin);
  void** top = b.top;
  if (top == b.base) [[unlikely]] return nullptr;
  void* p = *--top;
  b.top = top;
  *static_cast<std::uintptr_t*>(p) = 0;  // clear the free tag (see small_alloc_at)
  return p;
}

HAK_ALWAYS_INLINE void* fast_malloc(std::size_t n) {
  std::uint32_t bin;
  if (n <= kTinyMax) [[likely]] {
    bin = kTinyBin[(n + 15) >> 4];
  } else if (n <= kSmallMax) {
    bin = bin_offset(class_of_medium(n));
  } else {
    return malloc_slow(n);
  }
  return small_alloc_at(bin);
}

// Exact check that p is the start of an object of its slab, from the per-unit geometry
// kept in the SuperSlab header (no division: a multiply by a precomputed inverse). `off` is
// p's offset in its SuperSlab.
HAK_ALWAYS_INLINE bool small_object_valid(const UnitGeometry& g, std::uint32_t off) {
  std::uint32_t rel = off - g.start;
  if (rel >= g.bytes) return false;  // header, tail, or a free unit (bytes == 0)
  return std::uint64_t{rel} * g.div_magic <= g.div_magic - 1;
}

HAK_ALWAYS_INLINE bool small_object_valid(const SuperSlab* ss, const void* p, unsigned unit) {
  auto off = static_cast<std::uint32_t>(reinterpret_cast<std::uintptr_t>(p) & (kSuperSlabSize - 1));
  return small_object_valid(ss->geometry[unit], off);
}

HAK_ALWAYS_INLINE void fast_free(void* p) {
  if (chunk_kind(p) != kChunkSmall) [[unlikely]] return free_slow(p);
  auto addr = reinterpret_cast<std::uintptr_t>(p);
  SuperSlab* ss = superslab_of(p);
  auto off = static_cast<std::uint32_t>(addr & (kSuperSlabSize - 1));
  const UnitGeometry& g = ss->geometry[off >> kUnitShift];
  if (!small_object_valid(g, off)) [[unlikely]] return free_slow(p);
  std::uint32_t bin = g.owner_tag;
  ThreadCache* tc = t_cache;
  auto* word = static_cast<std::uintptr_t*>(p);
  std::uintptr_t tag = free_tag(p);
  // word[0] == tag: the object sits in some thread's bin; word[1] == tag: on a slab's free
  // list. malloc clears word[0] and refill clears word[1], so either means a second free.
  if ((word[0] == tag) | (word[1] == tag)) [[unlikely]] return cache_free_suspect(p);
  Bin& b = bin_at(tc, bin);
  void** top = b.top;
  if (top == b.limit) [[unlikely]] return cache_flush_push(class_of_bin_offset(bin), p);
  *word = tag;
  *top = p;
  b.top = top + 1;
  ++tc->counters.free_calls;
}

// free's fast path as a test: pushes p and returns the cache when every check passes,
// returns nullptr (having changed nothing) on any miss — a foreign or invalid pointer, a
// suspected double free, a full bin, the sentinel cache. For wrappers that count their own
// calls and send every miss to one noinline path, so their common path needs no frame.
HAK_ALWAYS_INLINE ThreadCache* small_try_push(void* p) {
  if (chunk_kind(p) != kChunkSmall) [[unlikely]] return nullptr;
  auto addr = reinterpret_cast<std::uintptr_t>(p);
  SuperSlab* ss = superslab_of(p);
  auto off = static_cast<std::uint32_t>(addr & (kSuperSlabSize - 1));
  const UnitGeometry& g = ss->geometry[off >> kUnitShift];
  if (!small_object_valid(g, off)) [[unlikely]] return nullptr;
  ThreadCache* tc = t_cache;
  auto* word = static_cast<std::uintptr_t*>(p);
  std::uintptr_t tag = free_tag(p);
  if ((word[0] == tag) | (word[1] == tag)) [[unlikely]] return nullptr;
  Bin& b = bin_at(tc, g.owner_tag);
  void** top = b.top;
  if (top == b.limit) [[unlikely]] return nullptr;
  *word = tag;
  *top = p;
  b.top = top + 1;
  ++tc->counters.free_calls;
  return tc;
}

}  // namespace hakmem
