// Calls per entry point (malloc, free, calloc, realloc, aligned, new, delete) and bytes
// requested / served, counted without adding anything to the malloc/free fast path.
//
// The fast path counts bin pops in FastCounters::malloc_calls and pushes in free_calls,
// whoever called it. Every other entry point counts the pops and pushes it made again
// (wrapped_pops / wrapped_pushes, or new_fast / delete_fast for the inline new and delete
// below) right after making them: before any slow path that publishes the counters can run
// (a refill publishes before its pop, a flush before its push). The owner derives plain
// malloc's and free's share (plain_pops / plain_pushes) when it publishes (heap_publish), so
// every published field only grows, and the record's per-entry-point counts are sums of
// published fields, never differences: they stay monotonic however a reader's loads
// interleave with a publish.
//
// Beyond the slab classes, only plain malloc and free take fast_malloc's and fast_free's
// slow paths (malloc_slow, free_slow), which count them there; the other entry points call
// alloc_beyond_slabs and free_beyond themselves. A rejected free (invalid or double) is
// still a call of its entry point: rejected_frees counts it as plain free's, or takes back
// the push another entry point counted for it.
//
// Cost: operator new gets one increment, operator delete a check and an increment
// (tools/PERF.md); malloc and free are unchanged. Bytes are not counted on the two inline
// fast paths (malloc and new of <= 32 KiB with alignment <= 16).
//
// A thread without a heap (its calls never reached a refill) has no counters of its own:
// its counts go to process-wide atomics (count_heapless).
#pragma once

#include <cstddef>
#include <cstdint>

#include "allocator/api_internal.hpp"

namespace hakmem {

using FastField = std::uint64_t FastCounters::*;

// Adds to a process-wide fallback counter (threads without a heap).
HAK_NOINLINE void count_heapless(FastField f, std::uint64_t by);
// Adds the fallback counters into out (stats).
void heapless_add_to(FastCounters* out);

// Adds `by` to the calling thread's counter f (or to the fallback when it has no heap).
HAK_ALWAYS_INLINE void count_event(FastField f, std::uint64_t by = 1) {
  ThreadCache* tc = t_cache;
  if (tc != &g_sentinel_cache) [[likely]] {
    tc->counters.*f += by;
  } else {
    count_heapless(f, by);
  }
}

// Size class bytes of a small object (the caller knows it is one).
HAK_ALWAYS_INLINE std::uint64_t small_usable(const void* p) {
  return kClassSize[superslab_of(p)->unit_info[unit_of(p)] & 0xff];
}

// The bin pop that just gave p (n bytes asked for) to an entry point other than malloc:
// counted as that entry point's, with its bytes. A pop means the thread has a heap.
HAK_ALWAYS_INLINE void note_wrapped_pop(const void* p, std::size_t n) {
  FastCounters& f = t_cache->counters;
  ++f.wrapped_pops;
  f.bytes_requested += n;
  f.bytes_served += small_usable(p);
}

// ---- operator new / delete: the common case inline ------------------------------------

// Beyond the slab classes, aligned, or no heap yet: counted off the inline path.
HAK_NOINLINE void* counted_new_slow(std::size_t n, std::size_t align);
HAK_NOINLINE void counted_delete_slow(void* p);

// operator new, alignment <= 16. A small request is the malloc fast path; a non-null result
// then came from exactly one bin pop, so the thread has a heap and no slow path ran after
// the pop.
HAK_ALWAYS_INLINE void* counted_new(std::size_t n) {
  if (n > kSmallMax) [[unlikely]]
    return counted_new_slow(n, 16);
  void* p = fast_malloc(n);
  if (p) [[likely]]
    ++t_cache->counters.new_fast;
  return p;
}

// operator delete. A small object freed by a thread that has a heap is the free fast
// path, which pushes it onto a bin or rejects the free (rejected_frees), and keeps the
// same heap throughout. Anything else (null, spans, huge blocks, foreign pointers, no heap
// yet) goes to counted_delete_slow.
HAK_ALWAYS_INLINE void counted_delete(void* p) {
  ThreadCache* tc = t_cache;
  if (chunk_kind(p) != kChunkSmall || tc == &g_sentinel_cache) [[unlikely]] {
    return counted_delete_slow(p);
  }
  fast_free(p);  // a flush publishes before its push: count after, never before
  ++tc->counters.delete_fast;
}

}  // namespace hakmem
