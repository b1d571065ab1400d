// The sampled heap profile (HAKMEM_HEAP_PROFILE=1): which call sites hold the memory,
// published in "<record>.heap" (include/hakmem/heap_profile_record.h) for hakmem-stat heap.
//
// Off, it adds nothing to the fast paths: the sampling countdown rides on the bin bounds
// (heap_sample.cpp) and is consulted only on the refill path, the paths beyond the slab
// classes and the flush of objects back to slabs.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace hakmem {

// True once the profile runs (set once, after libunwind is loaded; cleared in a forked
// child). Read by refill_pop, alloc_beyond_slabs and free_beyond.
extern std::atomic<bool> g_heap_sampling;
inline bool heap_sampling() { return g_heap_sampling.load(std::memory_order_relaxed); }

// From init when HAKMEM_HEAP_PROFILE=1 (or HAKMEM_HEAP_SAMPLE is set): creates the record.
// Sampling starts when the C library is up (this file's constructor, or at once).
void heap_profile_start();

// refill_pop when sampling: serves the miss of class cls (as cache_refill_pop plus the
// fast path's pop bookkeeping), sampling the allocation when the countdown says so.
void* heap_sample_refill(unsigned cls);
// An allocation beyond the slab classes of `bytes` bytes at p (bytes as served).
void heap_sample_beyond(void* p, std::size_t bytes);
// The calling thread (one of hakmem's own: the publisher, the background purger) is never
// sampled; its allocations count as nested (heap_record_nested_alloc).
void heap_sample_exclude_thread();
// A block beyond the slab classes is freed (or moved away from p by realloc).
void heap_sample_forget(void* p);

// ---- heap_record.cpp: the tables ---------------------------------------------------------
// Records a sampled allocation: its stack is walked here (the caller holds no lock).
// Returns how the number of live entries of address p changed (-1, 0 or +1: a stale entry
// of p may go, the new one may not fit), which a slab's Slab::sampled count follows.
int heap_record_sample(void* p, std::size_t bytes, std::uint64_t weight_bytes,
                       std::uint64_t weight_objects);
// Forgets the sampled object at p (freed), if it is one: returns true then.
bool heap_record_forget(void* p);
bool heap_record_has_live();
// Allocations the unwinder made itself (served unsampled by the guard).
void heap_record_nested_alloc();
bool heap_record_create(std::uint64_t sample_bytes);
// At exit: the leak report (HAKMEM_HEAP_PROFILE_LEAKS) and the final state.
void heap_record_exit();
// fork child: stop writing the parent's record.
void heap_record_fork_child();

}  // namespace hakmem
