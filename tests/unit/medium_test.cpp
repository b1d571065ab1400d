// Issue 12: medium blocks (32 KiB .. 256 KiB) come from the thread's medium cache. Every
// class boundary and alignment; realloc content across every class boundary and into and
// out of huge blocks; cross-thread frees; lock acquisitions per malloc+free pair in the
// steady state; memory given back after everything is freed (bytes purged, a count).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include "common/api.hpp"
#include "common/test_support.hpp"

namespace {

using hakt::KiB;
using hakt::MiB;

// The medium class sizes: 8 per doubling from 36 KiB to 256 KiB (size_classes.hpp).
std::vector<std::size_t> medium_classes() {
  std::vector<std::size_t> v;
  for (std::size_t base = 32 * KiB; base < 256 * KiB; base *= 2)
    for (std::size_t k = 1; k <= 8; ++k) v.push_back(base + k * base / 8);
  return v;
}

std::uint64_t span_lock_acquisitions() {
  hakmem_stats s{};
  hakmem_stats_get(&s);
  for (std::uint32_t i = 0; i < s.num_locks; ++i)
    if (std::strcmp(s.locks[i].name, "span") == 0) return s.locks[i].acquisitions;
  ADD_FAILURE() << "no span lock in hakmem_stats";
  return 0;
}

TEST(Medium, EveryClassBoundaryGetsItsClassSize) {
  std::size_t prev = 32 * KiB;
  for (std::size_t c : medium_classes()) {
    for (std::size_t n : {prev + 1, c - 1, c}) {
      void* p = api::malloc(n);
      ASSERT_NE(p, nullptr) << n;
      EXPECT_TRUE(hakt::aligned_to(p, 4096)) << n;
      EXPECT_EQ(api::usable_size(p), c) << "request " << n;
      hakt::fill(p, n, n);
      EXPECT_EQ(hakt::check(p, n, n), SIZE_MAX);
      api::free(p);
    }
    prev = c;
  }
  void* p = api::malloc(256 * KiB + 1);  // beyond the medium classes: whole pages
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(api::usable_size(p), 256 * KiB + 4 * KiB);
  api::free(p);
}

TEST(Medium, AlignmentsUpToTheBlockSize) {
  for (std::size_t c : medium_classes()) {
    for (std::size_t a = 16; a <= 256 * KiB; a *= 4) {
      void* p = nullptr;
      ASSERT_EQ(api::posix_memalign(&p, a, c), 0) << c << " align " << a;
      EXPECT_TRUE(hakt::aligned_to(p, a)) << c << " align " << a;
      EXPECT_GE(api::usable_size(p), c);
      hakt::fill(p, c, a);
      EXPECT_EQ(hakt::check(p, c, a), SIZE_MAX);
      api::free(p);
    }
  }
}

TEST(Medium, FreedCachedBlockIsCaughtOnSecondFreeAndUsableSize) {
  void* p = api::malloc(100 * KiB);
  ASSERT_NE(p, nullptr);
  api::free(p);  // into this thread's medium cache
  EXPECT_EQ(api::usable_size(p), 0u);
  void* q = api::malloc(100 * KiB);  // the same block again, tag cleared
  EXPECT_EQ(q, p);
  EXPECT_EQ(api::usable_size(q), 104 * KiB);
  api::free(q);
}

TEST(Medium, ReallocKeepsContentAcrossEveryClassBoundaryAndHuge) {
  std::vector<std::size_t> sizes;
  for (std::size_t s = 16; s <= 32 * KiB; s += s / 16) sizes.push_back(s);
  for (std::size_t c : medium_classes()) {
    sizes.push_back(c);
    sizes.push_back(c + 1);
  }
  for (std::size_t s : {512 * KiB, 1 * MiB, 1 * MiB + 1, 3 * MiB}) sizes.push_back(s);
  // Up the chain, then down it again (out of huge blocks, across every class the other way).
  std::vector<std::size_t> chain = sizes;
  chain.insert(chain.end(), sizes.rbegin(), sizes.rend());
  void* p = nullptr;
  std::size_t have = 0;
  std::uint64_t seed = 1;
  for (std::size_t n : chain) {
    void* q = api::realloc(p, n);
    ASSERT_NE(q, nullptr) << n;
    std::size_t keep = have < n ? have : n;
    ASSERT_EQ(hakt::check(q, keep, seed), SIZE_MAX) << have << " -> " << n;
    ++seed;
    hakt::fill(q, n, seed);
    p = q;
    have = n;
  }
  api::free(p);
}

TEST(Medium, ExactSizeGrowthCopiesOnlyAtClassBoundaries) {
  // Growing a block a byte at a time inside a medium class keeps the block.
  char* p = static_cast<char*>(api::malloc(40 * KiB + 1));
  ASSERT_NE(p, nullptr);
  for (std::size_t n = 40 * KiB + 2; n <= 44 * KiB; ++n) {
    p[n - 2] = static_cast<char>(n);
    char* q = static_cast<char*>(api::realloc(p, n));
    ASSERT_EQ(q, p) << n;  // 44 KiB class has room
  }
  api::free(p);
}

TEST(Medium, CrossThreadFreesAndSteadyStateTakesAlmostNoLocks) {
  constexpr int kRounds = 200;
  constexpr int kBatch = 32;
  std::vector<void*> blocks(kBatch);
  for (int r = 0; r < kRounds; ++r) {
    for (int i = 0; i < kBatch; ++i) {
      std::size_t n = 33 * KiB + static_cast<std::size_t>((i * 7919) % (220 * 1024));
      blocks[i] = api::malloc(n);
      ASSERT_NE(blocks[i], nullptr);
      hakt::fill(blocks[i], 64, static_cast<std::uint64_t>(i));
    }
    std::thread t([&] {
      for (int i = 0; i < kBatch; ++i) {
        EXPECT_EQ(hakt::check(blocks[i], 64, static_cast<std::uint64_t>(i)), SIZE_MAX);
        api::free(blocks[i]);  // freed by another thread: into its cache, flushed at exit
      }
    });
    t.join();
  }
  // Steady state in one thread: 100k malloc+free pairs of one medium size.
  for (int i = 0; i < 10; ++i) api::free(api::malloc(64 * KiB));
  std::uint64_t before = span_lock_acquisitions();
  constexpr int kPairs = 100000;
  for (int i = 0; i < kPairs; ++i) {
    void* p = api::malloc(64 * KiB - static_cast<std::size_t>(i % 4000));
    ASSERT_NE(p, nullptr);
    *static_cast<volatile char*>(p) = 1;
    api::free(p);
  }
  std::uint64_t locks = span_lock_acquisitions() - before;
  EXPECT_LT(static_cast<double>(locks) / kPairs, 0.05) << locks << " span locks";
}

TEST(Medium, FreedMemoryIsPurged) {
  hakmem_stats s0{};
  hakmem_stats_get(&s0);
  std::vector<void*> v;
  for (int i = 0; i < 512; ++i) {  // 512 x 128 KiB = 64 MiB written
    void* p = api::malloc(128 * KiB);
    ASSERT_NE(p, nullptr);
    std::memset(p, 0x5a, 128 * KiB);
    v.push_back(p);
  }
  for (void* p : v) api::free(p);
  api::malloc_trim(0);
  hakmem_stats s1{};
  hakmem_stats_get(&s1);
  // All but what stays cached or warm must go back: at least 48 of the 64 MiB.
  EXPECT_GE(s1.bytes_purged - s0.bytes_purged, 48 * MiB)
      << "purged " << (s1.bytes_purged - s0.bytes_purged) / MiB << " MiB";
}

}  // namespace
