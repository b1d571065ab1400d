#include "vfs_pool/block_source.h"

#include <mutex>

#include "hakmem/hakmem.h"

namespace hakmem::vfs {

BlockSource::BlockSource(std::size_t block_size, std::size_t cache_blocks)
    : block_size_(block_size), cache_cap_(cache_blocks) {
  free_.reserve(cache_cap_);
}

BlockSource::~BlockSource() {
  for (std::byte* b : free_) hak_block_free(b);
}

std::byte* BlockSource::allocate() {
  std::byte* b = nullptr;
  {
    std::lock_guard<CountedMutex> g(mu_);
    if (!free_.empty()) {
      b = free_.back();
      free_.pop_back();
    }
  }
  if (b != nullptr) {
    reused_.fetch_add(1, std::memory_order_relaxed);
  } else {
    b = static_cast<std::byte*>(hak_block_alloc(block_size_));
    if (b == nullptr) return nullptr;
    hak_allocs_.fetch_add(1, std::memory_order_relaxed);
  }
  const std::uint64_t now = live_.fetch_add(1, std::memory_order_relaxed) + 1;
  std::uint64_t peak = peak_.load(std::memory_order_relaxed);
  while (now > peak && !peak_.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
  return b;
}

void BlockSource::release(std::byte* block) {
  if (block == nullptr) return;
  live_.fetch_sub(1, std::memory_order_relaxed);
  {
    std::lock_guard<CountedMutex> g(mu_);
    if (free_.size() < cache_cap_) {
      free_.push_back(block);
      return;
    }
  }
  hak_block_free(block);
  hak_frees_.fetch_add(1, std::memory_order_relaxed);
}

std::uint64_t BlockSource::cached() const {
  std::lock_guard<std::mutex> g(mu_.uncounted());
  return free_.size();
}

}  // namespace hakmem::vfs
