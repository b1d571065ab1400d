// Counting calls per entry point (the Entry rule is in unified_cache/thread_cache.hpp): the
// fast paths count a hit with one increment (count_hit, fast_path.hpp); the slow paths that
// complete a call count it here. A thread without a heap (its calls never reached a refill,
// or its heap could not be made) has no counters of its own: its counts go to process-wide
// atomics.
#pragma once

#include <cstddef>
#include <cstdint>

#include "unified_cache/heap.hpp"
#include "unified_cache/thread_cache.hpp"

namespace hakmem {

// Adds to the process-wide fallback counter at word `index` of FastCounters.
HAK_NOINLINE void count_heapless(unsigned index, std::uint64_t by);
// Adds the fallback counters into out (stats).
void heapless_add_to(FastCounters* out);

inline constexpr unsigned kCallsWord = offsetof(FastCounters, calls) / sizeof(std::uint64_t);
inline constexpr unsigned kNotFromBinsWord =
    offsetof(FastCounters, not_from_bins) / sizeof(std::uint64_t);
inline constexpr unsigned kBytesRequestedWord =
    offsetof(FastCounters, bytes_requested) / sizeof(std::uint64_t);
inline constexpr unsigned kBytesServedWord =
    offsetof(FastCounters, bytes_served) / sizeof(std::uint64_t);

// Adds `by` to word `index` of the calling thread's counters (or to the fallback).
HAK_ALWAYS_INLINE void count_word(unsigned index, std::uint64_t by = 1) {
  ThreadCache* tc = t_cache;
  if (tc != &g_sentinel_cache) [[likely]] {
    reinterpret_cast<std::uint64_t*>(&tc->counters)[index] += by;
  } else {
    count_heapless(index, by);
  }
}

// One call of entry point e completed on a slow path; `from_bin`: a bin pop or push served it.
HAK_ALWAYS_INLINE void count_call(Entry e, bool from_bin) {
  if (e == Entry::kNone) return;
  count_word(kCallsWord + entry_index(e));
  if (!from_bin) count_word(kNotFromBinsWord + entry_index(e));
}

HAK_ALWAYS_INLINE void count_bytes(std::uint64_t requested, std::uint64_t served) {
  count_word(kBytesRequestedWord, requested);
  count_word(kBytesServedWord, served);
}

// Size class bytes of a small object (the caller knows it is one).
HAK_ALWAYS_INLINE std::uint64_t small_usable(const void* p) {
  return kClassSize[unit_class(superslab_of(p), unit_of(p))];
}

}  // namespace hakmem
