// A faithful model of the profiled VFS memory pool, kept for comparison only.
//
// What it reproduces (DESIGN.md §1, issue 6):
//  - one std::mutex over one std::unordered_map for the whole pool, keyed by
//    (file, chunk) and hashed with SipHash-1-3 under random keys;
//  - a std::shared_mutex per block;
//  - three lock-and-lookup passes per write: is_dirty(), has_dirty(), then
//    modify_dirty_in_place(), which takes the pool mutex twice (once to find the block,
//    once to record it as dirty) around the block's write lock, and runs the copy as a
//    std::function closure;
//  - clean blocks as malloc'd std::vector<uint8_t>;
//  - dirty blocks in tmpfs pages allocated afresh whenever a block turns dirty
//    (tmpfs_store.h): a clean block that is written gets a dirty copy in a tmpfs slot
//    (whose pages the kernel allocates), every write to it is a pwrite into that
//    slot, and a flush reads the slot back into a new zero-initialised vector (the clean
//    block), then punches the slot's pages away.
// What each cost models, and what is deliberately left out, is listed in PERF_NOTES.md
// ("VFS pool and vfsd"). Eviction of clean blocks under the budget and per-file dirty sets
// mirror what the new pool does, so the comparison isolates locking, hashing, the extra
// lookups and the dirty-block storage.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "vfs_pool/counted_mutex.h"
#include "vfs_pool/pool_types.h"
#include "tmpfs_store.h"

namespace hakmem::vfs::baseline {

struct Key {
  std::uint64_t file;
  std::uint64_t chunk;
  friend bool operator==(const Key&, const Key&) = default;
};

struct SipHasher {
  std::uint64_t k0, k1;
  std::size_t operator()(const Key& k) const;
  std::size_t operator()(std::uint64_t file) const;
};

// shared_mutex with the same acquisition / contention / wait counters as CountedMutex.
class CountedSharedMutex {
 public:
  void lock();
  void unlock() { mu_.unlock(); }
  void lock_shared();
  void unlock_shared() { mu_.unlock_shared(); }
  LockStats stats() const;

 private:
  std::shared_mutex mu_;
  std::atomic<std::uint64_t> acq_{0}, contended_{0}, wait_ns_{0};
};

struct Block {
  ~Block();  // folds this block's lock counters into the process totals
  CountedSharedMutex rw;
  std::vector<std::uint8_t> data;  // the clean content (empty while the block is dirty)
  // The dirty content's tmpfs slot; -1 while clean. Changed under the block's write lock;
  // atomic because the pool-mutex paths peek at it without the block lock.
  std::atomic<std::int64_t> slot{-1};
  TmpfsStore* store = nullptr;  // its file's dirty store (set with the first slot)
  bool dirty() const { return slot.load(std::memory_order_relaxed) >= 0; }
  bool in_lru = false;
  std::list<Key>::iterator lru;  // valid while in_lru (guarded by the pool mutex)
};

struct BaselineOptions {
  bool keep_tmpfs_pages = false;  // ablation: never give dirty blocks' tmpfs pages back
};

class BaselinePool {
 public:
  explicit BaselinePool(const PoolConfig& cfg, BaselineOptions opts = {});
  ~BaselinePool();

  std::size_t chunk_size() const { return chunk_size_; }
  int write_at(std::uint64_t file, std::uint64_t chunk, std::size_t offset, const void* src,
               std::size_t len, const Loader& loader);
  bool read_at(std::uint64_t file, std::uint64_t chunk, std::size_t offset, void* dst, std::size_t len);
  int flush_file(std::uint64_t file, const FlushSink& sink);

  // The three per-write passes of the profiled design.
  bool is_dirty(const Key& k);
  bool has_dirty(const Key& k);
  // 1 when written; 0 if the block was flushed, evicted or replaced since the checks (the
  // caller retries); -errno if the closure failed.
  int modify_dirty_in_place(const Key& k, const std::function<int(Block&)>& f);

  PoolStats stats() const;

 private:
  int create_dirty_copy(const Key& k, const Loader& loader);
  TmpfsStore* store_for_locked(std::uint64_t file);
  void evict_locked();

  const std::size_t chunk_size_;
  const std::size_t budget_;
  mutable CountedMutex mu_;  // the one pool lock
  const BaselineOptions opts_;
  std::unordered_map<Key, std::shared_ptr<Block>, SipHasher> map_;
  std::unordered_map<std::uint64_t, std::unordered_set<std::uint64_t>, SipHasher> dirty_;
  // Dirty blocks, one tmpfs file per VFS file (slot bookkeeping under mu_).
  std::unordered_map<std::uint64_t, std::unique_ptr<TmpfsStore>, SipHasher> stores_;
  std::list<Key> clean_lru_;  // front = most recent
  std::size_t bytes_ = 0;
  std::atomic<std::uint64_t> writes_{0}, write_bytes_{0}, copies_{0}, loads_{0}, reads_{0},
      read_hits_{0}, evictions_{0}, flushed_{0};
};

}  // namespace hakmem::vfs::baseline
