// Request size -> size class. Up to 1 KiB one table lookup; up to 32 KiB a few bit
// operations (no loops, no divisions).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "unified_cache/size_classes.hpp"
#include "unified_cache/thread_cache.hpp"

namespace hakmem {

inline constexpr std::array<std::uint8_t, kTinyMax / 16 + 1> kTinyClass = [] {
  std::array<std::uint8_t, kTinyMax / 16 + 1> t{};
  unsigned cls = 0;
  for (unsigned i = 0; i < t.size(); ++i) {
    std::size_t size = i * 16;
    while (kClassSize[cls] < size) ++cls;
    t[i] = static_cast<std::uint8_t>(cls);
  }
  return t;
}();

// kTinyBinOffsets (thread_cache.hpp) is the same map, per byte of n, to each class's bin.
static_assert([] {
  for (unsigned n = 0; n <= kTinyMax; ++n)
    if (kTinyBinOffsets[n] != bin_offset(kTinyClass[(n + 15) >> 4])) return false;
  return true;
}());

// For 128 < n <= kSmallMax (size_classes.hpp): n lies in (2^b, 2^(b+1)]; its step within
// the doubling is the next 3 (or, between 1 and 8 KiB, 4) bits of n - 1.
constexpr __attribute__((always_inline)) unsigned class_of_medium(std::size_t n) {
  unsigned b = 63u - static_cast<unsigned>(__builtin_clzll(n - 1));
  if (b < 10) {
    unsigned k = static_cast<unsigned>((n - 1) >> (b - 3)) - 7;  // 1..8
    return kFirstClassTo1K + (b - 7) * 8 + k - 1;
  }
  if (b < 13) {
    unsigned k = static_cast<unsigned>((n - 1) >> (b - 4)) - 15;  // 1..16
    return kFirstClassTo8K + (b - 10) * 16 + k - 1;
  }
  unsigned k = static_cast<unsigned>((n - 1) >> (b - 3)) - 7;  // 1..8
  return kFirstClassTo32K + (b - 13) * 8 + k - 1;
}

// Every size maps to the smallest class that holds it (checked at compile time on the
// boundaries, by the unit tests on every size).
static_assert([] {
  for (unsigned c = kFirstClassTo1K; c < kNumClasses; ++c) {
    std::size_t s = kClassSize[c];
    if (class_of_medium(s) != c || class_of_medium(kClassSize[c - 1] + 1) != c) return false;
  }
  return true;
}());

constexpr unsigned class_of(std::size_t n) {
  return n <= kTinyMax ? kTinyClass[(n + 15) >> 4] : class_of_medium(n);
}

// The smallest class that holds n bytes and whose size is a multiple of align (a power of
// two <= kSmallMax); objects of such a class are align-aligned (see superslab.hpp).
constexpr unsigned class_of_aligned(std::size_t n, std::size_t align) {
  std::size_t m = (n + align - 1) & ~(align - 1);
  if (m == 0) m = align;
  unsigned cls = class_of(m);
  while (kClassSize[cls] % align != 0) ++cls;
  return cls;
}

}  // namespace hakmem
