// superslab/superslab.cpp: carving slabs out of a SuperSlab's units and releasing them, the
// per-unit bookkeeping free() reads (unit_info, geometry), and the registry.
#include <gtest/gtest.h>

#include <vector>

#include "internal_support.hpp"
#include "superslab/registry.hpp"
#include "superslab/superslab.hpp"
#include "unified_cache/size_classes.hpp"

namespace {

using namespace hakmem;
using hakt_internal::low_bit;
using hakt_internal::OwnSuperSlab;

unsigned class_with_size(std::uint32_t size) {
  for (unsigned c = 0; c < kNumClasses; ++c)
    if (kClassSize[c] == size) return c;
  ADD_FAILURE() << "no class of " << size << " bytes";
  return 0;
}

// The owner tag is arbitrary to this layer; a per-class value shows it is stored per unit.
std::uint32_t tag_of(unsigned cls) { return 1000u + cls; }
Slab* carve(SuperSlab* ss, unsigned cls, std::uint32_t allowed = kAllUnits) {
  return superslab_carve_slab(ss, cls, kClassSize[cls], false, tag_of(cls), allowed);
}

// Everything free() and refill read about a carved slab agrees with where it was carved.
void expect_slab_consistent(SuperSlab* ss, const Slab* s, unsigned cls) {
  const std::uint32_t size = kClassSize[cls];
  const unsigned first = s->first_unit;
  ASSERT_EQ(s, &ss->slabs[first]);
  EXPECT_EQ(s->units, slab_units_for(size));
  EXPECT_EQ(first % s->units, 0u) << "multi-unit slabs start at a multiple of their size";
  EXPECT_EQ(s->cls, cls);
  EXPECT_EQ(s->obj_size, size);
  EXPECT_EQ(s->state, SlabState::kActive);
  EXPECT_EQ(s->used, 0u);
  char* unit_begin = unit_address(ss, first);
  char* end = unit_begin + std::size_t{s->units} * kUnitSize;
  char* begin = first == 0 ? unit_begin + kSuperSlabHeaderSize : unit_begin;
  EXPECT_EQ(s->start, begin);
  EXPECT_EQ(s->bump, begin);
  EXPECT_EQ(s->capacity, static_cast<std::uint32_t>((end - begin) / size));
  EXPECT_GE(s->capacity, 8u) << "a slab holds at least 8 objects";
  EXPECT_EQ(s->limit, begin + std::size_t{s->capacity} * size);
  EXPECT_LT(end - s->limit, static_cast<std::ptrdiff_t>(size)) << "no room left for one more";
  EXPECT_EQ((begin - reinterpret_cast<char*>(ss)) % low_bit(size), 0)
      << "objects aligned to the largest power of two dividing the class size";
  for (unsigned u = first; u < first + s->units; ++u) {
    EXPECT_EQ((ss->free_units >> u) & 1, 0u) << "unit " << u;
    EXPECT_EQ(unit_info_first(ss->unit_info[u]), first);
    EXPECT_EQ(unit_info_class(ss->unit_info[u]), cls);
    EXPECT_EQ(ss->geometry[u].first, reinterpret_cast<std::uintptr_t>(begin));
    EXPECT_EQ(ss->geometry[u].magic * size * s->capacity, ss->geometry[u].limit)
        << "limit = capacity * (size * magic - 2^64)";
    EXPECT_NE(ss->geometry[u].limit, 0u);
    EXPECT_EQ(ss->geometry[u].owner_tag, tag_of(cls));
  }
}

TEST(SuperSlabCarve, EveryClassCarvesAConsistentSlab) {
  OwnSuperSlab own;
  ASSERT_TRUE(own.ok());
  for (unsigned cls = 0; cls < kNumClasses; ++cls) {
    own.reset();
    Slab* s = carve(own.get(), cls);
    ASSERT_NE(s, nullptr) << "class " << cls;
    expect_slab_consistent(own.get(), s, cls);
    // Small classes take unit 0 (after the header) first; larger ones never do.
    if (kClassSize[cls] <= kUnitZeroMaxObject) {
      EXPECT_EQ(s->first_unit, 0u) << "class " << cls;
    } else {
      EXPECT_NE(s->first_unit, 0u) << "class " << cls;
    }
  }
}

TEST(SuperSlabCarve, FillsEveryUnitThenRefuses) {
  OwnSuperSlab own;
  ASSERT_TRUE(own.ok());
  for (unsigned cls : {0u, 40u, class_with_size(4096), class_with_size(8192),
                       class_with_size(16384), kNumClasses - 1}) {
    own.reset();
    SuperSlab* ss = own.get();
    const unsigned units = slab_units_for(kClassSize[cls]);
    std::vector<Slab*> slabs;
    while (Slab* s = carve(ss, cls)) {
      expect_slab_consistent(ss, s, cls);
      for (Slab* other : slabs) EXPECT_NE(other, s);
      slabs.push_back(s);
      ASSERT_LE(slabs.size(), kUnitsPerSuperSlab);
    }
    // Unit 0 (shorter: the header) hosts classes up to 4 KiB only; multi-unit slabs skip its
    // whole aligned run.
    const unsigned expect = units == 1 ? kUnitsPerSuperSlab - (kClassSize[cls] > kUnitZeroMaxObject)
                                       : kUnitsPerSuperSlab / units - 1;
    EXPECT_EQ(slabs.size(), expect) << "class " << cls;
    EXPECT_FALSE(superslab_is_empty(ss));
    for (Slab* s : slabs) superslab_release_slab(ss, s);
    EXPECT_TRUE(superslab_is_empty(ss));
    for (unsigned u = 0; u < kUnitsPerSuperSlab; ++u) {
      EXPECT_EQ(ss->unit_info[u], kUnitFree);
      EXPECT_EQ(ss->geometry[u].limit, 0u) << "a free unit has no object starts";
      EXPECT_EQ(ss->slabs[u].state, SlabState::kUnused);
    }
  }
}

TEST(SuperSlabCarve, ReleasedUnitsAreCarvedAgain) {
  OwnSuperSlab own;
  ASSERT_TRUE(own.ok());
  SuperSlab* ss = own.get();
  Slab* a = carve(ss, 0);
  Slab* b = carve(ss, 0);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->first_unit, 0u);
  EXPECT_EQ(b->first_unit, 1u);
  superslab_release_slab(ss, a);
  EXPECT_EQ(ss->free_units & 1u, 1u);
  // A 4 KiB class fits unit 0 again; the first free unit is reused.
  const unsigned cls4k = class_with_size(4096);
  Slab* c = carve(ss, cls4k);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->first_unit, 0u);
  expect_slab_consistent(ss, c, cls4k);
}

