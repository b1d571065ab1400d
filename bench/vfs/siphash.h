// SipHash-1-3 (the hasher behind Rust's std HashMap, which the profiled daemon used),
// over a 16-byte key, with per-map random keys like Rust's RandomState. For the baseline only.
#pragma once

#include <cstdint>

namespace hakmem::vfs::baseline {

inline std::uint64_t rotl(std::uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

struct SipState {
  std::uint64_t v0, v1, v2, v3;
  void round() {
    v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);
    v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;
    v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;
    v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);
  }
};

inline std::uint64_t siphash13_2words(std::uint64_t k0, std::uint64_t k1, std::uint64_t m0,
                                      std::uint64_t m1) {
  SipState s{k0 ^ 0x736f6d6570736575ULL, k1 ^ 0x646f72616e646f6dULL,
             k0 ^ 0x6c7967656e657261ULL, k1 ^ 0x7465646279746573ULL};
  for (std::uint64_t m : {m0, m1}) {
    s.v3 ^= m;
    s.round();  // c = 1 compression round
    s.v0 ^= m;
  }
  const std::uint64_t last = 16ULL << 56;  // message length in the top byte, no tail bytes
  s.v3 ^= last;
  s.round();
  s.v0 ^= last;
  s.v2 ^= 0xff;
  s.round();  // d = 3 finalisation rounds
  s.round();
  s.round();
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

}  // namespace hakmem::vfs::baseline
