// Issue 12, exact-size realloc growth (allocator/realloc.cpp): a growth that moves takes a
// quarter more, so a buffer grown a few bytes at a time moves a bounded number of times per
// doubling and copies a bounded multiple of its final length (counts, not times), its
// content checked at every move from one byte through the slab classes, the page spans, the
// medium classes and into a huge block; a realloc of a freed block is reported. Content
// across every class boundary and back down out of huge blocks: medium_test.cpp.
#include <gtest/gtest.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "common/api.hpp"
#include "common/test_support.hpp"

namespace {

using hakt::KiB;
using hakt::MiB;

struct Growth {
  std::size_t moves = 0;
  std::size_t copied = 0;  // bytes the moves had to carry (the length before each move)
};

// Grows one buffer from 1 byte to `final` bytes by exact-size reallocs of 1..`step` bytes
// (a fixed pseudo-random sequence), writing each new byte and checking the whole content
// at every move and at the end.
Growth grow_exactly(std::size_t final, std::size_t step) {
  Growth g;
  std::size_t len = 1;
  auto* p = static_cast<unsigned char*>(api::malloc(len));
  EXPECT_NE(p, nullptr);
  if (!p) return g;
  p[0] = 0;
  std::uint64_t x = 88172645463325252ull;
  while (len < final) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    std::size_t add = 1 + x % step;
    if (len + add > final) add = final - len;
    auto* q = static_cast<unsigned char*>(api::realloc(p, len + add));
    EXPECT_NE(q, nullptr) << len << " + " << add;
    if (!q) break;
    if (q != p) {
      ++g.moves;
      g.copied += len;
      for (std::size_t i = 0; i < len; ++i) {
        if (q[i] != static_cast<unsigned char>(i * 131)) {
          ADD_FAILURE() << "byte " << i << " lost moving " << len << " -> " << len + add;
          api::free(q);
          return g;
        }
      }
    }
    for (std::size_t i = len; i < len + add; ++i) q[i] = static_cast<unsigned char>(i * 131);
    p = q;
    len += add;
  }
  for (std::size_t i = 0; i < len; ++i) {
    if (p[i] != static_cast<unsigned char>(i * 131)) {
      ADD_FAILURE() << "byte " << i << " lost at the end (" << len << " bytes)";
      break;
    }
  }
  api::free(p);
  return g;
}

TEST(ReallocGrowth, MovesAndCopiesAreBoundedPerDoubling) {
  api::NoBadFrees no_bad_frees;
  // Through every slab class, the page spans, the medium classes and past 1 MiB.
  for (std::size_t final : {std::size_t{4 * KiB}, std::size_t{64 * KiB}, std::size_t{2 * MiB}}) {
    Growth g = grow_exactly(final, 256);
    // From 16 bytes a doubling takes at most ceil(log(2) / log(1.25)) = 4 moves with the
    // quarter of headroom; without it every class (up to 16 per doubling) was a move.
    double doublings = std::log2(static_cast<double>(final) / 16.0);
    EXPECT_LE(static_cast<double>(g.moves), 4.0 * doublings + 4.0)
        << "final " << final << ": " << g.moves << " moves";
    // Each move carries the length, which grows by a quarter per move: about 4x the final
    // length in all (a geometric sum); at every class it was 12-24x.
    EXPECT_LE(g.copied, 6 * final) << "final " << final << ": " << g.copied << " bytes copied";
    RecordProperty("moves_" + std::to_string(final), static_cast<int>(g.moves));
  }
}

TEST(ReallocGrowth, GrowthByMoreThanAQuarterGetsItsOwnSize) {
  // The headroom applies to small steps only: a buffer resized once to its final size
  // gets that size's block, as malloc would give it.
  void* p = api::malloc(1000);
  ASSERT_NE(p, nullptr);
  void* q = api::realloc(p, 20000);
  ASSERT_NE(q, nullptr);
  EXPECT_LT(api::usable_size(q), 25000u);
  void* r = api::realloc(q, 300 * KiB);
  ASSERT_NE(r, nullptr);
  EXPECT_LT(api::usable_size(r), 300 * KiB + 4 * KiB + 1);
  api::free(r);
}

TEST(ReallocGrowth, HeadroomAloneNeverLeavesTheSlabClasses) {
  api::NoBadFrees no_bad_frees;
  // redis's listpacks grow by 1 KiB values to just under 8 KiB and stop there. A quarter
  // of headroom past 8 KiB took a page span (12 KiB for 7,203 bytes: 1.7x glibc's
  // footprint); the headroom now stops at the 8 KiB class, and a span is taken only when
  // the size asked for needs one.
  // A listpack's sizes: its 7-byte header and end, and 1,028 bytes per 1 KiB value.
  void* q = nullptr;
  std::size_t len = 7;
  for (int values = 1; values <= 7; ++values) {
    q = api::realloc(q, len + 1028);
    ASSERT_NE(q, nullptr);
    if (len > 7) {
      EXPECT_EQ(hakt::check(q, len, 5), SIZE_MAX) << values << " values";
    }
    len += 1028;
    hakt::fill(q, len, 5);
  }
  EXPECT_GE(api::usable_size(q), 7203u);
  EXPECT_LE(api::usable_size(q), 8192u) << "the headroom took a page span";
  void* r = api::realloc(q, 8300);  // past the slab growth limit: a span, as before
  ASSERT_NE(r, nullptr);
  EXPECT_TRUE(hakt::aligned_to(r, 4096));
  EXPECT_EQ(hakt::check(r, 7203, 5), SIZE_MAX);
  api::free(r);
}

TEST(ReallocGrowth, GrownSpanShrinksBackToASlabObject) {
  api::NoBadFrees no_bad_frees;
  // A growth past 8 KiB takes a page span; shrinking it below half moves it back to a
  // slab class, content kept.
  void* p = api::malloc(6000);
  ASSERT_NE(p, nullptr);
  hakt::fill(p, 6000, 3);
  void* q = api::realloc(p, 9000);
  ASSERT_NE(q, nullptr);
  EXPECT_TRUE(hakt::aligned_to(q, 4096));
  EXPECT_EQ(api::usable_size(q) % 4096, 0u);
  EXPECT_EQ(hakt::check(q, 6000, 3), SIZE_MAX);
  void* r = api::realloc(q, 100);
  ASSERT_NE(r, nullptr);
  EXPECT_LT(api::usable_size(r), 4096u);
  EXPECT_EQ(hakt::check(r, 100, 3), SIZE_MAX);
  api::free(r);
}

TEST(ReallocGrowth, ReallocOfAFreedSmallBlockIsReported) {
  void* p = api::malloc(100);
  ASSERT_NE(p, nullptr);
  api::free(p);  // into this thread's bin, tagged
  hakmem_stats before = api::stats();
  testing::internal::CaptureStderr();
  errno = 0;
  void* q = api::realloc(hakt::launder_ptr(p), 50);  // would fit: the old code handed p back
  std::string err = testing::internal::GetCapturedStderr();
  hakmem_stats after = api::stats();
  EXPECT_EQ(q, nullptr);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_NE(err.find("hakmem:"), std::string::npos);
  EXPECT_EQ(after.invalid_frees - before.invalid_frees, 1u);
  void* r = api::malloc(100);  // the block is still free, handed out once
  ASSERT_NE(r, nullptr);
  api::free(r);
}

}  // namespace
