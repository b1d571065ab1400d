// The per-thread front: one bin (a stack of object pointers) per size class. malloc pops,
// free pushes; nothing else happens on the fast path — no atomics, no locks, no syscalls.
// A thread starts on an empty sentinel cache whose bins are all empty and full at once, so
// its first malloc and first free miss into the slow path, which creates the real cache:
// the fast path needs no "initialised?" branch.
#pragma once

#include <cstdint>

#include "unified_cache/size_classes.hpp"

#define HAK_ALWAYS_INLINE inline __attribute__((always_inline))
#define HAK_NOINLINE __attribute__((noinline))
#define HAK_HIDDEN __attribute__((visibility("hidden")))

namespace hakmem {

struct Bin {
  void** top;    // next free slot; objects live in [base, top)
  void** base;
  void** limit;  // end of the slot array
};

// Counters the fast path bumps with plain increments; the owner publishes them on slow paths.
struct FastCounters {
  std::uint64_t malloc_calls;
  std::uint64_t free_calls;
  std::uint64_t calloc_calls;
  std::uint64_t realloc_calls;
  std::uint64_t aligned_calls;
  std::uint64_t bytes_requested;
  // Per-entry-point counts (allocator/entry_count.hpp), bumped outside the fast path. The
  // fast path counts every bin pop in malloc_calls and every push in free_calls, whoever
  // called it; the other entry points count theirs again (wrapped_*, new_fast,
  // delete_fast) right after making them, before any slow path can publish.
  std::uint64_t new_calls;     // operator new off its inline path
  std::uint64_t delete_calls;  // operator delete off its inline path
  std::uint64_t wrapped_pops;  // pops / pushes of calloc, realloc, aligned, ...
  std::uint64_t wrapped_pushes;
  std::uint64_t slow_mallocs;  // plain malloc calls beyond the slab classes
  std::uint64_t slow_frees;    // plain free calls of spans and huge blocks
  std::uint64_t bytes_served;
  std::uint64_t new_fast;        // operator new: small objects, one pop each
  std::uint64_t delete_fast;     // operator delete: small objects, a push unless rejected
  std::uint64_t rejected_frees;  // invalid / double frees, whichever entry point
  // Written by heap_publish only: plain malloc's pops, and plain free's calls that went
  // through the bins (pushes and rejected ones), derived by the owner so that readers get
  // single published values, each of which only grows.
  std::uint64_t plain_pops;
  std::uint64_t plain_pushes;
};

struct ThreadCache {
  Bin bins[kNumClasses];
  FastCounters counters;
};

// Byte offset of class cls's bin in a ThreadCache: what UnitGeometry::owner_tag holds and the
// tiny-size table maps to, so the fast paths index bins with an add, not a multiply.
constexpr std::uint32_t bin_offset(unsigned cls) { return cls * sizeof(Bin); }
inline Bin& bin_at(ThreadCache* tc, std::uint32_t offset) {
  return *reinterpret_cast<Bin*>(reinterpret_cast<char*>(tc->bins) + offset);
}
constexpr unsigned class_of_bin_offset(std::uint32_t offset) { return offset / sizeof(Bin); }

extern ThreadCache g_sentinel_cache HAK_HIDDEN;
// __thread (not thread_local): a C-style TLS variable has no dynamic initialisation, so
// access needs no TLS-wrapper call; initial-exec suits LD_PRELOAD and static linking.
extern __thread ThreadCache* t_cache HAK_HIDDEN __attribute__((tls_model("initial-exec")));

// A per-process secret mixed into the tag a freed object carries in its first word, so a
// second free of an object still in a bin is caught without a search on the fast path.
extern std::uintptr_t g_free_tag_key HAK_HIDDEN;
HAK_ALWAYS_INLINE std::uintptr_t free_tag(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p) ^ g_free_tag_key;
}

}  // namespace hakmem
