// Helpers of the internal unit tests: a SuperSlab of the test's own (mapped through the OS
// layer, 2 MiB aligned, never seen by the allocator's pool or registry).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>

#include "superslab/os.hpp"
#include "superslab/superslab.hpp"
#include "unified_cache/size_classes.hpp"

namespace hakt_internal {

// The slab class whose objects are exactly `size` bytes; kNumClasses if none is.
inline unsigned class_of_size(std::uint32_t size) {
  for (unsigned c = 0; c < hakmem::kNumClasses; ++c) {
    if (hakmem::kClassSize[c] == size) return c;
  }
  return hakmem::kNumClasses;
}

// Largest power of two dividing n (n > 0).
constexpr std::uint32_t low_bit(std::uint32_t n) { return n & (~n + 1); }

class OwnSuperSlab {
 public:
  OwnSuperSlab() {
    mem_ = hakmem::os::map_aligned(hakmem::kSuperSlabSize, hakmem::kSuperSlabSize);
    if (mem_) reset();
  }
  ~OwnSuperSlab() {
    if (mem_) hakmem::os::unmap(mem_, hakmem::kSuperSlabSize);
  }
  OwnSuperSlab(const OwnSuperSlab&) = delete;
  OwnSuperSlab& operator=(const OwnSuperSlab&) = delete;

  // A fresh small-object header, owned by a dummy heap.
  void reset() { hakmem::superslab_init_small(get(), &owner_); }
  hakmem::SuperSlab* get() const { return static_cast<hakmem::SuperSlab*>(mem_); }
  char* base() const { return static_cast<char*>(mem_); }
  bool ok() const { return mem_ != nullptr; }

 private:
  void* mem_ = nullptr;
  int owner_ = 0;
};

}  // namespace hakt_internal
