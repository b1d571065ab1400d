// Item 2: realloc keeps content across classes and into and out of large objects; shrink;
// realloc(NULL, n); realloc(p, 0) frees and returns NULL (glibc); failure leaves the block
// intact; reallocarray overflow is ENOMEM.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <vector>

#include "common/api.hpp"
#include "common/test_support.hpp"

namespace {

using hakt::KiB;
using hakt::MiB;

// Reallocates p (holding `have` pattern bytes of `seed`) to n, checks the kept prefix and
// refills the whole new usable size. Returns the new pointer (asserting on failure).
void* realloc_checked(void* p, std::size_t have, std::size_t n, std::uint64_t seed,
                      std::size_t* usable) {
  void* q = api::realloc(p, n);
  EXPECT_NE(q, nullptr) << "realloc(" << have << " -> " << n << ")";
  if (q == nullptr) return nullptr;
  EXPECT_TRUE(hakt::aligned_to(q, 16));
  std::size_t keep = std::min(have, n);
  std::size_t bad = hakt::check(q, keep, seed);
  EXPECT_EQ(bad, SIZE_MAX) << "realloc " << have << " -> " << n << " lost byte " << bad;
  *usable = api::usable_size(q);
  EXPECT_GE(*usable, n);
  hakt::fill(q, *usable, seed);
  return q;
}

std::vector<std::size_t> growth_chain() {
  std::vector<std::size_t> v;
  for (std::size_t s = 1; s <= 5 * MiB; s = s * 5 / 4 + 7) v.push_back(s);
  // Explicit crossings: class edges, the slab/large boundary, span/own-mapping boundary.
  for (std::size_t s : {127ul, 128ul, 129ul, 1024ul, 1025ul, 32767ul, 32768ul, 32769ul,
                        1 * MiB - 1, 1 * MiB, 1 * MiB + 1, 4 * MiB})
    v.push_back(s);
  std::sort(v.begin(), v.end());
  return v;
}

TEST(Realloc, GrowThenShrinkKeepsContent) {
  api::NoBadFrees no_bad_frees;
  std::vector<std::size_t> chain = growth_chain();
  std::uint64_t seed = 77;
  std::size_t have = chain[0];
  void* p = api::malloc(have);
  ASSERT_NE(p, nullptr);
  std::size_t u = api::usable_size(p);
  hakt::fill(p, u, seed);
  have = u;
  for (std::size_t i = 1; i < chain.size(); ++i) {
    p = realloc_checked(p, have, chain[i], seed, &u);
    ASSERT_NE(p, nullptr);
    have = u;
  }
  for (std::size_t i = chain.size(); i-- > 0;) {
    p = realloc_checked(p, have, chain[i], seed, &u);
    ASSERT_NE(p, nullptr);
    have = u;
  }
  api::free(p);
}

// Every pair of sizes from a set spanning all kinds of memory, both directions.
TEST(Realloc, AllPairsAcrossKinds) {
  api::NoBadFrees no_bad_frees;
  const std::vector<std::size_t> sizes = {1,       16,      17,       100,     128,
                                          129,     1000,    4096,     4097,    32768,
                                          32769,   65536,   200000,   1 * MiB, 1 * MiB + 1,
                                          3 * MiB, 4 * MiB};
  std::uint64_t seed = 1;
  for (std::size_t a : sizes) {
    for (std::size_t b : sizes) {
      void* p = api::malloc(a);
      ASSERT_NE(p, nullptr);
      hakt::fill(p, a, ++seed);
      // A neighbour allocated after p, so growing in place must not run over it.
      void* n = api::malloc(a);
      ASSERT_NE(n, nullptr);
      hakt::fill(n, a, seed + 1000);
      std::size_t u;
      p = realloc_checked(p, a, b, seed, &u);
      ASSERT_NE(p, nullptr) << a << " -> " << b;
      ASSERT_EQ(hakt::check(n, a, seed + 1000), SIZE_MAX) << "neighbour clobbered " << a << "->" << b;
      api::free(p);
      api::free(n);
    }
  }
}

TEST(Realloc, ShrinkInPlaceKeepsPrefix) {
  for (std::size_t big : {200ul, 4096ul, 32768ul, 100 * KiB, 2 * MiB, 4 * MiB + 3}) {
    void* p = api::malloc(big);
    ASSERT_NE(p, nullptr);
    hakt::fill(p, big, big);
    for (std::size_t small = big; small > 8; small /= 3) {
      std::size_t u;
      p = realloc_checked(p, small, small, big, &u);  // only the prefix matters
      ASSERT_NE(p, nullptr);
      hakt::fill(p, u, big);
    }
    api::free(p);
  }
}

TEST(Realloc, NullPointerActsAsMalloc) {
  for (std::size_t n : {0ul, 1ul, 100ul, 5000ul, 2 * MiB}) {
    void* p = api::realloc(nullptr, n);
    ASSERT_NE(p, nullptr) << n;
    EXPECT_TRUE(api::owns(p));
    EXPECT_GE(api::usable_size(p), n);
    std::memset(p, 0xcd, n);
    api::free(p);
  }
}

// glibc: realloc(p, 0) with p != NULL frees p and returns NULL.
TEST(Realloc, ZeroSizeFreesAndReturnsNull) {
  for (std::size_t n : {1ul, 64ul, 5000ul, 100 * KiB, 2 * MiB}) {
    void* p = api::malloc(n);
    ASSERT_NE(p, nullptr);
    hakmem_stats before = api::stats();
    EXPECT_EQ(api::realloc(p, 0), nullptr) << n;
    hakmem_stats after = api::stats();
    // p really was freed, not reported as invalid.
    EXPECT_EQ(after.invalid_frees, before.invalid_frees);
    EXPECT_EQ(after.double_frees, before.double_frees);
  }
  // The freed memory is reused: no leak of one block per call.
  std::uint64_t mapped_before = api::stats().bytes_mapped;
  for (int i = 0; i < 50000; ++i) {
    void* p = api::malloc(2000);
    ASSERT_NE(p, nullptr);
    ASSERT_EQ(api::realloc(p, 0), nullptr);
  }
  // A leak would map 50000 * 2000 B = 100 MB.
  EXPECT_LT(api::stats().bytes_mapped, mapped_before + 32 * MiB) << "realloc(p, 0) seems to leak";
}

TEST(Realloc, FailureLeavesBlockIntact) {
  for (std::size_t n : {10ul, 5000ul, 100 * KiB, 2 * MiB}) {
    void* p = api::malloc(n);
    ASSERT_NE(p, nullptr);
    hakt::fill(p, n, n);
    for (std::size_t huge : hakt::impossible_sizes()) {
      errno = 0;
      EXPECT_EQ(api::realloc(p, huge), nullptr) << n << " -> " << huge;
      EXPECT_EQ(errno, ENOMEM);
      EXPECT_EQ(hakt::check(p, n, n), SIZE_MAX) << "block changed by a failed realloc";
    }
    api::free(p);
  }
}

TEST(Realloc, AlignedBlockKeepsContent) {
  api::NoBadFrees no_bad_frees;
  for (std::size_t a : {64ul, 4096ul, 64 * KiB, 2 * MiB}) {
    void* p = api::aligned_alloc(a, 3000);
    ASSERT_NE(p, nullptr);
    hakt::fill(p, 3000, a);
    std::size_t u;
    p = realloc_checked(p, 3000, 50000, a, &u);
    ASSERT_NE(p, nullptr);
    p = realloc_checked(p, 50000, 100, a, &u);
    ASSERT_NE(p, nullptr);
    api::free(p);
  }
}

TEST(Reallocarray, WorksLikeRealloc) {
  void* p = api::reallocarray(nullptr, 10, 10);
  ASSERT_NE(p, nullptr);
  hakt::fill(p, 100, 5);
  p = api::reallocarray(p, 1000, 100);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(hakt::check(p, 100, 5), SIZE_MAX);
  EXPECT_GE(api::usable_size(p), 100000u);
  api::free(p);
}

TEST(Reallocarray, OverflowIsEnomemAndKeepsBlock) {
  void* p = api::malloc(64);
  ASSERT_NE(p, nullptr);
  hakt::fill(p, 64, 9);
  const std::size_t half = std::size_t{1} << 32;
  struct { std::size_t c, n; } cases[] = {{SIZE_MAX, 2}, {2, SIZE_MAX}, {half, half},
                                          {SIZE_MAX / 3 + 1, 3}, {half + 1, half - 1}};
  for (auto c : cases) {
    errno = 0;
    EXPECT_EQ(api::reallocarray(p, c.c, c.n), nullptr) << c.c << " x " << c.n;
    EXPECT_EQ(errno, ENOMEM) << c.c << " x " << c.n;
    errno = 0;
    EXPECT_EQ(api::reallocarray(nullptr, c.c, c.n), nullptr) << c.c << " x " << c.n;
    EXPECT_EQ(errno, ENOMEM);
  }
  EXPECT_EQ(hakt::check(p, 64, 9), SIZE_MAX);
  api::free(p);
}

// Repeated growth by small steps (the pattern of a string builder) stays correct and
// should mostly grow in place (fewer moves than calls).
TEST(Realloc, SmallStepGrowth) {
  api::NoBadFrees no_bad_frees;
  std::size_t n = 1;
  char* p = static_cast<char*>(api::malloc(n));
  ASSERT_NE(p, nullptr);
  p[0] = 0;
  int moves = 0, calls = 0;
  for (n = 2; n <= 300000; n += 97) {
    char* q = static_cast<char*>(api::realloc(p, n));
    ASSERT_NE(q, nullptr);
    if (q != p) ++moves;
    ++calls;
    p = q;
    for (std::size_t i = n - 97 > n ? 0 : n - 97; i < n; ++i) p[i] = static_cast<char>(i * 13);
  }
  n -= 97;
  for (std::size_t i = 1; i < n; ++i) ASSERT_EQ(p[i], static_cast<char>(i * 13)) << i;
  api::free(p);
  RecordProperty("moves", moves);
  EXPECT_LT(moves, calls);
}

}  // namespace
