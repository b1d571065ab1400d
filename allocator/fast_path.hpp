// The malloc and free fast paths, written once and inlined into every entry point, which
// picks what it is counted as (Entry, unified_cache/thread_cache.hpp) and so which miss
// continuation it takes. malloc: size -> bin, pop. free: ownership (registry byte), exact
// object start (one multiply against the unit's geometry), double-free tag, push. Every
// other case — an empty or full bin, beyond the slab classes, a rejected pointer, the first
// call of a thread — is one noinline continuation per entry point (miss.cpp), tail-called,
// so the common path needs no stack frame.
#pragma once

#include <cstddef>
#include <cstdint>

#include "allocator/size_class_lookup.hpp"
#include "superslab/registry.hpp"
#include "superslab/superslab.hpp"
#include "unified_cache/heap.hpp"
#include "unified_cache/thread_cache.hpp"

namespace hakmem {

// The continuations (allocator/miss.cpp), instantiated for every entry point that inlines
// a fast path. They complete the call and count it (calls[E], and not_from_bins[E] when no
// bin served it); for operator new a failed allocation goes on to the new-handler.
template <Entry E> HAK_NOINLINE void* malloc_miss(std::size_t n);     // any size, from scratch
template <Entry E> HAK_NOINLINE void* bin_miss(std::size_t bin);       // empty bin of a class
template <Entry E> HAK_NOINLINE void free_miss(void* p);              // any pointer, from scratch

template <Entry E>
HAK_ALWAYS_INLINE void count_hit(ThreadCache* tc) {
  if constexpr (E != Entry::kNone) ++tc->counters.calls[entry_index(E)];
}

// Pops an object of the class whose bin sits at byte offset `bin` of the thread cache tc.
template <Entry E>
HAK_ALWAYS_INLINE void* alloc_from_bin(ThreadCache* tc, std::size_t bin) {
  Bin& b = bin_at(tc, bin);
  void** top = b.top;
  if (top == b.base) [[unlikely]] return bin_miss<E>(bin);
  void* p = top[-1];
  if (p == nullptr) __builtin_unreachable();  // bins hold objects only (lets new test less)
  // Clear the free tag: a free of an object the program never wrote must not look like a
  // double free.
  *static_cast<std::uintptr_t*>(p) = 0;
  b.top = top - 1;
  count_hit<E>(tc);  // after the check: the sentinel cache is never written
  return p;
}

template <Entry E>
HAK_ALWAYS_INLINE void* alloc_from_bin(std::size_t bin) {
  return alloc_from_bin<E>(t_cache, bin);
}

template <Entry E>
HAK_ALWAYS_INLINE void* malloc_fast(std::size_t n) {
  ThreadCache* tc = t_cache;
  if (n <= kTinyMax) [[likely]] return alloc_from_bin<E>(tc, tc->tiny_bin_offsets[n]);
  if (n <= kSmallMax) return alloc_from_bin<E>(tc, bin_offset(class_of_medium(n)));
  return malloc_miss<E>(n);
}

// Is p a small object's start? Reads only the registry before the SuperSlab header, so a
// foreign pointer is never dereferenced. The caller has checked chunk_kind(p).
HAK_ALWAYS_INLINE bool small_object_valid(const void* p) {
  return object_start_valid(unit_geometry_of(p), p);
}

template <Entry E>
HAK_ALWAYS_INLINE void free_fast(void* p) {
  std::uintptr_t chunk = chunk_index(p);
  // Opaque to the optimiser from here: it would otherwise test p >> 47 and shift p again,
  // and rebuild the SuperSlab address from p with a copy and a mask.
  hide_value(chunk);
  if (!small_chunk_at(chunk)) [[unlikely]] return free_miss<E>(p);
  const UnitGeometry& g = unit_geometry_in(superslab_at_chunk(chunk), p);
  if (!object_start_valid(g, p)) [[unlikely]] return free_miss<E>(p);
  ThreadCache* tc = t_cache;
  auto* word = static_cast<std::uintptr_t*>(p);
  std::uintptr_t tag = free_tag();
  // A free object — in a bin or on a slab's list — carries its tag in its first word, which
  // malloc clears: a match is a second free.
  if (*word == tag) [[unlikely]] return free_miss<E>(p);
  Bin& b = bin_at(tc, g.owner_tag);
  void** top = b.top;
  if (top == b.limit) [[unlikely]] return free_miss<E>(p);  // full, or the sentinel cache
  *word = tag;
  *top = p;
  b.top = top + 1;
  count_hit<E>(tc);
}

}  // namespace hakmem
