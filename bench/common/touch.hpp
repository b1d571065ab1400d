// Writing and verifying object contents. Every workload writes the memory it gets and
// reads it back before freeing it, so no allocation can be optimised away and a broken
// allocator (two live objects overlapping, a freed object handed out twice) shows up as
// a corrupt count or a checksum that differs from the other allocators'.
//
// The pattern depends only on (tag, offset), never on addresses, so the checksum is the
// same under every allocator. Checksums are sums mod 2^64: the order in which objects are
// verified (which differs between threads and runs) does not change them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace hakbench {

constexpr size_t kPage = 4096;

enum class TouchMode {
  Sparse,  // first word, last word, and one word per 4 KiB page in between
  Full,    // every byte, at memset speed: a fill byte derived from the tag, then the tag's
           // pattern in the first and last word (what tells two overlapping objects apart)
};

inline unsigned char fill_byte(uint64_t tag) { return static_cast<unsigned char>(tag * 0x9d); }

inline uint64_t pattern_word(uint64_t tag, size_t offset) {
  return (tag ^ (offset * 0x9e3779b97f4a7c15ULL)) + offset;
}

namespace detail {
inline void put(unsigned char* p, size_t size, size_t off, uint64_t tag) {
  uint64_t w = pattern_word(tag, off);
  std::memcpy(p + off, &w, size - off < 8 ? size - off : 8);
}
inline uint64_t get(const unsigned char* p, size_t size, size_t off, uint64_t tag,
                    uint64_t& bad) {
  uint64_t want = pattern_word(tag, off);
  uint64_t got = 0;
  const size_t n = size - off < 8 ? size - off : 8;
  std::memcpy(&got, p + off, n);
  if (n < 8) want &= (uint64_t{1} << (8 * n)) - 1;
  bad += got != want;
  return got;
}
}  // namespace detail

// Writes the pattern for `tag` into the object [p, p+size).
inline void touch(void* ptr, size_t size, uint64_t tag, TouchMode mode = TouchMode::Sparse) {
  auto* p = static_cast<unsigned char*>(ptr);
  if (size == 0) return;
  if (mode == TouchMode::Full) {
    // memset, not a per-word pattern: a workload that measures first-touch cost (cold
    // start) must not be bounded by computing its own pattern (that cost 75 instructions
    // per 64-byte object, about as much as the page faults it was measuring).
    std::memset(p, fill_byte(tag), size);
    detail::put(p, size, 0, tag);
    if (size >= 16) detail::put(p, size, size - 8, tag);
    return;
  }
  detail::put(p, size, 0, tag);
  for (size_t off = kPage; off + 16 <= size; off += kPage) detail::put(p, size, off, tag);
  if (size >= 16) detail::put(p, size, size - 8, tag);
}

// Reads back what touch() wrote; returns the sum of the words read and adds the number of
// words that differ from the pattern to `bad`.
inline uint64_t verify(const void* ptr, size_t size, uint64_t tag, uint64_t& bad,
                       TouchMode mode = TouchMode::Sparse) {
  const auto* p = static_cast<const unsigned char*>(ptr);
  if (size == 0) return 0;
  uint64_t sum = 0;
  if (mode == TouchMode::Full) {
    sum += detail::get(p, size, 0, tag, bad);
    size_t end = size >= 16 ? size - 8 : size;
    const unsigned char f = fill_byte(tag);
    uint64_t fill_word;
    std::memset(&fill_word, f, 8);
    size_t off = 8;
    for (; off + 8 <= end; off += 8) {
      uint64_t w;
      std::memcpy(&w, p + off, 8);
      bad += w != fill_word;
      sum += w;
    }
    for (; off < end; ++off) {
      bad += p[off] != f;
      sum += p[off];
    }
    if (size >= 16) sum += detail::get(p, size, size - 8, tag, bad);
    return sum;
  }
  sum += detail::get(p, size, 0, tag, bad);
  for (size_t off = kPage; off + 16 <= size; off += kPage) {
    sum += detail::get(p, size, off, tag, bad);
  }
  if (size >= 16) sum += detail::get(p, size, size - 8, tag, bad);
  return sum;
}

}  // namespace hakbench
