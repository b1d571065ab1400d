// The per-thread front: one bin (a stack of object pointers) per size class. malloc pops,
// free pushes; nothing else happens on the fast path — no atomics, no locks, no syscalls.
// A thread starts on an empty sentinel cache whose bins are all empty and full at once, so
// its first malloc and first free miss into the slow path, which creates the real cache:
// the fast path needs no "initialised?" branch.
#pragma once

#include <array>
#include <cstdint>

#include "unified_cache/size_classes.hpp"

#define HAK_ALWAYS_INLINE inline __attribute__((always_inline))
#define HAK_NOINLINE __attribute__((noinline))
#define HAK_HIDDEN __attribute__((visibility("hidden")))

namespace hakmem {
// Makes v opaque to the optimiser (an empty asm that "may change" it; no instruction): the
// fast paths use it where the compiler would re-derive a value it has in a register already
// in a longer way.
template <class T>
HAK_ALWAYS_INLINE void hide_value(T& v) {
  asm("" : "+r"(v));
}
}  // namespace hakmem

namespace hakmem {

struct Bin {
  void** top;    // next free slot; objects live in [base, top)
  void** base;
  void** limit;  // end of the slot array
};

// Who an allocation or free is counted as. Every entry point counts each of its calls once,
// in calls[entry]: on the fast path after its bin pop or push (never before the check, so
// the sentinel cache is never written), or on the slow path that completed it. A call that
// no bin served (beyond the slab classes, failed, rejected) also counts in
// not_from_bins[entry]. Pops and pushes made inside another call (realloc's moves, operator
// new's retries after its new-handler) count as kInnerAlloc / kInnerFree, so every bin
// operation is in exactly one slot; kNone is for paths that never touch a bin (blocks).
enum class Entry : unsigned {
  kMalloc, kFree, kCalloc, kRealloc, kAligned, kNew, kDelete, kInnerAlloc, kInnerFree, kNone
};
inline constexpr unsigned kCountedEntries = static_cast<unsigned>(Entry::kNone);
constexpr unsigned entry_index(Entry e) { return static_cast<unsigned>(e); }
constexpr bool entry_allocates(Entry e) {
  return e == Entry::kMalloc || e == Entry::kCalloc || e == Entry::kAligned ||
         e == Entry::kNew || e == Entry::kInnerAlloc;
}
constexpr bool entry_frees(Entry e) {
  return e == Entry::kFree || e == Entry::kDelete || e == Entry::kInnerFree;
}

// Counters the fast path bumps with plain increments; the owner publishes them on slow paths.
struct FastCounters {
  std::uint64_t calls[kCountedEntries];
  std::uint64_t not_from_bins[kCountedEntries];
  // Bytes of every allocation beyond the slab classes, and of calloc's, realloc's and the
  // aligned calls' bin pops; malloc's and new's inline paths count none.
  std::uint64_t bytes_requested;
  std::uint64_t bytes_served;
  // Written by heap_publish only: bin pops and pushes, whoever made them, derived by the
  // owner from one consistent view of the fields above (see heap_publish).
  std::uint64_t cache_allocs;
  std::uint64_t cache_frees;
};

// Byte offset of class cls's bin in a ThreadCache: what UnitGeometry::owner_tag holds and
// the tiny-size table maps to, so the fast paths reach a bin's fields as tc + offset + field
// (one base-plus-index operand), with no multiply.
constexpr std::uint32_t bin_offset(unsigned cls) { return cls * sizeof(Bin); }
constexpr unsigned class_of_bin_offset(std::size_t offset) {
  return static_cast<unsigned>(offset / sizeof(Bin));
}

// Requests up to kTinyMax bytes: n -> the bin offset of the smallest class that holds n
// bytes, indexed by n itself so the fast path does no rounding (2 KiB a cache).
inline constexpr unsigned kTinyBinEntries = kTinyMax + 1;
inline constexpr std::array<std::uint16_t, kTinyBinEntries> kTinyBinOffsets = [] {
  std::array<std::uint16_t, kTinyBinEntries> t{};
  unsigned cls = 0;
  for (unsigned n = 0; n < t.size(); ++n) {
    while (kClassSize[cls] < n) ++cls;
    t[n] = static_cast<std::uint16_t>(bin_offset(cls));
  }
  return t;
}();

struct ThreadCache {
  Bin bins[kNumClasses];
  FastCounters counters;
  // A copy of kTinyBinOffsets in every cache (the sentinel's too): malloc's lookup then
  // addresses it from the cache pointer it has loaded anyway, saving the table's address.
  std::array<std::uint16_t, kTinyBinEntries> tiny_bin_offsets = kTinyBinOffsets;
};
inline Bin& bin_at(ThreadCache* tc, std::size_t offset) {
  return *reinterpret_cast<Bin*>(reinterpret_cast<char*>(tc->bins) + offset);
}

extern ThreadCache g_sentinel_cache HAK_HIDDEN;
// __thread (not thread_local): a C-style TLS variable has no dynamic initialisation, so
// access needs no TLS-wrapper call; initial-exec suits LD_PRELOAD and static linking.
extern __thread ThreadCache* t_cache HAK_HIDDEN __attribute__((tls_model("initial-exec")));

// The tag a freed object carries in its first word (in a bin, on a slab's list, a free
// medium block), so a second free is caught without a search on the fast path: a
// per-process secret, random and never zero, which malloc clears. The same for every object,
// so free compares one word with one load and no arithmetic; a program cannot hold it
// without reading freed memory. (It was the address mixed with the secret, one instruction
// more on every free and no safer: a value read from one freed object told the secret.)
extern std::uintptr_t g_free_tag_key HAK_HIDDEN;
HAK_ALWAYS_INLINE std::uintptr_t free_tag() { return g_free_tag_key; }

}  // namespace hakmem
