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
};

struct ThreadCache {
  Bin bins[kNumClasses];
  FastCounters counters;
};

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
