// The thread cache of medium blocks: spans of the medium classes (size_classes.hpp,
// (kSmallMax, kMediumMax]) that the thread freed, handed out again by its next mallocs of
// the class without a lock. An empty class refills a batch of spans under one span-lock
// acquisition, a full one returns half a bin under one. A cached block is marked freed with
// the free tag in its first word, so a second free and malloc_usable_size of it are caught.
#pragma once

#include <cstddef>

#include "unified_cache/heap.hpp"

namespace hakmem {

// A block of medium_class_size(medium_class_of(n)) bytes, page-aligned; nullptr with
// errno = ENOMEM. *fresh: known to be zero. kSmallMax < n <= kMediumMax.
void* medium_alloc(std::size_t n, bool* fresh);
// Frees a span: 1 if taken (cached, or returned to the span allocator), 0 if p is not a
// live span of a medium class (the caller frees it as a span, which also reports an invalid
// pointer), -1 if p is already in a thread cache (a double free, for the caller to report).
int medium_free(void* p);
// Bytes of the live span at p; 0 if p is not one, or is a freed block in a thread cache.
std::size_t medium_usable_size(const void* p);
// Returns every cached medium block of h to the span allocator (thread exit, flush, trim).
// Owner only; takes the span lock, so call it without h->lock held.
void medium_flush_all(ThreadHeap* h);
// Every slow path of the owner thread (medium, slab refill, slab flush) calls this, without
// h->lock held: a thread back after a purge delay with few calls in between returns its bins
// and medium cache (owner-only, so no purger can) and purges its heap.
void heap_note_slow_path(ThreadHeap* h);
// Runs span_purge(false) when a purge interval has passed since the last pass: the
// medium slow paths give free span pages back even when no purger thread runs.
void medium_maybe_purge();
void medium_set_purge_interval(std::uint64_t ns);

}  // namespace hakmem
