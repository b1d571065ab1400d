// BlockPool: eviction of clean blocks under the memory budget, and statistics.
#include <cstdio>
#include <mutex>

#include "vfs_pool/block_pool.h"

namespace hakmem::vfs {

std::size_t BlockPool::evict_clean(std::size_t bytes) {
  const std::uint64_t want = (bytes + chunk_size_ - 1) / chunk_size_;
  std::uint64_t freed = 0;
  for (unsigned visited = 0; visited <= shard_mask_ && freed < want; ++visited) {
    if (resident_total_.load(std::memory_order_relaxed) ==
        dirty_total_.load(std::memory_order_relaxed))
      break;  // nothing clean anywhere
    Shard& s = shards_[evict_cursor_.fetch_add(1, std::memory_order_relaxed) & shard_mask_];
    if (!s.mu.try_lock()) continue;  // busy: a writer is there, try the next shard
    constexpr int kMaxPerShard = 32;
    std::byte* blocks[kMaxPerShard];
    int n = 0;
    Entry* e = s.lru_tail;
    while (e != nullptr && freed < want && n < kMaxPerShard) {
      Entry* prev = e->lru_prev;
      if (e->pins.load(std::memory_order_acquire) != 0) {  // a reader is copying out of it
        e = prev;
        continue;
      }
      s.lru_remove(e);
      s.map.erase(e->key);
      e->file->resident.fetch_sub(1, std::memory_order_relaxed);
      resident_total_.fetch_sub(1, std::memory_order_relaxed);
      blocks[n++] = e->data;
      delete e;
      ++freed;
      e = prev;
    }
    s.mu.unlock();
    for (int i = 0; i < n; ++i) source_.release(blocks[i]);
  }
  evictions_.fetch_add(freed, std::memory_order_relaxed);
  return freed * chunk_size_;
}

PoolStats BlockPool::stats() const {
  PoolStats st;
  for (unsigned i = 0; i <= shard_mask_; ++i) {
    const Shard& s = shards_[i];
    st.writes += s.counters.writes.get();
    st.write_bytes += s.counters.write_bytes.get();
    st.write_misses += s.counters.write_misses.get();
    st.reads += s.counters.reads.get();
    st.read_hits += s.counters.read_hits.get();
    st.read_bytes += s.counters.read_bytes.get();
    st.shard_locks += s.mu.stats();
  }
  st.loads = loads_.load(std::memory_order_relaxed);
  st.load_errors = load_errors_.load(std::memory_order_relaxed);
  st.full_chunk_writes = full_chunk_writes_.load(std::memory_order_relaxed);
  st.flush_calls = flush_calls_.load(std::memory_order_relaxed);
  st.blocks_flushed = blocks_flushed_.load(std::memory_order_relaxed);
  st.flush_errors = flush_errors_.load(std::memory_order_relaxed);
  st.evictions = evictions_.load(std::memory_order_relaxed);
  st.over_budget_allocs = over_budget_allocs_.load(std::memory_order_relaxed);
  st.truncated_blocks = truncated_blocks_.load(std::memory_order_relaxed);
  st.blocks_resident = resident_total_.load(std::memory_order_relaxed);
  st.blocks_dirty = dirty_total_.load(std::memory_order_relaxed);
  st.blocks_live = source_.live();
  st.blocks_cached = source_.cached();
  st.peak_live = source_.peak_live();
  st.hak_block_allocs = source_.hak_allocs();
  st.hak_block_frees = source_.hak_frees();
  st.blocks_reused = source_.reused();
  st.chunk_size = chunk_size_;
  st.budget_bytes = budget_;
  st.other_locks = source_.lock_stats();
  st.other_locks += const_cast<FileTable&>(files_).lock_stats();
  st.other_locks.acquisitions += file_op_acq_.load(std::memory_order_relaxed);
  st.other_locks.contended += file_op_contended_.load(std::memory_order_relaxed);
  st.other_locks.wait_ns += file_op_wait_ns_.load(std::memory_order_relaxed);
  return st;
}

std::string format_stats(const PoolStats& s) {
  std::string out;
  char line[128];
  auto put = [&](const char* name, unsigned long long v) {
    std::snprintf(line, sizeof line, "%-26s %llu\n", name, v);
    out += line;
  };
  put("writes", s.writes);
  put("write_bytes", s.write_bytes);
  put("write_misses", s.write_misses);
  put("loads", s.loads);
  put("load_errors", s.load_errors);
  put("full_chunk_writes", s.full_chunk_writes);
  put("reads", s.reads);
  put("read_hits", s.read_hits);
  put("read_bytes", s.read_bytes);
  put("flush_calls", s.flush_calls);
  put("blocks_flushed", s.blocks_flushed);
  put("flush_errors", s.flush_errors);
  put("evictions", s.evictions);
  put("over_budget_allocs", s.over_budget_allocs);
  put("truncated_blocks", s.truncated_blocks);
  put("blocks_resident", s.blocks_resident);
  put("blocks_dirty", s.blocks_dirty);
  put("blocks_live", s.blocks_live);
  put("blocks_cached", s.blocks_cached);
  put("peak_live", s.peak_live);
  put("hak_block_allocs", s.hak_block_allocs);
  put("hak_block_frees", s.hak_block_frees);
  put("blocks_reused", s.blocks_reused);
  put("chunk_size", s.chunk_size);
  put("budget_bytes", s.budget_bytes);
  put("shard_lock_acquisitions", s.shard_locks.acquisitions);
  put("shard_lock_contended", s.shard_locks.contended);
  put("shard_lock_wait_ns", s.shard_locks.wait_ns);
  put("other_lock_acquisitions", s.other_locks.acquisitions);
  put("other_lock_contended", s.other_locks.contended);
  put("other_lock_wait_ns", s.other_locks.wait_ns);
  return out;
}

}  // namespace hakmem::vfs
