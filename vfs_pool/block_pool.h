// The VFS block pool: fixed-size chunks of files, kept in hakmem blocks, written in place.
//
// A write is one hash, one shard lock and one memcpy straight into the block
// (`write_at`). Compared with the profiled design (one mutex over the whole map taken twice
// per write, three lookups per write, SipHash, blocks allocated per dirty write) there is no
// second lock, no closure and no separate dirty check: the dirty bit lives in the entry the
// lookup already found. Only the first write to a chunk that is not resident (a miss) does
// more: it allocates a block and fills it with clean content through the caller's loader,
// outside any lock, and then takes the shard lock a second time to publish it.
//
// Thread safety: every public function may be called concurrently, except that
// drop_file(f) must not race with writes to the same file f (the daemon drops a file only
// after its last handle is released).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "vfs_pool/block_source.h"
#include "vfs_pool/pool_types.h"
#include "vfs_pool/shard.h"

namespace hakmem::vfs {

class BlockPool {
 public:
  explicit BlockPool(const PoolConfig& cfg);  // throws std::invalid_argument on a bad config
  ~BlockPool();
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  std::size_t chunk_size() const { return chunk_size_; }

  // Copies len bytes into (file, chunk) at offset (offset + len <= chunk_size) and marks
  // the block dirty. A missing block is created first: loaded through `loader` unless the
  // write covers the whole chunk. Returns 0, or -errno (loader error, -ENOMEM).
  int write_at(FileId file, std::uint64_t chunk, std::size_t offset, const void* src,
               std::size_t len, const Loader& loader);

  // Copies out of a resident block. Returns false (and copies nothing) if the block is not
  // resident; the caller then reads the clean content itself.
  bool read_at(FileId file, std::uint64_t chunk, std::size_t offset, void* dst, std::size_t len);

  // Hands every dirty block of `file` to `sink` (in no particular order); blocks the sink
  // accepts become clean (and evictable). On the first error the remaining blocks stay dirty
  // and the error is returned; nothing dirty is ever dropped by a failed flush.
  int flush_file(FileId file, const FlushSink& sink);

  // Forgets blocks wholly past new_size and zeroes the tail of the block containing it.
  void truncate_file(FileId file, std::uint64_t new_size);

  // Forgets every block of the file, dirty or not, and its per-file state.
  void drop_file(FileId file);

  // Evicts up to `bytes` of clean blocks (least recently used first, shard by shard).
  // Returns the number of bytes freed.
  std::size_t evict_clean(std::size_t bytes);

  // Evicts the clean blocks of one file (e.g. data written sequentially and just saved:
  // it will not be rewritten, so its blocks are better recycled at once). Returns bytes.
  std::size_t evict_file(FileId file);

  std::uint64_t file_dirty_blocks(FileId file);
  std::uint64_t file_resident_blocks(FileId file);
  std::uint64_t dirty_bytes() const { return dirty_total_.load(std::memory_order_relaxed) * chunk_size_; }
  std::uint64_t resident_bytes() const { return resident_total_.load(std::memory_order_relaxed) * chunk_size_; }
  std::uint64_t live_bytes() const { return source_.live_bytes(); }
  std::uint64_t budget_bytes() const { return budget_; }
  PoolStats stats() const;

 private:
  Shard& shard_for(const BlockKey& k) { return shards_[(hash_key(k) >> 32) & shard_mask_]; }
  int write_miss(FileId file, std::uint64_t chunk, std::size_t offset, const void* src,
                 std::size_t len, const Loader& loader);
  void make_room();
  void mark_dirty(Shard& s, Entry* e);
  void remove_locked(Shard& s, Entry* e);
  template <class Fn>
  void for_each_entry(PoolFile* pf, std::uint64_t first_chunk, Fn&& fn);

  const std::size_t chunk_size_;
  const std::uint64_t budget_;
  const unsigned shard_mask_;
  std::unique_ptr<Shard[]> shards_;
  BlockSource source_;
  FileTable files_;

  std::atomic<std::uint64_t> resident_total_{0};
  std::atomic<std::uint64_t> dirty_total_{0};
  std::atomic<unsigned> evict_cursor_{0};
  // Counters of the rare paths (misses, flush, eviction): plain atomics.
  std::atomic<std::uint64_t> loads_{0}, load_errors_{0}, full_chunk_writes_{0};
  std::atomic<std::uint64_t> flush_calls_{0}, blocks_flushed_{0}, flush_errors_{0};
  std::atomic<std::uint64_t> evictions_{0}, over_budget_allocs_{0}, truncated_blocks_{0};
  std::atomic<std::uint64_t> file_op_acq_{0}, file_op_contended_{0}, file_op_wait_ns_{0};
};

}  // namespace hakmem::vfs
