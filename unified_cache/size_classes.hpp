// The slab size classes (the cache keeps one bin per class, so the table lives in this
// layer; allocator/size_class_lookup.hpp maps request sizes onto it).
//
// 16..128 in steps of 16; 8 classes per doubling up to 1 KiB; 16 per doubling from 1 KiB to
// 8 KiB; 8 per doubling again up to 32 KiB. A request wastes at most 1/9 (11.1%) of its
// block, at most 1/17 (5.9%) between 1 and 8 KiB, and below 128 B at most 15 bytes. The
// finer steps are where real programs keep their bulk: a power-of-two buffer plus a small
// header (a 1 KiB value and its header in redis, sqlite3's 1 KiB and 4 KiB pages and their
// headers) took the next 1/8 step, 1152 for 1031 bytes; it now takes 1088. All sizes are
// multiples of 16, so every object is 16-byte aligned, and every power of two is a class,
// so aligned requests up to 32 KiB can use a class whose size the alignment divides.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace hakmem {

inline constexpr unsigned kNumClasses = 96;
inline constexpr std::size_t kSmallMax = 32768;  // largest slab object
inline constexpr std::size_t kTinyMax = 1024;    // sizes resolved by one table lookup
// First class of each region above 128 B (see class_of_medium in allocator/).
inline constexpr unsigned kFirstClassTo1K = 8;    // (128, 1024]: 8 per doubling
inline constexpr unsigned kFirstClassTo8K = 32;   // (1024, 8192]: 16 per doubling
inline constexpr unsigned kFirstClassTo32K = 80;  // (8192, 32768]: 8 per doubling

constexpr std::uint32_t class_size_compute(unsigned cls) {
  if (cls < kFirstClassTo1K) return 16 * (cls + 1);
  if (cls < kFirstClassTo8K) {
    unsigned i = cls - kFirstClassTo1K;
    std::uint32_t base = 128u << (i / 8);
    return base + (i % 8 + 1) * (base / 8);
  }
  if (cls < kFirstClassTo32K) {
    unsigned i = cls - kFirstClassTo8K;
    std::uint32_t base = 1024u << (i / 16);
    return base + (i % 16 + 1) * (base / 16);
  }
  unsigned i = cls - kFirstClassTo32K;
  std::uint32_t base = 8192u << (i / 8);
  return base + (i % 8 + 1) * (base / 8);
}

inline constexpr std::array<std::uint32_t, kNumClasses> kClassSize = [] {
  std::array<std::uint32_t, kNumClasses> a{};
  for (unsigned c = 0; c < kNumClasses; ++c) a[c] = class_size_compute(c);
  return a;
}();
static_assert(kClassSize[kNumClasses - 1] == kSmallMax);

// Objects a thread may keep per class: more for small objects, few for big ones.
constexpr std::uint32_t class_bin_capacity(unsigned cls) {
  std::uint32_t s = kClassSize[cls];
  if (s <= 1024) return 128;
  if (s <= 4096) return 32;
  if (s <= 16384) return 16;
  return 8;
}

// Objects one refill moves into an empty bin: half the bin, but at most about 16 KiB of
// objects (at least 2). Refill writes a tag into every object it hands over, so the batch
// is memory the process touches: a program that asks for one 1 KiB object should not get
// 64 KiB resident.
constexpr std::uint32_t class_refill_batch(unsigned cls) {
  std::uint32_t half = class_bin_capacity(cls) / 2;
  std::uint32_t by_bytes = 16384 / kClassSize[cls];
  if (by_bytes < 2) by_bytes = 2;
  return half < by_bytes ? half : by_bytes;
}
// ---- Medium classes: (kSmallMax, kMediumMax], page spans kept in a per-thread cache ------
// 8 per doubling, like the slab classes above 8 KiB: 36, 40, ..., 64 KiB, 72, ..., 128 KiB,
// 144, ..., 256 KiB. Every one is a whole number of 4 KiB pages, so a span of a class's size
// has no tail waste and the span's length alone names its class on free. A request wastes
// at most 1/9 of its block. Beyond kMediumMax spans are carved per call (up to
// kSpanMaxBytes) or mapped whole (allocator/large.cpp). Why 256 KiB: PERF_NOTES.md,
// "Medium objects".
inline constexpr std::size_t kMediumMax = std::size_t{256} << 10;
inline constexpr unsigned kNumMediumClasses = 24;

constexpr std::uint32_t medium_class_size(unsigned m) {
  std::uint32_t base = static_cast<std::uint32_t>(kSmallMax) << (m / 8);
  return base + (m % 8 + 1) * (base / 8);
}
static_assert(medium_class_size(kNumMediumClasses - 1) == kMediumMax);

// For kSmallMax < n <= kMediumMax: the next 3 bits of n - 1 below its top bit.
constexpr unsigned medium_class_of(std::size_t n) {
  unsigned b = 63u - static_cast<unsigned>(__builtin_clzll(n - 1));  // 15..17
  unsigned k = static_cast<unsigned>((n - 1) >> (b - 3)) - 7;          // 1..8
  return (b - 15) * 8 + k - 1;
}
static_assert([] {
  for (unsigned m = 0; m < kNumMediumClasses; ++m) {
    std::size_t lo = m == 0 ? kSmallMax + 1 : medium_class_size(m - 1) + 1;
    if (medium_class_of(lo) != m || medium_class_of(medium_class_size(m)) != m) return false;
    if (medium_class_size(m) % 4096 != 0) return false;
  }
  return true;
}());

// Blocks a thread keeps per medium class: about 1 MiB of them (at least 4), so a thread that
// frees and reallocates a working set of medium buffers never goes to the span lock, while
// an idle thread holds at most kMediumCacheBudget.
constexpr std::uint32_t medium_bin_capacity(unsigned m) {
  std::uint32_t by_bytes = (1u << 20) / medium_class_size(m);
  return by_bytes < 4 ? 4 : by_bytes;
}
// One refill or flush moves half a bin under one span-lock acquisition.
constexpr std::uint32_t medium_batch(unsigned m) { return medium_bin_capacity(m) / 2; }
inline constexpr std::uint32_t kMediumSlots = [] {
  std::uint32_t t = 0;
  for (unsigned m = 0; m < kNumMediumClasses; ++m) t += medium_bin_capacity(m);
  return t;
}();
// Bytes of medium blocks one thread may keep cached over all classes; a free beyond it goes
// straight back to the span allocator.
inline constexpr std::size_t kMediumCacheBudget = std::size_t{4} << 20;

// Where class c's bin starts in a heap's slots (the bins are consecutive, in class order).
inline constexpr std::array<std::uint32_t, kNumClasses> kBinSlotOffset = [] {
  std::array<std::uint32_t, kNumClasses> a{};
  std::uint32_t slot = 0;
  for (unsigned c = 0; c < kNumClasses; ++c) {
    a[c] = slot;
    slot += class_bin_capacity(c);
  }
  return a;
}();

inline constexpr std::uint32_t kTotalBinSlots = [] {
  std::uint32_t t = 0;
  for (unsigned c = 0; c < kNumClasses; ++c) t += class_bin_capacity(c);
  return t;
}();

}  // namespace hakmem