TEST(SuperSlabCarve, AllowedUnitsRestrictTheChoice) {
  OwnSuperSlab own;
  ASSERT_TRUE(own.ok());
  SuperSlab* ss = own.get();
  Slab* s = carve(ss, 0, unit_run_mask(7, 1));
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->first_unit, 7u);
  EXPECT_EQ(carve(ss, 0, unit_run_mask(7, 1)), nullptr)
      << "unit 7 is taken and nothing else is allowed";
  // A 2-unit slab needs an aligned pair: units 5 and 6 are not one.
  const unsigned cls16k = class_with_size(16384);
  ASSERT_EQ(slab_units_for(kClassSize[cls16k]), 2u);
  EXPECT_EQ(carve(ss, cls16k, unit_run_mask(5, 2)),
            nullptr);
  Slab* pair = carve(ss, cls16k, unit_run_mask(4, 4));
  ASSERT_NE(pair, nullptr);
  EXPECT_EQ(pair->first_unit, 4u);
}

TEST(SuperSlabCarve, UnitMasks) {
  EXPECT_EQ(unit_run_mask(0, 1), 1u);
  EXPECT_EQ(unit_run_mask(3, 2), 0x18u);
  EXPECT_EQ(unit_run_mask(0, kUnitsPerSuperSlab), kAllUnits);
  EXPECT_EQ(unit_run_mask(28, 4), 0xf0000000u);
  EXPECT_EQ(unit_range_mask(2, 5), 0x1cu);
  EXPECT_EQ(unit_range_mask(0, 32), kAllUnits);
  for (unsigned first = 0; first < kUnitsPerSuperSlab; ++first) {
    for (unsigned cls : {0u, 17u, 95u}) {
      std::uint16_t info = unit_info_pack(first, cls);
      EXPECT_EQ(unit_info_first(info), first);
      EXPECT_EQ(unit_info_class(info), cls);
      EXPECT_NE(info, kUnitFree) << "a carved unit never reads as free";
    }
  }
}

TEST(SuperSlabCarve, UnitAndSuperSlabOfAPointer) {
  OwnSuperSlab own;
  ASSERT_TRUE(own.ok());
  SuperSlab* ss = own.get();
  for (unsigned u = 0; u < kUnitsPerSuperSlab; ++u) {
    char* p = unit_address(ss, u);
    EXPECT_EQ(superslab_of(p), ss);
    EXPECT_EQ(superslab_of(p + kUnitSize - 1), ss);
    EXPECT_EQ(unit_of(p), u);
    EXPECT_EQ(unit_of(p + kUnitSize - 1), u);
  }
  EXPECT_NE(superslab_of(own.base() + kSuperSlabSize), ss);
}

TEST(Registry, KindsOfChunks) {
  OwnSuperSlab own;
  ASSERT_TRUE(own.ok());
  char* base = own.base();
  EXPECT_EQ(chunk_kind(base), kChunkNone) << "a mapping of our own is not hakmem's";
  registry_set(base, kChunkSize, kChunkSpan, kChunkSpan);
  EXPECT_EQ(chunk_kind(base), kChunkSpan);
  EXPECT_EQ(chunk_kind(base + kChunkSize - 1), kChunkSpan);
  registry_clear(base, kChunkSize);
  EXPECT_EQ(chunk_kind(base), kChunkNone);
  // Beyond the 47-bit user address space: never hakmem's, and no out-of-bounds read.
  EXPECT_EQ(chunk_kind(reinterpret_cast<void*>(std::uintptr_t{1} << kAddressBits)), kChunkNone);
  EXPECT_EQ(chunk_kind(reinterpret_cast<void*>(~std::uintptr_t{0})), kChunkNone);
}

}  // namespace
