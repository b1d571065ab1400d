// Blocks for the stress tests: each carries its size and seed in its first 16 bytes and a
// pattern after, so any thread (or a forked child) can verify a block it did not make.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/api.hpp"
#include "common/test_support.hpp"

namespace hakt_stress {

using hakt::KiB;
using hakt::MiB;

struct Header {
  std::uint64_t size;
  std::uint64_t seed;
};

using hakt::Rng;

inline std::size_t random_size(Rng& r) {
  std::uint64_t b = r.below(1000);
  if (b == 0) return 1 * MiB + r.below(3 * MiB);  // own mappings
  if (b < 20) return 32 * KiB + r.below(1 * MiB);  // spans
  if (b < 150) return 1 * KiB + r.below(31 * KiB);
  return 16 + r.below(1008);
}

inline void* make_block(Rng& r, std::size_t size, std::uint64_t seed) {
  void* p;
  switch (r.below(5)) {
    case 0: p = api::calloc(1, size); break;
    case 1: p = api::aligned_alloc(std::size_t{16} << r.below(8), size); break;
    case 2: p = api::memalign(std::size_t{1} << (4 + r.below(10)), size); break;
    default: p = api::malloc(size); break;
  }
  if (!p) return nullptr;
  auto* h = static_cast<Header*>(p);
  h->size = size;
  h->seed = seed;
  hakt::fill(static_cast<char*>(p) + sizeof(Header), size - sizeof(Header), seed);
  return p;
}

inline bool verify(const void* p) {
  const auto* h = static_cast<const Header*>(p);
  return hakt::check(static_cast<const char*>(p) + sizeof(Header), h->size - sizeof(Header),
                     h->seed) == SIZE_MAX;
}

}  // namespace hakt_stress
