// Page bitmaps of a span SuperSlab (span.cpp): one bit per 4 KiB page, pure functions so the
// run search can be tested on bitmaps built by hand (tests/internal/span_bitmap_test.cpp).
#pragma once

#include <algorithm>
#include <cstdint>

#include "superslab/os.hpp"
#include "superslab/superslab.hpp"

namespace hakmem::span_bits {

inline constexpr unsigned kPages = kSuperSlabSize / os::kPageSize;            // 512
inline constexpr unsigned kFirstPage = kSuperSlabHeaderSize / os::kPageSize;  // 2: the header
inline constexpr unsigned kWords = kPages / 64;

inline bool test(const std::uint64_t* bits, unsigned i) { return (bits[i / 64] >> (i % 64)) & 1; }
inline void set_range(std::uint64_t* bits, unsigned from, unsigned n, bool value) {
  for (unsigned i = from; i < from + n; ++i) {
    if (value) bits[i / 64] |= std::uint64_t{1} << (i % 64);
    else bits[i / 64] &= ~(std::uint64_t{1} << (i % 64));
  }
}
inline bool any(const std::uint64_t* bits, unsigned from, unsigned n) {
  for (unsigned i = from; i < from + n; ++i) if (test(bits, i)) return true;
  return false;
}
inline bool all(const std::uint64_t* bits, unsigned from, unsigned n) {
  for (unsigned i = from; i < from + n; ++i) if (!test(bits, i)) return false;
  return true;
}
// First set bit in [from, to), or `to`.
inline unsigned next_set(const std::uint64_t* bits, unsigned from, unsigned to) {
  for (unsigned i = from; i < to;) {
    std::uint64_t w = bits[i / 64] >> (i % 64);
    if (w) return std::min(to, i + static_cast<unsigned>(__builtin_ctzll(w)));
    i = (i / 64 + 1) * 64;
  }
  return to;
}
// First clear bit in [from, to), or `to`: skips a used run a word at a time.
inline unsigned next_clear(const std::uint64_t* bits, unsigned from, unsigned to) {
  for (unsigned i = from; i < to;) {
    std::uint64_t w = ~bits[i / 64] >> (i % 64);
    if (w) return std::min(to, i + static_cast<unsigned>(__builtin_ctzll(w)));
    i = (i / 64 + 1) * 64;
  }
  return to;
}
// One past the last set bit in [0, to), or 0 if none is set.
inline unsigned prev_set_end(const std::uint64_t* bits, unsigned to) {
  for (unsigned i = to; i > 0;) {
    unsigned w_index = (i - 1) / 64;
    unsigned used_bits = i - w_index * 64;  // bits of this word below i: 1..64
    std::uint64_t w = bits[w_index];
    if (used_bits < 64) w &= (std::uint64_t{1} << used_bits) - 1;
    if (w) return w_index * 64 + 64 - static_cast<unsigned>(__builtin_clzll(w));
    i = w_index * 64;
  }
  return 0;
}
// The clear run holding [from, from + n) (which the caller has just cleared): its length.
inline unsigned clear_run_around(const std::uint64_t* bits, unsigned from, unsigned n) {
  return next_set(bits, from + n, kPages) - prev_set_end(bits, from);
}
// First page p >= kFirstPage, a multiple of align_pages, with [p, p + need) all clear in
// `used` (a kPages-bit map); -1 if there is none. First fit: the lowest such page.
inline int find_run(const std::uint64_t* used, unsigned need, unsigned align_pages) {
  unsigned p = (kFirstPage + align_pages - 1) / align_pages * align_pages;
  while (p + need <= kPages) {
    unsigned blocker = next_set(used, p, p + need);
    if (blocker == p + need) return static_cast<int>(p);
    // Skip past the used run that blocked us.
    unsigned q = next_clear(used, blocker, kPages);
    p = (q + align_pages - 1) / align_pages * align_pages;
  }
  return -1;
}

}  // namespace hakmem::span_bits
