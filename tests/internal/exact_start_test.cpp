// superslab/superslab.hpp: free's exact-start check (object_start_valid, which
// small_object_valid in allocator/fast_path.hpp applies), one multiply and one compare that
// must cover both "inside the slab" and "at an object start". For every class, a slab is
// carved and every byte offset of the whole SuperSlab is checked against the definition:
// valid exactly at object starts inside [start, start + capacity * size). That covers every
// rel = p - first the fast path can meet (|rel| < 2 MiB), which the proof in
// UnitGeometry's comment relies on.
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
    // Against the slab's own geometry at every offset (the arithmetic, for every rel), and
    // against the geometry of the unit the offset lies in (what free() reads).
    const UnitGeometry& own_geo = ss->geometry[s->first_unit];
    std::uint64_t valid = 0;
    for (std::uint32_t off = 0; off < kSuperSlabSize; ++off) {
      const bool expect = off >= start && off - start < bytes && (off - start) % size == 0;
      const char* p = own.base() + off;
      if (object_start_valid(own_geo, p) != expect) {
        FAIL() << "class " << cls << " (" << size << " B), offset " << off << ": arithmetic says "
               << !expect;
      }
      const bool got = object_start_valid(ss->geometry[off >> kUnitShift], p);
      if (got != expect) {
        FAIL() << "class " << cls << " (" << size << " B), offset " << off << ": got " << got
               << ", expected " << expect;
      }
      valid += got;
    }
    EXPECT_EQ(valid, s->capacity) << "class " << cls;
    // The pointer form, as free() calls it.
    EXPECT_TRUE(small_object_valid(s->start));
    EXPECT_TRUE(small_object_valid(s->limit - size));
    EXPECT_FALSE(small_object_valid(s->limit));
    EXPECT_FALSE(small_object_valid(s->start + 8));
  }
}

TEST(ExactStart, FreeUnitsAndTheHeaderAreNeverValid) {
  OwnSuperSlab own;
  ASSERT_TRUE(own.ok());
  SuperSlab* ss = own.get();
  for (std::uint32_t off = 0; off < kSuperSlabSize; off += 16) {
    ASSERT_FALSE(object_start_valid(ss->geometry[off >> kUnitShift], own.base() + off)) << off;
  }
  Slab* s = superslab_carve_slab(ss, 0, kClassSize[0], false, 0);
  ASSERT_NE(s, nullptr);
  ASSERT_EQ(s->first_unit, 0u);
  for (std::uint32_t off = 0; off < kSuperSlabHeaderSize; ++off) {
    ASSERT_FALSE(object_start_valid(ss->geometry[0], own.base() + off)) << "header offset " << off;
  }
  // Released: the unit's starts are no longer valid.
  superslab_release_slab(ss, s);
  EXPECT_FALSE(object_start_valid(ss->geometry[0], own.base() + kSuperSlabHeaderSize));
}

}  // namespace
