// Huge objects (beyond the span limit, or with alignment >= 2 MiB): one 2 MiB-aligned
// mapping each, with a header in its first bytes (or, for alignment >= 2 MiB, in the page
// before the object). Freed mappings stay mapped and populated in a small cache for reuse,
// so an allocate-touch-free loop of big buffers faults only on the first round.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hakmem {

struct LargeStats {
  std::uint64_t allocs;
  std::uint64_t cache_hits;
  std::uint64_t cache_misses;
  std::uint64_t cached_bytes;
  std::uint64_t live_bytes;
};

// nullptr with errno = ENOMEM on failure. *fresh tells whether the memory is known zero.
void* large_alloc(std::size_t size, std::size_t align, bool* fresh);
// 0 on success, -1 if p is not a live huge object (nothing changed).
int large_free(void* p);
std::size_t large_usable_size(const void* p);
// Grows or shrinks in place (or by moving the mapping without copying); nullptr if it could
// not, in which case p is unchanged.
void* large_realloc(void* p, std::size_t new_size);
// Unmaps cached blocks idle past the delay (all when force). Returns bytes released.
std::size_t large_purge(bool force);
// Ages out cached blocks past the delay; cheap (one relaxed load) when none is due. Called
// from slow paths so freed huge blocks go back within the delay without HAKMEM_BACKGROUND.
void large_maybe_purge();
void large_set_cache_limit(std::size_t bytes, std::uint64_t delay_ns);
LargeStats large_stats();
struct LockStats;
// The huge-block cache lock's acquisitions, contended acquisitions and wait time.
const LockStats& large_lock_stats();

void large_fork_prepare();
void large_fork_parent();
void large_fork_child();

}  // namespace hakmem
