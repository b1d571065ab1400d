// The profiled design, reproduced for comparison (see baseline_pool.h). Not used by vfsd.
#include "baseline_pool.h"

#include <chrono>
#include <cstring>
#include <random>

#include "siphash.h"

namespace hakmem::vfs::baseline {

namespace {
std::atomic<std::uint64_t> g_dead_acq{0}, g_dead_contended{0}, g_dead_wait{0};

void bump(std::atomic<std::uint64_t>& c, std::uint64_t by = 1) {
  c.fetch_add(by, std::memory_order_relaxed);  // shared holders race: must be atomic here
}
SipHasher random_hasher() {
  std::random_device rd;
  return SipHasher{(std::uint64_t(rd()) << 32) | rd(), (std::uint64_t(rd()) << 32) | rd()};
}
}  // namespace

std::size_t SipHasher::operator()(const Key& k) const { return siphash13_2words(k0, k1, k.file, k.chunk); }
std::size_t SipHasher::operator()(std::uint64_t file) const { return siphash13_2words(k0, k1, file, 0); }

void CountedSharedMutex::lock() {
  if (mu_.try_lock()) {
    bump(acq_);
    return;
  }
  const auto t0 = std::chrono::steady_clock::now();
  mu_.lock();
  bump(acq_);
  bump(contended_);
  bump(wait_ns_, std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
}

void CountedSharedMutex::lock_shared() {
  if (mu_.try_lock_shared()) {
    bump(acq_);
    return;
  }
  const auto t0 = std::chrono::steady_clock::now();
  mu_.lock_shared();
  bump(acq_);
  bump(contended_);
  bump(wait_ns_, std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
}

LockStats CountedSharedMutex::stats() const {
  return {acq_.load(std::memory_order_relaxed), contended_.load(std::memory_order_relaxed),
          wait_ns_.load(std::memory_order_relaxed)};
}

Block::~Block() {
  const LockStats s = rw.stats();
  bump(g_dead_acq, s.acquisitions);
  bump(g_dead_contended, s.contended);
  bump(g_dead_wait, s.wait_ns);
}

BaselinePool::BaselinePool(const PoolConfig& cfg)
    : chunk_size_(cfg.chunk_size),
      budget_(cfg.budget_bytes),
      map_(16, random_hasher()),
      dirty_(16, random_hasher()) {}

BaselinePool::~BaselinePool() = default;

bool BaselinePool::is_dirty(const Key& k) {
  std::shared_ptr<Block> b;
  {
    std::lock_guard<CountedMutex> g(mu_);
    auto it = map_.find(k);
    if (it == map_.end()) return false;
    b = it->second;
  }
  std::shared_lock<CountedSharedMutex> r(b->rw);
  return b->dirty;
}

bool BaselinePool::has_dirty(const Key& k) {
  std::lock_guard<CountedMutex> g(mu_);
  auto it = dirty_.find(k.file);
  return it != dirty_.end() && it->second.count(k.chunk) != 0;
}

// Makes a dirty copy of the chunk: a fresh malloc'd, zero-initialised vector filled from the
// clean block if one is resident (which is then dropped), else through the loader.
int BaselinePool::create_dirty_copy(const Key& k, const Loader& loader) {
  std::shared_ptr<Block> clean;
  {
    std::lock_guard<CountedMutex> g(mu_);
    auto it = map_.find(k);
    if (it != map_.end()) clean = it->second;
  }
  auto fresh = std::make_shared<Block>();
  fresh->data.resize(chunk_size_);
  copies_.fetch_add(1, std::memory_order_relaxed);
  if (clean) {
    std::shared_lock<CountedSharedMutex> r(clean->rw);
    std::memcpy(fresh->data.data(), clean->data.data(), chunk_size_);
  } else {
    loads_.fetch_add(1, std::memory_order_relaxed);
    const int rc = loader(k.file, k.chunk, reinterpret_cast<std::byte*>(fresh->data.data()), chunk_size_);
    if (rc < 0) return rc;
  }
  std::lock_guard<CountedMutex> g(mu_);
  auto [it, inserted] = map_.try_emplace(k, fresh);
  if (!inserted) {
    if (it->second->dirty) return 0;  // someone else made the dirty copy meanwhile
    if (it->second->in_lru) {
      clean_lru_.erase(it->second->lru);
      it->second->in_lru = false;
    }
    it->second = fresh;  // the clean block is freed when its last reference goes
  } else {
    bytes_ += chunk_size_;
    evict_locked();
  }
  return 0;
}

bool BaselinePool::modify_dirty_in_place(const Key& k,
                                         const std::function<void(std::vector<std::uint8_t>&)>& f) {
  std::shared_ptr<Block> b;
  {
    std::lock_guard<CountedMutex> g(mu_);  // first pool lock: find the block
    auto it = map_.find(k);
    if (it == map_.end()) return false;
    b = it->second;
  }
  {
    std::unique_lock<CountedSharedMutex> w(b->rw);
    f(b->data);
    b->dirty = true;
  }
  std::lock_guard<CountedMutex> g(mu_);  // second pool lock: record it as dirty
  auto it = map_.find(k);
  if (it == map_.end() || it->second != b) return false;  // replaced meanwhile: redo the write
  if (b->in_lru) {
    clean_lru_.erase(b->lru);
    b->in_lru = false;
  }
  dirty_[k.file].insert(k.chunk);
  return true;
}

int BaselinePool::write_at(std::uint64_t file, std::uint64_t chunk, std::size_t offset,
                           const void* src, std::size_t len, const Loader& loader) {
  const Key k{file, chunk};
  writes_.fetch_add(1, std::memory_order_relaxed);
  write_bytes_.fetch_add(len, std::memory_order_relaxed);
  for (;;) {
    if (!is_dirty(k) && !has_dirty(k)) {
      const int rc = create_dirty_copy(k, loader);
      if (rc < 0) return rc;
    }
    if (modify_dirty_in_place(k, [&](std::vector<std::uint8_t>& d) { std::memcpy(d.data() + offset, src, len); }))
      return 0;
  }
}

bool BaselinePool::read_at(std::uint64_t file, std::uint64_t chunk, std::size_t offset, void* dst,
                           std::size_t len) {
  reads_.fetch_add(1, std::memory_order_relaxed);
  std::shared_ptr<Block> b;
  {
    std::lock_guard<CountedMutex> g(mu_);
    auto it = map_.find(Key{file, chunk});
    if (it == map_.end()) return false;
    b = it->second;
  }
  std::shared_lock<CountedSharedMutex> r(b->rw);
  std::memcpy(dst, b->data.data() + offset, len);
  read_hits_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

int BaselinePool::flush_file(std::uint64_t file, const FlushSink& sink) {
  std::vector<std::pair<std::uint64_t, std::shared_ptr<Block>>> todo;
  {
    std::lock_guard<CountedMutex> g(mu_);
    auto it = dirty_.find(file);
    if (it == dirty_.end()) return 0;
    for (std::uint64_t c : it->second) todo.emplace_back(c, map_.at(Key{file, c}));
    dirty_.erase(it);
  }
  int err = 0;
  for (auto& [chunk, b] : todo) {
    {
      std::unique_lock<CountedSharedMutex> w(b->rw);
      err = sink(chunk, reinterpret_cast<const std::byte*>(b->data.data()), chunk_size_);
      if (err == 0) b->dirty = false;
    }
    std::lock_guard<CountedMutex> g(mu_);
    if (err != 0) {
      dirty_[file].insert(chunk);
      continue;
    }
    flushed_.fetch_add(1, std::memory_order_relaxed);
    auto it = map_.find(Key{file, chunk});
    if (it != map_.end() && it->second == b && !b->in_lru && !b->dirty) {
      clean_lru_.push_front(Key{file, chunk});
      b->lru = clean_lru_.begin();
      b->in_lru = true;
    }
  }
  return err;
}

void BaselinePool::evict_locked() {
  while (bytes_ > budget_ && !clean_lru_.empty()) {
    const Key k = clean_lru_.back();
    clean_lru_.pop_back();
    auto it = map_.find(k);
    if (it != map_.end()) {
      it->second->in_lru = false;
      map_.erase(it);
      bytes_ -= chunk_size_;
      evictions_.fetch_add(1, std::memory_order_relaxed);
    }
  }
}

PoolStats BaselinePool::stats() const {
  PoolStats s;
  s.writes = writes_.load();
  s.write_bytes = write_bytes_.load();
  s.write_misses = copies_.load();
  s.loads = loads_.load();
  s.reads = reads_.load();
  s.read_hits = read_hits_.load();
  s.evictions = evictions_.load();
  s.blocks_flushed = flushed_.load();
  s.chunk_size = chunk_size_;
  s.budget_bytes = budget_;
  s.shard_locks = mu_.stats();  // "the index lock": the one pool mutex
  LockStats blocks{g_dead_acq.load(), g_dead_contended.load(), g_dead_wait.load()};
  {
    std::lock_guard<std::mutex> g(mu_.uncounted());
    for (auto& kv : map_) blocks += kv.second->rw.stats();
  }
  s.other_locks = blocks;  // the per-block reader-writer locks
  return s;
}

}  // namespace hakmem::vfs::baseline
