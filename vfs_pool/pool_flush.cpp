// BlockPool: flush of a file's dirty blocks, truncate and drop.
//
// All three take the file's op_mu, so they never run concurrently for one file; writes do
// not take it (they only push entries onto the file's lock-free dirty stack).
#include <cstring>
#include <mutex>
#include <vector>

#include "vfs_pool/block_pool.h"

namespace hakmem::vfs {

int BlockPool::flush_file(FileId file, const FlushSink& sink) {
  PoolFile* pf = files_.find(file);
  if (pf == nullptr) return 0;
  std::lock_guard<CountedMutex> op(pf->op_mu);
  flush_calls_.fetch_add(1, std::memory_order_relaxed);
  int err = 0;
  for (Entry* e = pf->take_dirty(); e != nullptr;) {
    Entry* next = e->dirty_next;  // stable: only this popper rewrites it
    if (e->dead) {                // truncated or dropped while dirty; we own it now
      delete e;
      e = next;
      continue;
    }
    Shard& s = shard_for(e->key);
    {
      std::unique_lock<CountedMutex> g(s.mu);
      e->in_dirty_list = false;
      if (!e->dirty) {
        e = next;
        continue;
      }
      if (err != 0) {  // an earlier block failed: keep the rest dirty, untouched
        pf->push_dirty(e);
        e = next;
        continue;
      }
      // Let copies in progress finish, then mark the block clean *before* writing it out
      // without the lock (pinned, so it cannot be evicted). A write that lands meanwhile
      // marks it dirty again and the next flush writes it again.
      // The wait happens without the shard lock: a copier preempted in mid-memcpy would
      // otherwise stall every writer of the shard behind the flusher (measured on a loaded
      // 2-vCPU guest: contended acquisitions waited ~5 ms each, 10 us per write on
      // average). Nothing can remove e meanwhile: truncate / drop / evict_file need
      // op_mu, which we hold, and evict_clean takes only clean blocks.
      for (unsigned spins = 0; e->pins.load(std::memory_order_acquire) != 0; ++spins) {
        g.unlock();
        pause_or_yield(spins);
        g.lock();
      }
      e->dirty = false;
      pf->dirty.fetch_sub(1, std::memory_order_relaxed);
      dirty_total_.fetch_sub(1, std::memory_order_relaxed);
      e->pins.fetch_add(1, std::memory_order_relaxed);
    }
    const int r = sink(e->key.chunk, e->data, chunk_size_);
    {
      std::lock_guard<CountedMutex> g(s.mu);
      e->pins.fetch_sub(1, std::memory_order_release);
      if (r == 0) {
        blocks_flushed_.fetch_add(1, std::memory_order_relaxed);
        if (!e->dirty) s.lru_push_front(e);
      } else {
        err = r;
        if (!e->dirty) {  // nothing is dropped: dirty again, and listed for the next flush
          e->dirty = true;
          pf->dirty.fetch_add(1, std::memory_order_relaxed);
          dirty_total_.fetch_add(1, std::memory_order_relaxed);
        }
        if (!e->in_dirty_list) pf->push_dirty(e);
      }
    }
    e = next;
  }
  if (err) flush_errors_.fetch_add(1, std::memory_order_relaxed);
  return err;
}

// Removes e from the index (shard lock held). A dirty entry on its file's dirty list
// becomes `dead` and is freed by whoever pops it (flush or drop); its block goes back now.
void BlockPool::remove_locked(Shard& s, Entry* e) {
  wait_unpinned(e);
  s.map.erase(e->key);
  if (e->in_lru) s.lru_remove(e);
  e->file->resident.fetch_sub(1, std::memory_order_relaxed);
  resident_total_.fetch_sub(1, std::memory_order_relaxed);
  if (e->dirty) {
    e->dirty = false;
    e->file->dirty.fetch_sub(1, std::memory_order_relaxed);
    dirty_total_.fetch_sub(1, std::memory_order_relaxed);
  }
  source_.release(e->data);
  e->data = nullptr;
  if (e->in_dirty_list) {
    e->dead = true;
  } else {
    delete e;
  }
}

// Calls fn(shard, entry) with the shard locked for each resident entry of pf whose chunk
// >= first_chunk. Probes chunk by chunk when the range is small compared with the whole
// index, else scans every shard (a sparse file with a huge highest chunk).
template <class Fn>
void BlockPool::for_each_entry(PoolFile* pf, std::uint64_t first_chunk, Fn&& fn) {
  if (pf->resident.load(std::memory_order_relaxed) == 0) return;
  const std::uint64_t last = pf->max_chunk.load(std::memory_order_relaxed);
  if (last < first_chunk) return;
  const std::uint64_t span = last - first_chunk + 1;
  if (span <= 4 * resident_total_.load(std::memory_order_relaxed) + 64) {
    for (std::uint64_t c = first_chunk;; ++c) {
      const BlockKey key{pf->id, c};
      Shard& s = shard_for(key);
      std::lock_guard<CountedMutex> g(s.mu);
      if (Entry* e = s.find(key)) fn(s, e);
      if (c == last) break;
    }
    return;
  }
  std::vector<Entry*> found;
  for (unsigned i = 0; i <= shard_mask_; ++i) {
    Shard& s = shards_[i];
    std::lock_guard<CountedMutex> g(s.mu);
    found.clear();
    for (auto& kv : s.map)
      if (kv.first.file == pf->id && kv.first.chunk >= first_chunk) found.push_back(kv.second);
    for (Entry* e : found) fn(s, e);
  }
}

void BlockPool::truncate_file(FileId file, std::uint64_t new_size) {
  PoolFile* pf = files_.find(file);
  if (pf == nullptr) return;
  std::lock_guard<CountedMutex> op(pf->op_mu);
  const std::uint64_t first_gone = (new_size + chunk_size_ - 1) / chunk_size_;
  std::uint64_t removed = 0;
  for_each_entry(pf, first_gone, [&](Shard& s, Entry* e) {
    remove_locked(s, e);
    ++removed;
  });
  truncated_blocks_.fetch_add(removed, std::memory_order_relaxed);
  const std::size_t tail = new_size % chunk_size_;
  if (tail != 0) {  // bytes past the new end must read as zeros if the file grows again
    const BlockKey key{file, new_size / chunk_size_};
    Shard& s = shard_for(key);
    std::lock_guard<CountedMutex> g(s.mu);
    if (Entry* e = s.find(key)) {
      wait_unpinned(e);
      std::memset(e->data + tail, 0, chunk_size_ - tail);
    }
  }
}

std::size_t BlockPool::evict_file(FileId file) {
  PoolFile* pf = files_.find(file);
  if (pf == nullptr) return 0;
  std::lock_guard<CountedMutex> op(pf->op_mu);
  std::uint64_t n = 0;
  for_each_entry(pf, 0, [&](Shard& s, Entry* e) {
    if (e->dirty || e->in_dirty_list || !e->in_lru || e->pins.load(std::memory_order_acquire) != 0) return;
    remove_locked(s, e);
    ++n;
  });
  evictions_.fetch_add(n, std::memory_order_relaxed);
  return n * chunk_size_;
}

void BlockPool::drop_file(FileId file) {
  PoolFile* pf = files_.find(file);
  if (pf == nullptr) return;
  {
    std::lock_guard<CountedMutex> op(pf->op_mu);
    for_each_entry(pf, 0, [&](Shard& s, Entry* e) { remove_locked(s, e); });
    // Every entry left on the dirty list is dead now (removed above, or earlier).
    for (Entry* e = pf->take_dirty(); e != nullptr;) {
      Entry* next = e->dirty_next;
      delete e;
      e = next;
    }
    const LockStats ls = pf->op_mu.stats();
    file_op_acq_.fetch_add(ls.acquisitions, std::memory_order_relaxed);
    file_op_contended_.fetch_add(ls.contended, std::memory_order_relaxed);
    file_op_wait_ns_.fetch_add(ls.wait_ns, std::memory_order_relaxed);
  }
  files_.erase(file);
}

}  // namespace hakmem::vfs
