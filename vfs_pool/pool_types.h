// Configuration, statistics and the two callbacks of the VFS block pool.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "vfs_pool/block_key.h"
#include "vfs_pool/counted_mutex.h"

namespace hakmem::vfs {

struct PoolConfig {
  std::size_t chunk_size = 128 * 1024;       // power of two, 64 KiB .. 1 MiB
  std::size_t budget_bytes = 256u << 20;     // soft limit on block memory held by the pool
  unsigned shard_count = 256;                // power of two; one lock per shard
  std::size_t free_cache_bytes = 0;          // blocks kept for reuse; 0 = budget / 4
};

// Fills `block` (chunk_size bytes) with the clean content of (file, chunk): the source
// file's bytes, zero past its end. Called without any pool lock held. Returns 0 or -errno.
struct Loader {
  int (*fn)(void* ctx, FileId file, std::uint64_t chunk, std::byte* block, std::size_t size) = nullptr;
  void* ctx = nullptr;
  int operator()(FileId f, std::uint64_t c, std::byte* b, std::size_t n) const { return fn(ctx, f, c, b, n); }
};

// Receives one dirty block during a flush (called with that block's shard lock held, so the
// bytes are stable). Returns 0 when the block is safely written (it becomes clean) or -errno
// (the block stays dirty and the flush stops writing, reporting the error).
struct FlushSink {
  int (*fn)(void* ctx, std::uint64_t chunk, const std::byte* block, std::size_t size) = nullptr;
  void* ctx = nullptr;
  int operator()(std::uint64_t c, const std::byte* b, std::size_t n) const { return fn(ctx, c, b, n); }
};

struct PoolStats {
  // write_at / read_at
  std::uint64_t writes = 0;          // write_at calls
  std::uint64_t write_bytes = 0;
  std::uint64_t write_misses = 0;    // write_at calls that had to create a block
  std::uint64_t loads = 0;           // loader calls (copy-on-write from clean content)
  std::uint64_t load_errors = 0;
  std::uint64_t full_chunk_writes = 0;  // misses that needed no load (whole chunk written)
  std::uint64_t reads = 0;
  std::uint64_t read_hits = 0;
  std::uint64_t read_bytes = 0;      // bytes copied out on hits
  // flush / eviction
  std::uint64_t flush_calls = 0;
  std::uint64_t blocks_flushed = 0;
  std::uint64_t flush_errors = 0;
  std::uint64_t evictions = 0;       // clean blocks dropped to stay under the budget
  std::uint64_t over_budget_allocs = 0;  // blocks allocated with nothing clean to evict
  std::uint64_t truncated_blocks = 0;
  // memory
  std::uint64_t blocks_resident = 0;  // blocks in the index (clean + dirty)
  std::uint64_t blocks_dirty = 0;
  std::uint64_t blocks_live = 0;      // blocks out of the block source (index + in flight)
  std::uint64_t blocks_cached = 0;    // free blocks kept for reuse
  std::uint64_t peak_live = 0;
  std::uint64_t hak_block_allocs = 0; // blocks taken from hak_block_alloc
  std::uint64_t hak_block_frees = 0;
  std::uint64_t blocks_reused = 0;    // blocks served from the free cache
  std::uint64_t chunk_size = 0;
  std::uint64_t budget_bytes = 0;
  // locks: shard locks (index) and the other pool locks, kept apart
  LockStats shard_locks;
  LockStats other_locks;  // block-source free list, file table, per-file op locks
};

// One line per counter, "name value", for logs and the benchmark.
std::string format_stats(const PoolStats& s);

}  // namespace hakmem::vfs
