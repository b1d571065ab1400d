// BlockPool: construction, the write path and the read path.
#include "vfs_pool/block_pool.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace hakmem::vfs {

void pause_or_yield(unsigned spins) {
  if (spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  } else {
    std::this_thread::yield();  // the copier was preempted: let it run
  }
}

void wait_unpinned(Entry* e) {
  for (unsigned spins = 0; e->pins.load(std::memory_order_acquire) != 0; ++spins) pause_or_yield(spins);
}

namespace {
bool is_pow2(std::size_t x) { return x != 0 && (x & (x - 1)) == 0; }

std::size_t cache_blocks(const PoolConfig& c) {
  const std::size_t bytes = c.free_cache_bytes ? c.free_cache_bytes : c.budget_bytes / 4;
  return std::max<std::size_t>(bytes / c.chunk_size, 4);
}
}  // namespace

BlockPool::BlockPool(const PoolConfig& cfg)
    : chunk_size_(cfg.chunk_size),
      budget_(cfg.budget_bytes),
      shard_mask_(cfg.shard_count - 1),
      shards_(new Shard[cfg.shard_count]),
      source_(cfg.chunk_size, cache_blocks(cfg)) {
  if (!is_pow2(cfg.chunk_size) || cfg.chunk_size < (64u << 10) || cfg.chunk_size > (1u << 20))
    throw std::invalid_argument("vfs_pool: chunk_size must be a power of two in [64 KiB, 1 MiB]");
  if (!is_pow2(cfg.shard_count) || cfg.shard_count > (1u << 16))
    throw std::invalid_argument("vfs_pool: shard_count must be a power of two <= 65536");
  if (cfg.budget_bytes < cfg.chunk_size)
    throw std::invalid_argument("vfs_pool: budget_bytes must hold at least one chunk");
}

BlockPool::~BlockPool() {
  // Dead entries (truncated while dirty) are owned by their file's dirty list; live ones by
  // the index. Free the former first, then everything in the index.
  files_.for_each([](PoolFile* pf) {
    for (Entry* e = pf->take_dirty(); e != nullptr;) {
      Entry* next = e->dirty_next;
      if (e->dead) delete e;
      e = next;
    }
  });
  for (unsigned i = 0; i <= shard_mask_; ++i) {
    for (auto& kv : shards_[i].map) {
      source_.release(kv.second->data);
      delete kv.second;
    }
  }
}

void BlockPool::mark_dirty(Shard& s, Entry* e) {
  if (e->dirty) return;
  e->dirty = true;
  if (e->in_lru) s.lru_remove(e);
  e->file->dirty.fetch_add(1, std::memory_order_relaxed);
  dirty_total_.fetch_add(1, std::memory_order_relaxed);
  if (!e->in_dirty_list) e->file->push_dirty(e);
}

int BlockPool::write_at(FileId file, std::uint64_t chunk, std::size_t offset, const void* src,
                        std::size_t len, const Loader& loader) {
  if (offset > chunk_size_ || len > chunk_size_ - offset) return -EINVAL;
  const BlockKey key{file, chunk};
  Shard& s = shard_for(key);
  Entry* e;
  {
    std::lock_guard<CountedMutex> g(s.mu);
    e = s.find(key);
    if (e != nullptr) {
      // The common case: one lookup under one lock, then the copy without it. Marking the
      // block dirty first is what makes the unlocked copy safe: a flush that starts before
      // the copy ends waits for the pin, and one that starts after sees the block dirty.
      mark_dirty(s, e);
      e->pins.fetch_add(1, std::memory_order_relaxed);
      s.counters.writes.add();
      s.counters.write_bytes.add(len);
    }
  }
  if (e == nullptr) return write_miss(file, chunk, offset, src, len, loader);
  std::memcpy(e->data + offset, src, len);
  e->pins.fetch_sub(1, std::memory_order_release);
  return 0;
}

void BlockPool::make_room() {
  if (source_.live_bytes() + chunk_size_ <= budget_) return;
  // Evict in batches so that a pool at its budget does not scan shards on every miss.
  const std::size_t batch = std::max<std::size_t>(chunk_size_, budget_ / 64);
  if (evict_clean(batch) == 0) over_budget_allocs_.fetch_add(1, std::memory_order_relaxed);
}

int BlockPool::write_miss(FileId file, std::uint64_t chunk, std::size_t offset, const void* src,
                          std::size_t len, const Loader& loader) {
  PoolFile* pf = files_.get_or_create(file);
  make_room();
  std::byte* block = source_.allocate();
  if (block == nullptr) return -ENOMEM;
  if (offset == 0 && len == chunk_size_) {
    full_chunk_writes_.fetch_add(1, std::memory_order_relaxed);
  } else {
    loads_.fetch_add(1, std::memory_order_relaxed);
    const int r = loader(file, chunk, block, chunk_size_);
    if (r < 0) {
      load_errors_.fetch_add(1, std::memory_order_relaxed);
      source_.release(block);
      return r;
    }
  }
  std::memcpy(block + offset, src, len);

  const BlockKey key{file, chunk};
  Shard& s = shard_for(key);
  std::lock_guard<CountedMutex> g(s.mu);
  s.counters.writes.add();
  s.counters.write_bytes.add(len);
  s.counters.write_misses.add();
  if (Entry* e = s.find(key)) {  // another writer created it meanwhile: write into theirs
    std::memcpy(e->data + offset, src, len);
    mark_dirty(s, e);
    source_.release(block);
    return 0;
  }
  Entry* e = new Entry;
  e->key = key;
  e->data = block;
  e->file = pf;
  s.map.emplace(key, e);
  pf->resident.fetch_add(1, std::memory_order_relaxed);
  resident_total_.fetch_add(1, std::memory_order_relaxed);
  std::uint64_t mc = pf->max_chunk.load(std::memory_order_relaxed);
  while (chunk > mc && !pf->max_chunk.compare_exchange_weak(mc, chunk, std::memory_order_relaxed)) {
  }
  mark_dirty(s, e);
  return 0;
}

bool BlockPool::read_at(FileId file, std::uint64_t chunk, std::size_t offset, void* dst,
                        std::size_t len) {
  if (offset > chunk_size_ || len > chunk_size_ - offset) return false;
  const BlockKey key{file, chunk};
  Shard& s = shard_for(key);
  Entry* e;
  {
    std::lock_guard<CountedMutex> g(s.mu);
    s.counters.reads.add();
    e = s.find(key);
    if (e == nullptr) return false;
    e->pins.fetch_add(1, std::memory_order_relaxed);
    s.lru_touch(e);
    s.counters.read_hits.add();
    s.counters.read_bytes.add(len);
  }
  std::memcpy(dst, e->data + offset, len);
  e->pins.fetch_sub(1, std::memory_order_release);
  return true;
}

std::uint64_t BlockPool::file_dirty_blocks(FileId file) {
  PoolFile* pf = files_.find(file);
  return pf ? pf->dirty.load(std::memory_order_relaxed) : 0;
}

std::uint64_t BlockPool::file_resident_blocks(FileId file) {
  PoolFile* pf = files_.find(file);
  return pf ? pf->resident.load(std::memory_order_relaxed) : 0;
}

}  // namespace hakmem::vfs
