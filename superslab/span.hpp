// Medium objects and blocks: page-granular spans carved from span SuperSlabs under one lock.
// The SuperSlab header (its first kSuperSlabHeaderSize bytes, pages 0 and 1) of each span
// SuperSlab holds an occupancy bitmap of the 512 pages and, per page, the length of the span
// starting there (0 = no span starts here), so free() validates a pointer with two loads
// before touching anything. Spans start at page 2 (span_bitmap.hpp: kFirstPage).
#pragma once

#include <cstddef>
#include <cstdint>

namespace hakmem {

inline constexpr std::size_t kSpanMaxBytes = std::size_t{1} << 20;  // larger: huge mappings

// A span of at least `size` bytes aligned to `align` (a power of two, >= 4096), or nullptr
// (errno = ENOMEM). *fresh tells whether the memory is known to be zero.
void* span_alloc(std::size_t size, std::size_t align, bool* fresh);
// Up to n spans of `size` bytes (page-aligned) under one lock acquisition, for a thread
// cache's refill: out[i] and fresh[i] for i < the count returned (0: out of memory).
inline constexpr std::uint32_t kSpanBatchMax = 16;
std::uint32_t span_alloc_batch(std::size_t size, std::uint32_t n, void** out, bool* fresh);
// Returns 0 on success, -1 if p is not the start of a live span (nothing is changed).
int span_free(void* p);
// span_free of n spans under one lock acquisition; returns how many were live spans.
std::uint32_t span_free_batch(void* const* ps, std::uint32_t n);
// span_size without the lock, for a caller that holds p (a span it was handed and has not
// freed): its length cannot change under it. 0 if p is not a live span start.
std::size_t span_size_owned(const void* p);
// Gives back free pages of span SuperSlabs that stayed free since the previous pass (all
// free pages when `force`). Returns bytes; span_purged_bytes() is the running total.
std::size_t span_purge(bool force);
std::uint64_t span_purged_bytes();
// Bytes of the span starting at p, 0 if p is not a live span start.
std::size_t span_size(const void* p);
// Shrinks or grows the span at p in place when the neighbouring pages allow; true on success.
bool span_resize_in_place(void* p, std::size_t new_size);
// Gives empty span SuperSlabs back to the pool. Returns how many.
std::size_t span_release_empty();

// The span SuperSlabs' share of the profile record's memory breakdown, under the span lock.
struct SpanAccount {
  std::uint64_t live = 0;           // pages of spans handed out (thread caches included)
  std::uint64_t free_resident = 0;  // free pages that hold memory (dirty or pre-faulted)
  std::uint64_t free_purged = 0;    // free pages that hold none (given back, never touched)
  std::uint64_t superslabs = 0;
};
void span_account(SpanAccount* out);

struct LockStats;
// The span lock's acquisitions, contended acquisitions and wait time (profiling).
const LockStats& span_lock_stats();

void span_fork_prepare();
void span_fork_parent();
void span_fork_child();

}  // namespace hakmem
