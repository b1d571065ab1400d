// Deterministic pseudo-random numbers: the same seed gives the same sequence under every
// allocator, so every allocator does the same work and computes the same checksum.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hakbench {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// xorshift64*: small state, fast, good enough for choosing slots and sizes.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(splitmix64(seed) | 1) {}
  uint64_t next() {
    s_ ^= s_ >> 12;
    s_ ^= s_ << 25;
    s_ ^= s_ >> 27;
    return s_ * 0x2545f4914f6cdd1dULL;
  }
  // Uniform-ish in [0, n) without a division (multiply-shift).
  uint64_t below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
  }
  // Uniform-ish in [lo, hi].
  size_t range(size_t lo, size_t hi) { return lo + below(hi - lo + 1); }

 private:
  uint64_t s_;
};

}  // namespace hakbench
