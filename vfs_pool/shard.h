// The pool's index: blocks (Entry) grouped into shards, one lock per shard, and the
// per-file state (PoolFile) that tracks which of a file's blocks are dirty.
//
// Invariants (all Entry fields but `pins` are guarded by the lock of the entry's shard):
//  - an entry is in its shard's map unless it is `dead` (removed while on a dirty list);
//  - clean entries are on the shard's LRU list, except while a flush is writing them out;
//    dirty entries are not on it (never evicted);
//  - `in_dirty_list` entries are on their file's lock-free dirty stack; an entry is pushed
//    when it turns dirty and popped only by flush / drop (serialised by PoolFile::op_mu);
//  - `pins` counts threads copying into or out of the block without the shard lock. Pins
//    are taken only under the lock and dropped without it; an entry is evicted, removed or
//    marked clean only under the lock with pins == 0, so a pinned block stays alive and a
//    write in progress is never lost by a concurrent flush.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>

#include "vfs_pool/block_key.h"
#include "vfs_pool/counted_mutex.h"

namespace hakmem::vfs {

struct PoolFile;

struct Entry {
  BlockKey key;
  std::byte* data = nullptr;
  PoolFile* file = nullptr;
  Entry* dirty_next = nullptr;  // link on file->dirty_head
  Entry* lru_prev = nullptr;    // shard LRU of clean entries (head = most recent)
  Entry* lru_next = nullptr;
  bool dirty = false;
  bool in_dirty_list = false;
  bool in_lru = false;
  bool dead = false;  // removed from the index while on a dirty list; freed by its popper
  std::atomic<std::uint32_t> pins{0};
};

// Waits (shard lock held, so no new pin can start) until no copy is in progress.
void wait_unpinned(Entry* e);
// One step of a wait for a copier: spin briefly, then yield (it may have been preempted).
void pause_or_yield(unsigned spins);

struct PoolFile {
  explicit PoolFile(FileId i) : id(i) {}
  const FileId id;
  std::atomic<Entry*> dirty_head{nullptr};   // Treiber stack of entries that turned dirty
  CountedMutex op_mu;                        // serialises flush / truncate / drop of the file
  std::atomic<std::uint64_t> resident{0};    // entries of this file in the index
  std::atomic<std::uint64_t> dirty{0};       // of which dirty
  std::atomic<std::uint64_t> max_chunk{0};   // highest chunk index ever inserted

  // Called with the entry's shard lock held.
  void push_dirty(Entry* e) {
    e->in_dirty_list = true;
    e->dirty_next = dirty_head.load(std::memory_order_relaxed);
    while (!dirty_head.compare_exchange_weak(e->dirty_next, e, std::memory_order_release,
                                             std::memory_order_relaxed)) {
    }
  }
  Entry* take_dirty() { return dirty_head.exchange(nullptr, std::memory_order_acquire); }
};

// Per-shard counters; written only by the shard lock's holder.
struct ShardCounters {
  LockedCounter writes, write_bytes, write_misses, reads, read_hits, read_bytes;
};

struct alignas(64) Shard {
  CountedMutex mu;
  std::unordered_map<BlockKey, Entry*, BlockKeyHash> map;
  Entry* lru_head = nullptr;
  Entry* lru_tail = nullptr;
  ShardCounters counters;

  Entry* find(const BlockKey& k) const {
    auto it = map.find(k);
    return it == map.end() ? nullptr : it->second;
  }

  void lru_push_front(Entry* e) {
    e->lru_prev = nullptr;
    e->lru_next = lru_head;
    if (lru_head) lru_head->lru_prev = e;
    lru_head = e;
    if (!lru_tail) lru_tail = e;
    e->in_lru = true;
  }
  void lru_remove(Entry* e) {
    if (e->lru_prev) e->lru_prev->lru_next = e->lru_next; else lru_head = e->lru_next;
    if (e->lru_next) e->lru_next->lru_prev = e->lru_prev; else lru_tail = e->lru_prev;
    e->lru_prev = e->lru_next = nullptr;
    e->in_lru = false;
  }
  void lru_touch(Entry* e) {
    if (e->in_lru && lru_head != e) {
      lru_remove(e);
      lru_push_front(e);
    }
  }
};

// file id -> PoolFile, sharded. Consulted only when a block is created and by flush /
// truncate / drop, never on the write hit path (the entry points at its PoolFile).
class FileTable {
 public:
  FileTable() = default;
  ~FileTable();
  FileTable(const FileTable&) = delete;
  FileTable& operator=(const FileTable&) = delete;

  PoolFile* find(FileId id);
  PoolFile* get_or_create(FileId id);
  void erase(FileId id);  // deletes the PoolFile; caller guarantees no entry refers to it
  LockStats lock_stats() const;
  template <class Fn>
  void for_each(Fn&& fn) {
    for (Part& p : parts_) {
      std::lock_guard<CountedMutex> g(p.mu);
      for (auto& kv : p.map) fn(kv.second);
    }
  }

 private:
  static constexpr unsigned kShards = 16;
  struct alignas(64) Part {
    mutable CountedMutex mu;
    std::unordered_map<FileId, PoolFile*> map;
  };
  Part& part(FileId id) { return parts_[mix64(id) & (kShards - 1)]; }
  Part parts_[kShards];
};

}  // namespace hakmem::vfs
