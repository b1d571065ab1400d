// Where pool blocks come from: hakmem's block API, plus a free cache of recycled blocks.
//
// hak_block_alloc returns page-aligned blocks out of populated (pre-faulted) SuperSlab
// spans, so the first write into a fresh block does not page-fault. Blocks freed by the
// pool (evicted, truncated, dropped) go to a bounded free cache first, so the steady state
// recycles already-touched memory and never goes back to the allocator at all.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "vfs_pool/counted_mutex.h"

namespace hakmem::vfs {

class BlockSource {
 public:
  BlockSource(std::size_t block_size, std::size_t cache_blocks);
  ~BlockSource();
  BlockSource(const BlockSource&) = delete;
  BlockSource& operator=(const BlockSource&) = delete;

  // A block of block_size() bytes (contents unspecified), or nullptr when out of memory.
  std::byte* allocate();
  void release(std::byte* block);

  std::size_t block_size() const { return block_size_; }
  std::uint64_t live() const { return live_.load(std::memory_order_relaxed); }
  std::uint64_t live_bytes() const { return live() * block_size_; }
  std::uint64_t peak_live() const { return peak_.load(std::memory_order_relaxed); }
  std::uint64_t cached() const;
  std::uint64_t hak_allocs() const { return hak_allocs_.load(std::memory_order_relaxed); }
  std::uint64_t hak_frees() const { return hak_frees_.load(std::memory_order_relaxed); }
  std::uint64_t reused() const { return reused_.load(std::memory_order_relaxed); }
  LockStats lock_stats() const { return mu_.stats(); }

 private:
  const std::size_t block_size_;
  const std::size_t cache_cap_;
  mutable CountedMutex mu_;
  std::vector<std::byte*> free_;  // guarded by mu_; capacity reserved up front
  std::atomic<std::uint64_t> live_{0};
  std::atomic<std::uint64_t> peak_{0};
  std::atomic<std::uint64_t> hak_allocs_{0};
  std::atomic<std::uint64_t> hak_frees_{0};
  std::atomic<std::uint64_t> reused_{0};
};

}  // namespace hakmem::vfs
