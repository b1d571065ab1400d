/* hakmem VFS pool profile record: the live counters of a process's VFS block pool (vfsd),
 * published beside the allocator's record (profile_record.h) in a file of its own,
 * "<allocator record path>.vfs" (/dev/shm/hakmem-<pid>.vfs by default), and read by the
 * same hakmem-stat: `show PID` adds a "VFS pool" section, `export` a "vfs" object (JSON)
 * and hakmem_vfs_* metrics (Prometheus).
 *
 * A separate record, not more fields in the allocator's: the allocator's layout must not
 * depend on one of its users, and a process without a pool publishes no VFS section at all.
 *
 * Same rules as profile_record.h: fixed-size types only, the header is a
 * hakmem_profile_header (its own magic and version: HAKMEM_VFS_PROFILE_MAGIC /
 * HAKMEM_VFS_PROFILE_VERSION; num_classes and num_hists are 0), the magic is written last,
 * the data is published under header.seq, readers refuse a newer version, and a reset
 * request (header.reset_request) makes counters count from the acknowledgement on.
 * Written by the process at each refresh (every HAKMEM_PROFILE_INTERVAL_MS) from the
 * pool's statistics (vfs_pool's BlockPool::stats()), and once more with state EXITED when
 * the pool is shut down. Created only when the allocator's record is (HAKMEM_PROFILE=1).
 *
 * Versions: 1 first release.
 */
#ifndef HAKMEM_VFS_PROFILE_RECORD_H
#define HAKMEM_VFS_PROFILE_RECORD_H

#include <stdint.h>

#include "hakmem/profile_record.h"

#ifdef __cplusplus
extern "C" {
#endif

/* "HAKMVFSD" in memory order on a little-endian machine. */
#define HAKMEM_VFS_PROFILE_MAGIC 0x445346564d4b4148ull
#define HAKMEM_VFS_PROFILE_VERSION 1u
#define HAKMEM_VFS_PROFILE_SUFFIX ".vfs" /* appended to the allocator record's path */
#define HAKMEM_VFS_PROFILE_MAX_LOCKS 4

/* X(name, kind, help), kind 'c' counter or 'g' gauge, in layout order. */
#define HAKMEM_VFS_PROFILE_COUNTERS(X)                                                      \
  X(writes, 'c', "pool writes (write_at: one per chunk a write touches)")                   \
  X(write_bytes, 'c', "bytes copied into pool blocks by writes")                            \
  X(write_misses, 'c', "writes that had to create their block (first write to a chunk)")    \
  X(loads, 'c', "blocks filled with their clean content first (copy-on-write)")             \
  X(load_errors, 'c', "loads that failed")                                                  \
  X(full_chunk_writes, 'c', "block creations that needed no load (whole chunk written)")    \
  X(reads, 'c', "pool reads (read_at)")                                                     \
  X(read_hits, 'c', "reads served from a resident block")                                   \
  X(read_bytes, 'c', "bytes copied out of resident blocks")                                 \
  X(flush_calls, 'c', "file flushes (dirty blocks handed to the cache directory)")          \
  X(blocks_flushed, 'c', "dirty blocks written out and made clean")                         \
  X(flush_errors, 'c', "flushes that failed (their blocks stay dirty)")                     \
  X(evictions, 'c', "clean blocks dropped to stay under the memory budget")                 \
  X(over_budget_allocs, 'c', "blocks allocated over the budget with nothing clean to evict") \
  X(truncated_blocks, 'c', "blocks dropped or cut by truncation")                           \
  X(hak_block_allocs, 'c', "blocks taken from hak_block_alloc")                             \
  X(hak_block_frees, 'c', "blocks given back with hak_block_free")                          \
  X(blocks_reused, 'c', "blocks served from the pool's free-block cache")                   \
  X(blocks_resident, 'g', "blocks in the index (clean and dirty)")                          \
  X(blocks_dirty, 'g', "blocks with data not yet written to the cache directory")           \
  X(blocks_live, 'g', "blocks out of the block source (index and in flight)")               \
  X(blocks_cached, 'g', "free blocks kept for reuse")                                       \
  X(peak_live, 'g', "most blocks live at once")                                             \
  X(chunk_size, 'g', "bytes per block")                                                     \
  X(budget_bytes, 'g', "memory budget of the pool")

typedef struct hakmem_vfs_profile_counters {
#define HAKMEM_VFS_PROFILE_FIELD_(name, kind, help) uint64_t name;
  HAKMEM_VFS_PROFILE_COUNTERS(HAKMEM_VFS_PROFILE_FIELD_)
#undef HAKMEM_VFS_PROFILE_FIELD_
} hakmem_vfs_profile_counters;

/* locks[]: "vfs_shards" (the index's shard locks, summed) and "vfs_other" (block-source
 * free list, file table and per-file operation locks, summed): acquisitions, contended
 * acquisitions and wait time kept apart, as in the allocator's record. */
typedef struct hakmem_vfs_profile_data {
  hakmem_vfs_profile_counters counters;
  hakmem_profile_lock locks[HAKMEM_VFS_PROFILE_MAX_LOCKS];
} hakmem_vfs_profile_data;

typedef struct hakmem_vfs_profile_record {
  hakmem_profile_header header;
  hakmem_vfs_profile_data data;
} hakmem_vfs_profile_record;

#ifdef __cplusplus
} /* extern "C" */
static_assert(sizeof(hakmem_vfs_profile_counters) == 25 * 8, "counters changed: bump the version");
static_assert(sizeof(hakmem_vfs_profile_record) == 160 + 25 * 8 + 4 * 56,
              "vfs record layout changed: bump the version");
#endif

#endif /* HAKMEM_VFS_PROFILE_RECORD_H */
