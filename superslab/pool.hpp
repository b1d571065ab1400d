// The process-wide source of SuperSlabs: a warm reserve of empty ones (still populated), a
// purged list (address space kept, memory returned), orphans left by exited threads, and
// the OS behind them. SuperSlab address space is kept (purged, not unmapped) — reusing it
// keeps VMAs few — except empty hugetlb SuperSlabs (their pages go back only whole) and
// idle ones under OOM; those are unmapped only when no remote push can still write into
// them (pool_remote_enter).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "superslab/lock.hpp"
#include "superslab/superslab.hpp"

namespace hakmem {

// Set by the allocator layer (config_apply) before the first allocation; the defaults are
// the option table's (allocator/config.cpp), kept there only.
struct PoolConfig {
  std::size_t reserve_bytes = 0;   // RESERVE_MB: warm reserve kept populated
  std::uint64_t purge_delay_ns = 0;  // PURGE_DELAY_MS: reserve entries older get purged
  // DENSE_AFTER_SLABS: slabs a class fills before its new SuperSlabs get huge pages and a
  // whole-SuperSlab populate (they pay off only when they will be filled).
  std::uint32_t dense_threshold = 0;
  int numa_mode = 0;  // NUMA: a NumaMode
};

struct PoolStats {
  std::atomic<std::uint64_t> mapped{0};      // SuperSlabs ever obtained from the OS
  std::atomic<std::uint64_t> in_use{0};      // held by heaps (small) or the span allocator
  std::atomic<std::uint64_t> reserved{0};    // warm, empty
  std::atomic<std::uint64_t> purged_idle{0}; // empty, memory returned
  std::atomic<std::uint64_t> orphaned{0};
  std::atomic<std::uint64_t> purge_rounds{0};
  std::atomic<std::uint64_t> unmapped{0};    // returned to the OS (hugetlb purge, OOM)
};

void pool_configure(const PoolConfig& cfg);
PoolConfig pool_config();
const PoolStats& pool_stats();
Lock& pool_lock();

// A SuperSlab of `kind` (header not initialised beyond the common fields), populated as the
// policy says; nullptr with errno = ENOMEM when the OS refuses.
// `dense`: populate it whole (and advise huge pages): the caller allocates in bulk.
SuperSlab* pool_acquire(ChunkKind kind, bool dense);
// An empty SuperSlab goes back to the warm reserve (purged later if unused).
void pool_release(SuperSlab* ss);

// Remote frees in flight. A thread pushing objects onto another heap's slab (flush.cpp)
// CASes them onto the slab's list and then writes the SuperSlab header to notify the
// owner; between the two the owner may collect them, empty the slab and release the
// SuperSlab. Pushers hold this count from before their first CAS to after their last
// notify, and the pool unmaps a SuperSlab (hugetlb purge, pool_unmap_idle) only after
// seeing it at zero once the SuperSlab has left every list: no push can then still be
// touching it. Slow paths only (one pair per flush that frees remotely).
void pool_remote_enter();
void pool_remote_exit();

// Orphans: SuperSlabs of exited threads that still hold live objects.
void pool_orphan_push(SuperSlab* ss);
SuperSlab* pool_orphan_pop();

// Purges reserve entries idle for longer than the delay (all of them when `force`):
// MADV_FREE first, MADV_DONTNEED on the next round. Returns bytes released. Never called on
// the fast path.
std::size_t pool_purge(bool force);
// Out of memory: unmaps purged, idle SuperSlabs (their address space) so the OS can reuse it.
// Returns how many. Only SuperSlabs that sat empty past a purge are unmapped.
std::size_t pool_unmap_idle();
// Cheap check used by slow paths to run pool_purge only when something may be due.
void pool_maybe_purge();

// The pool's share of the profile record's memory breakdown, and its orphans walked with
// `orphan` (under the pool lock, which keeps an orphan's slabs still: see account.hpp).
struct PoolAccount {
  std::uint64_t reserve_resident = 0;  // warm reserve: units that may hold pages
  std::uint64_t reserve_lazy = 0;      // MADV_FREE'd: payload bytes
  std::uint64_t reserve_purged = 0;    // MADV_DONTNEED'd: payload bytes (not resident)
  std::uint64_t orphans = 0;
  std::uint64_t headers = 0;           // header bytes of every SuperSlab mapped now
};
using OrphanVisitor = void (*)(const SuperSlab* ss, void* ctx);
void pool_account(PoolAccount* out, OrphanVisitor orphan, void* ctx);

// The caller's heap counts as dense once it owns this many SuperSlabs.
std::uint32_t pool_dense_threshold();

void pool_fork_prepare();
void pool_fork_parent();
void pool_fork_child();

}  // namespace hakmem
