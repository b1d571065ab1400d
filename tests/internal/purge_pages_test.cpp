// unified_cache/purge_pages.hpp: which pages of a slab may be given back, which objects they
// hold, and the runs purge.cpp turns into madvise calls.
#include <gtest/gtest.h>

#include <utility>
#include <vector>

#include "unified_cache/purge_pages.hpp"

namespace {

using namespace hakmem::purge_pages;

struct FreeBits {
  std::uint64_t w[256] = {};  // up to 16384 objects, as purge.cpp's
  FreeBits& set(std::uint32_t from, std::uint32_t to) {
    for (std::uint32_t i = from; i < to; ++i) w[i / 64] |= std::uint64_t{1} << (i % 64);
    return *this;
  }
  FreeBits& clear(std::uint32_t i) {
    w[i / 64] &= ~(std::uint64_t{1} << (i % 64));
    return *this;
  }
};

TEST(PurgePages, ObjectsOnAPage) {
  const SlabGeometry g{0, 48, 1000};  // 4096 / 48 = 85.3: object 85 straddles pages 0 and 1
  PageObjects p0 = objects_on_page(g, 0);
  EXPECT_EQ(p0.lo, 0u);
  EXPECT_EQ(p0.hi, 85u);
  PageObjects p1 = objects_on_page(g, 1);
  EXPECT_EQ(p1.lo, 85u);
  EXPECT_EQ(p1.hi, 170u);  // 8191 / 48
  // Objects larger than a page: one object covers several pages.
  const SlabGeometry big{0, 12288, 5};
  EXPECT_EQ(objects_on_page(big, 0).lo, 0u);
  EXPECT_EQ(objects_on_page(big, 2).hi, 0u);
  EXPECT_EQ(objects_on_page(big, 3).lo, 1u);
  // A first object that does not start its page (lead): page 0 holds objects from 0.
  const SlabGeometry lead{1024, 64, 100};
  EXPECT_EQ(objects_on_page(lead, 0).lo, 0u);
  EXPECT_EQ(objects_on_page(lead, 0).hi, 47u);  // (4095 - 1024) / 64
  EXPECT_EQ(objects_on_page(lead, 1).lo, 48u);
}

TEST(PurgePages, ObjectOnPages) {
  const SlabGeometry g{0, 48, 1000};
  EXPECT_TRUE(object_on_pages(g, 85, 0b01));
  EXPECT_TRUE(object_on_pages(g, 85, 0b10)) << "straddles both";
  EXPECT_FALSE(object_on_pages(g, 84, 0b10));
  EXPECT_FALSE(object_on_pages(g, 86, 0b01));
  EXPECT_FALSE(object_on_pages(g, 0, 0));
}

TEST(PurgePages, CarvedPagesAreWhole) {
  EXPECT_EQ(carved_pages(SlabGeometry{0, 64, 64}), 1u);
  EXPECT_EQ(carved_pages(SlabGeometry{0, 64, 63}), 0u) << "a page not wholly carved stays";
  EXPECT_EQ(carved_pages(SlabGeometry{0, 32768, 8}), 64u);
  EXPECT_EQ(carved_pages(SlabGeometry{0, 16, 16384}), 64u) << "capped at a mask's 64 pages";
}

TEST(PurgePages, OnlyWhollyFreePagesGo) {
  const SlabGeometry g{0, 64, 256};  // 4 pages of 64 objects
  FreeBits all;
  all.set(0, 256);
  EXPECT_EQ(all_free_pages(g, all.w, 0), 0b1111u);
  FreeBits one_used = all;
  one_used.clear(64 + 10);  // an object of page 1 is in use
  EXPECT_EQ(all_free_pages(g, one_used.w, 0), 0b1101u);
  EXPECT_EQ(all_free_pages(g, one_used.w, 0b0001), 0b1100u) << "page 0 is purged already";
  FreeBits none;
  EXPECT_EQ(all_free_pages(g, none.w, 0), 0u);
}

TEST(PurgePages, StraddlingObjectsKeepBothPages) {
  const SlabGeometry g{0, 48, 256};  // carved: 12288 bytes = 3 pages
  FreeBits f;
  f.set(0, 256).clear(85);  // object 85 straddles pages 0 and 1
  EXPECT_EQ(all_free_pages(g, f.w, 0), 0b100u);
  // Parked objects (on an already purged page) count as free: purging page 0 parked 85.
  FreeBits g2;
  g2.set(86, 256);
  EXPECT_EQ(all_free_pages(g, g2.w, 0b001), 0b110u);
}

TEST(PurgePages, NeverThePageSharedWithTheHeader) {
  const SlabGeometry g{1024, 64, 200};
  FreeBits f;
  f.set(0, 200);
  std::uint64_t pages = all_free_pages(g, f.w, 0);
  EXPECT_EQ(pages & 1, 0u) << "page 0 also holds what precedes the first object";
  EXPECT_EQ(pages, 0b110u);  // (1024 + 12800) / 4096 = 3 whole pages carved
}

TEST(PurgePages, UncarvedObjectsAreNeverFree) {
  const SlabGeometry g{0, 64, 100};  // page 1 holds objects 64..127, only 64..99 carved
  FreeBits f;
  f.set(0, 128);
  EXPECT_EQ(all_free_pages(g, f.w, 0), 0b1u);
}

TEST(PurgePages, RunsOfAMask) {
  std::vector<std::pair<unsigned, unsigned>> runs;
  auto collect = [&](unsigned first, unsigned n) { runs.emplace_back(first, n); };
  for_each_run(0, collect);
  EXPECT_TRUE(runs.empty());
  for_each_run(0b1110'0110'0001ull, collect);
  EXPECT_EQ(runs, (std::vector<std::pair<unsigned, unsigned>>{{0, 1}, {5, 2}, {9, 3}}));
  runs.clear();
  for_each_run(~std::uint64_t{0}, collect);
  EXPECT_EQ(runs, (std::vector<std::pair<unsigned, unsigned>>{{0, 64}}));
  runs.clear();
  for_each_run(std::uint64_t{1} << 63 | 1, collect);
  EXPECT_EQ(runs, (std::vector<std::pair<unsigned, unsigned>>{{0, 1}, {63, 1}}));
}

TEST(PurgePages, PagesOfAnObject) {
  EXPECT_EQ(object_pages(0, 16), 0b1u);
  EXPECT_EQ(object_pages(4080, 32), 0b11u) << "straddles pages 0 and 1";
  EXPECT_EQ(object_pages(4096, 4096), 0b10u) << "exactly page 1";
  EXPECT_EQ(object_pages(3 * 4096 + 8, 3 * 4096), 0b1111u << 3) << "12 KiB from inside page 3";
  EXPECT_EQ(object_pages(0, 64 * 4096), ~std::uint64_t{0}) << "a whole 4-unit slab";
  EXPECT_EQ(object_pages(63 * 4096, 4096), std::uint64_t{1} << 63);
}

}  // namespace
