// The slab size classes (the cache keeps one bin per class, so the table lives in this
// layer; allocator/size_class_lookup.hpp maps request sizes onto it).
//
// 16..128 in steps of 16, then 8 classes per doubling up to 32 KiB: above 128 B a request
// wastes at most 1/9 (11.1%) of its block; below, at most 15 bytes. All sizes are multiples
// of 16, so every object is 16-byte aligned, and every power of two is a class, so aligned
// requests up to 32 KiB can use a class whose size the alignment divides.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace hakmem {

inline constexpr unsigned kNumClasses = 72;
inline constexpr std::size_t kSmallMax = 32768;  // largest slab object
inline constexpr std::size_t kTinyMax = 1024;    // sizes resolved by one table lookup

constexpr std::uint32_t class_size_compute(unsigned cls) {
  if (cls < 8) return 16 * (cls + 1);
  unsigned group = (cls - 8) / 8;  // doubling: (128 << group, 256 << group]
  unsigned k = (cls - 8) % 8 + 1;
  std::uint32_t base = 128u << group;
  return base + k * (base / 8);
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
inline constexpr std::uint32_t kTotalBinSlots = [] {
  std::uint32_t t = 0;
  for (unsigned c = 0; c < kNumClasses; ++c) t += class_bin_capacity(c);
  return t;
}();

}  // namespace hakmem
