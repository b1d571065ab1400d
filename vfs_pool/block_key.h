// The pool's key: (file id, chunk index), and the cheap integer mix that hashes it.
//
// The profiled design hashed these trusted integer keys with SipHash (DoS-resistant, ~20 ns
// and two cache lines of state per call). Keys here come from the daemon itself, never from
// an attacker, so a multiply-xorshift finaliser (murmur3's fmix64) is enough: two
// multiplications, full avalanche, and the high bits pick the shard.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hakmem::vfs {

using FileId = std::uint64_t;  // an inode number or a content id, chosen by the caller

struct BlockKey {
  FileId file;
  std::uint64_t chunk;  // chunk index within the file (byte offset / chunk size)

  friend bool operator==(const BlockKey&, const BlockKey&) = default;
};

// murmur3 fmix64: a bijection on 64-bit integers with good avalanche.
constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

constexpr std::uint64_t hash_key(const BlockKey& k) noexcept {
  // The golden-ratio multiply spreads the file id before it meets the chunk index, so
  // (file, chunk) and (chunk, file) do not collide.
  return mix64(k.file * 0x9E3779B97F4A7C15ULL ^ k.chunk);
}

struct BlockKeyHash {
  std::size_t operator()(const BlockKey& k) const noexcept {
    return static_cast<std::size_t>(hash_key(k));
  }
};

}  // namespace hakmem::vfs
