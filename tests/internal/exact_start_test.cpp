// allocator/fast_path.hpp: free's exact-start check (small_object_valid), a multiply by a
// precomputed inverse in place of a division. For every class, a slab is carved and every
// offset of the slab's units and of the free units around it is checked against the
// definition: valid exactly at object starts inside [start, start + capacity * size).
#include <gtest/gtest.h>

#include "allocator/fast_path.hpp"
#include "internal_support.hpp"

#include <algorithm>

namespace {

using namespace hakmem;
using hakt_internal::OwnSuperSlab;

TEST(ExactStart, EveryOffsetOfEveryClass) {
  OwnSuperSlab own;
  ASSERT_TRUE(own.ok());
  for (unsigned cls = 0; cls < kNumClasses; ++cls) {
    own.reset();
    SuperSlab* ss = own.get();
    const std::uint32_t size = kClassSize[cls];
    Slab* s = superslab_carve_slab(ss, cls, size, false, bin_offset(cls));
    ASSERT_NE(s, nullptr);
    const auto start = static_cast<std::uint32_t>(s->start - own.base());
    const std::uint32_t bytes = s->capacity * size;
    // The slab's units, and one free unit on each side (no object starts there).
    const unsigned lo_unit = s->first_unit == 0 ? 0 : s->first_unit - 1;
    const unsigned hi_unit = std::min(kUnitsPerSuperSlab, s->first_unit + s->units + 1u);
    std::uint64_t valid = 0;
    for (std::uint32_t off = lo_unit * kUnitSize; off < hi_unit * kUnitSize; ++off) {
      const bool expect = off >= start && off - start < bytes && (off - start) % size == 0;
      const bool got = small_object_valid(ss->geometry[off >> kUnitShift], off);
      if (got != expect) {
        FAIL() << "class " << cls << " (" << size << " B), offset " << off << ": got " << got
               << ", expected " << expect;
      }
      valid += got;
    }
    EXPECT_EQ(valid, s->capacity) << "class " << cls;
    // The pointer form, as free() calls it.
    EXPECT_TRUE(small_object_valid(ss, s->start, s->first_unit));
    EXPECT_TRUE(small_object_valid(ss, s->limit - size, unit_of(s->limit - size)));
    EXPECT_FALSE(small_object_valid(ss, s->limit, unit_of(s->limit - 1)));
    EXPECT_FALSE(small_object_valid(ss, s->start + 8, s->first_unit));
  }
}

TEST(ExactStart, FreeUnitsAndTheHeaderAreNeverValid) {
  OwnSuperSlab own;
  ASSERT_TRUE(own.ok());
  SuperSlab* ss = own.get();
  for (std::uint32_t off = 0; off < kSuperSlabSize; off += 16) {
    ASSERT_FALSE(small_object_valid(ss->geometry[off >> kUnitShift], off)) << off;
  }
  Slab* s = superslab_carve_slab(ss, 0, kClassSize[0], false, 0);
  ASSERT_NE(s, nullptr);
  ASSERT_EQ(s->first_unit, 0u);
  for (std::uint32_t off = 0; off < kSuperSlabHeaderSize; ++off) {
    ASSERT_FALSE(small_object_valid(ss->geometry[0], off)) << "header offset " << off;
  }
  // Released: the unit's starts are no longer valid.
  superslab_release_slab(ss, s);
  EXPECT_FALSE(small_object_valid(ss->geometry[0], kSuperSlabHeaderSize));
}

}  // namespace
