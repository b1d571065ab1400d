// Secure mode (HAKMEM_SECURE=1) in the cache layer. The fast path is not changed: each heap's
// cache.bins are made empty and full at once (heap_bin), so every small malloc misses into
// cache_secure_pop and every small free into cache_flush_push, where secure mode adds:
//  - zero on free: a freed object keeps only its free tag (word 0); the rest is zeroed, and
//    each free-list link written into word 1 is removed again when the object leaves the list;
//  - a check at allocation: an object handed out must still be tag + zeros in its first
//    kSecureCheckHead and last kSecureCheckTail bytes (all of it up to their sum), else
//    something wrote to it after it was freed: reported ("write after free") and the object
//    is never handed out again (its slab keeps it counted as in use). Bounded because
//    reading every byte of every object costs its whole size in cache traffic at each
//    malloc (measured in PERF_NOTES.md); the head and tail hold the fields a dangling
//    pointer most often writes (headers, counts, links, vtable pointers);
//  - random order: each refill batch is shuffled (carve order and list order alike) and each
//    pop takes a random object of the bin, so the next address is not predictable from the
//    last free;
//  - checked links (superslab/hardening.hpp): a list link that does not decode to an object
//    of its own slab is reported ("corrupted free list") and the list is cut there.
#pragma once

#include <cstddef>
#include <cstdint>

#include "unified_cache/heap.hpp"

namespace hakmem {

// The checked malloc of class cls (secure mode's bin_miss): a random object of the hidden
// bin, refilled when empty, that has passed the write-after-free check; nullptr with ENOMEM.
HAK_NOINLINE void* cache_secure_pop(unsigned cls);

inline constexpr std::size_t kSecureCheckHead = 256;
inline constexpr std::size_t kSecureCheckTail = 64;

// 16-byte lanes for the scrub and the check: classes are multiples of 16 bytes and aligned
// to 16, and SSE2 is in every x86-64.
using SecureLane = std::uint64_t __attribute__((vector_size(16)));

// Zeroes all of a freed object but its first word (the caller writes the tag there). Small
// objects inline (a memset call costs more than their few stores), the rest with memset.
inline void secure_scrub(void* p, std::size_t size) {
  auto* w = static_cast<std::uint64_t*>(p);
  w[1] = 0;
  if (size > 512) {
    __builtin_memset(w + 2, 0, size - 16);
    return;
  }
  auto* lane = static_cast<SecureLane*>(p);
  for (std::size_t i = 1; i < size / 16; ++i) lane[i] = SecureLane{0, 0};
}
// Is p (of `size` bytes) as a free left it: the tag in word 0 and zeros after it, in the
// bytes the check covers (above)?
inline bool secure_object_clean(const void* p, std::size_t size) {
  const auto* w = static_cast<const std::uint64_t*>(p);
  const auto* lane = static_cast<const SecureLane*>(p);
  SecureLane any{w[1], 0};
  std::size_t lanes = size / 16;
  if (size <= kSecureCheckHead + kSecureCheckTail) {
    for (std::size_t i = 1; i < lanes; ++i) any |= lane[i];
  } else {
    for (std::size_t i = 1; i < kSecureCheckHead / 16; ++i) any |= lane[i];
    for (std::size_t i = lanes - kSecureCheckTail / 16; i < lanes; ++i) any |= lane[i];
  }
  return w[0] == free_tag() && (any[0] | any[1]) == 0;
}

// Seeds h's random state (reset_heap, secure mode only).
void secure_seed(ThreadHeap* h);
// Shuffles objs[0..n) (Fisher-Yates on h's random state).
void secure_shuffle(ThreadHeap* h, void** objs, std::uint32_t n);

// Is n an object of slab s that has been carved (in [start, bump))? Pure compares before the
// geometry is read, so a wild pointer is never dereferenced.
inline bool slab_holds_object(const Slab* s, const FreeObject* n) {
  auto* c = reinterpret_cast<const char*>(n);
  return c >= s->start && c < s->bump && object_start_valid(unit_geometry_of(n), n);
}
// A link of s's list after o that failed the check: reported, and the list ends at o; o's
// tag is cleared, so the check at allocation refuses it too.
HAK_NOINLINE FreeObject* secure_bad_link(const Slab* s, FreeObject* o);

// The next object after o on a list of slab s, checked in secure mode.
inline FreeObject* slab_list_next(const Slab* s, FreeObject* o) {
  FreeObject* n = link_next(o);
  if (secure_mode() && n && !slab_holds_object(s, n)) [[unlikely]] return secure_bad_link(s, o);
  return n;
}

}  // namespace hakmem
