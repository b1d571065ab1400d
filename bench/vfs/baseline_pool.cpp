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

BaselinePool::BaselinePool(const PoolConfig& cfg, BaselineOptions opts)
    : chunk_size_(cfg.chunk_size),
      budget_(cfg.budget_bytes),
      opts_(opts),
      map_(16, random_hasher()),
      dirty_(16, random_hasher()),
      stores_(16, random_hasher()) {}

TmpfsStore* BaselinePool::store_for_locked(std::uint64_t file) {
  auto& s = stores_[file];
  if (!s) s = std::make_unique<TmpfsStore>(chunk_size_, opts_.keep_tmpfs_pages);
  return s.get();
}

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
  return b->dirty();
}

bool BaselinePool::has_dirty(const Key& k) {
  std::lock_guard<CountedMutex> g(mu_);
  auto it = dirty_.find(k.file);
  return it != dirty_.end() && it->second.count(k.chunk) != 0;
}

// Makes a dirty copy of the chunk in a fresh tmpfs slot: filled from the clean block if one
// is resident (which is then dropped), else from the loader through a malloc'd vector.
int BaselinePool::create_dirty_copy(const Key& k, const Loader& loader) {
  std::shared_ptr<Block> clean;
  auto fresh = std::make_shared<Block>();
  {
    std::lock_guard<CountedMutex> g(mu_);
    auto it = map_.find(k);
    if (it != map_.end()) clean = it->second;
    fresh->store = store_for_locked(k.file);
    fresh->slot = fresh->store->take_locked();
  }
  copies_.fetch_add(1, std::memory_order_relaxed);
  int rc = 0;
  bool lost = false;
  if (clean) {
    std::shared_lock<CountedSharedMutex> r(clean->rw);
    if (clean->dirty())
      lost = true;  // someone else made the dirty copy since our checks: write into theirs
    else
      rc = fresh->store->write(fresh->slot, 0, clean->data.data(), chunk_size_);
  } else {
    loads_.fetch_add(1, std::memory_order_relaxed);
    std::vector<std::uint8_t> buf(chunk_size_);
    rc = loader(k.file, k.chunk, reinterpret_cast<std::byte*>(buf.data()), chunk_size_);
    if (rc == 0) rc = fresh->store->write(fresh->slot, 0, buf.data(), chunk_size_);
  }
  lost = lost || rc != 0;
  if (!lost) {
    std::lock_guard<CountedMutex> g(mu_);
    auto [it, inserted] = map_.try_emplace(k, fresh);
    if (!inserted) {
      if (it->second->dirty()) {
        lost = true;  // someone else made the dirty copy meanwhile: write into theirs
      } else {
        if (it->second->in_lru) {
          clean_lru_.erase(it->second->lru);
          it->second->in_lru = false;
        }
        it->second = fresh;  // the clean block is freed when its last reference goes
      }
    } else {
      bytes_ += chunk_size_;
      evict_locked();
    }
  }
  if (lost) {  // our slot was never published: free whatever pages it got, then the slot
    fresh->store->punch(fresh->slot);
    std::lock_guard<CountedMutex> g(mu_);
    fresh->store->give_back_locked(fresh->slot);
    fresh->slot = -1;
  }
  return rc;
}

int BaselinePool::modify_dirty_in_place(const Key& k, const std::function<int(Block&)>& f) {
  std::shared_ptr<Block> b;
  {
    std::lock_guard<CountedMutex> g(mu_);  // first pool lock: find the block
    auto it = map_.find(k);
    if (it == map_.end()) return 0;
    b = it->second;
  }
  {
    std::unique_lock<CountedSharedMutex> w(b->rw);
    if (!b->dirty()) return 0;  // flushed clean since the checks: make a new dirty copy
    if (const int rc = f(*b); rc < 0) return rc;
  }
  std::lock_guard<CountedMutex> g(mu_);  // second pool lock: record it as dirty
  auto it = map_.find(k);
  if (it == map_.end() || it->second != b) return 0;  // replaced meanwhile: redo the write
  if (b->in_lru) {
    clean_lru_.erase(b->lru);
    b->in_lru = false;
  }
  dirty_[k.file].insert(k.chunk);
  return 1;
}

int BaselinePool::write_at(std::uint64_t file, std::uint64_t chunk, std::size_t offset,
                           const void* src, std::size_t len, const Loader& loader) {
  const Key k{file, chunk};
  writes_.fetch_add(1, std::memory_order_relaxed);
  write_bytes_.fetch_add(len, std::memory_order_relaxed);
  for (bool retry = false;; retry = true) {
    // A retry means the block turned clean (or was replaced) after the checks; the dirty
    // set may still list it until the next flush, so make the copy without asking again.
    if (retry || (!is_dirty(k) && !has_dirty(k))) {
      const int rc = create_dirty_copy(k, loader);
      if (rc < 0) return rc;
    }
    const int rc = modify_dirty_in_place(k, [&](Block& b) { return b.store->write(b.slot, offset, src, len); });
    if (rc != 0) return rc < 0 ? rc : 0;
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
  if (b->dirty()) {
    if (b->store->read(b->slot, offset, dst, len) != 0) return false;
  } else {
    std::memcpy(dst, b->data.data() + offset, len);
  }
  read_hits_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

// Each dirty block is read out of tmpfs into a new vector (the clean block from then on),
// handed to the sink, and its tmpfs pages are punched away.
int BaselinePool::flush_file(std::uint64_t file, const FlushSink& sink) {
  std::vector<std::pair<std::uint64_t, std::shared_ptr<Block>>> todo;
  {
    std::lock_guard<CountedMutex> g(mu_);
    auto it = dirty_.find(file);
    if (it == dirty_.end()) return 0;
    for (std::uint64_t c : it->second) {
      auto b = map_.find(Key{file, c});
      if (b != map_.end()) todo.emplace_back(c, b->second);  // else: a stale entry, evicted clean
    }
    dirty_.erase(it);
  }
  int err = 0;
  for (auto& [chunk, b] : todo) {
    std::int64_t freed = -1;
    {
      std::unique_lock<CountedSharedMutex> w(b->rw);
      if (!b->dirty()) continue;
      std::vector<std::uint8_t> clean(chunk_size_);
      err = b->store->read(b->slot, 0, clean.data(), chunk_size_);
      if (err == 0) err = sink(chunk, reinterpret_cast<const std::byte*>(clean.data()), chunk_size_);
      if (err == 0) {
        b->data = std::move(clean);
        freed = b->slot;
        b->slot = -1;
        b->store->punch(freed);
      }
    }
    std::lock_guard<CountedMutex> g(mu_);
    if (err != 0) {
      dirty_[file].insert(chunk);
      continue;
    }
    b->store->give_back_locked(freed);
    flushed_.fetch_add(1, std::memory_order_relaxed);
    auto it = map_.find(Key{file, chunk});
    if (it != map_.end() && it->second == b && !b->in_lru && !b->dirty()) {
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
