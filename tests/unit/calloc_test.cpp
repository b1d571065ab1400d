// Item 3: calloc zeroes, including memory that was used and freed before (the allocator may
// skip the memset only for memory known to be fresh); overflow is ENOMEM.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <vector>

#include "common/api.hpp"
#include "common/test_support.hpp"

namespace {

using hakt::KiB;
using hakt::MiB;

std::vector<std::size_t> calloc_sizes() {
  std::vector<std::size_t> v;
  for (std::size_t s = 1; s <= 256; ++s) v.push_back(s);
  for (std::size_t s = 272; s <= 32768; s = s * 9 / 8 + 16) v.push_back(s);
  for (std::size_t s : hakt::large_sizes()) v.push_back(s);
  v.push_back(8 * MiB);
  return v;
}

TEST(Calloc, FreshMemoryIsZero) {
  for (std::size_t s : calloc_sizes()) {
    void* p = api::calloc(1, s);
    ASSERT_NE(p, nullptr) << s;
    ASSERT_TRUE(hakt::all_zero(p, s)) << "calloc(1, " << s << ")";
    api::free(p);
  }
}

// malloc, dirty the whole usable size, free, calloc the same size: zero. Done with batches
// so the dirty blocks go through the thread cache, the slabs' free lists and (after
// hak_thread_flush / malloc_trim) the reserves before calloc gets them back.
TEST(Calloc, ReusedMemoryIsZero) {
  api::NoBadFrees no_bad_frees;
  for (std::size_t s : calloc_sizes()) {
    const int n = s <= 4096 ? 300 : s <= 64 * KiB ? 40 : 4;
    for (int round = 0; round < 3; ++round) {
      std::vector<void*> v(n);
      for (int i = 0; i < n; ++i) {
        v[i] = api::malloc(s);
        ASSERT_NE(v[i], nullptr);
        std::memset(v[i], 0xA5, api::usable_size(v[i]));
      }
      for (int i = 0; i < n; ++i) api::free(v[i]);
      if (round == 1) hak_thread_flush();
      if (round == 2) api::malloc_trim(0);
      for (int i = 0; i < n; ++i) {
        v[i] = api::calloc(s, 1);
        ASSERT_NE(v[i], nullptr);
        ASSERT_TRUE(hakt::all_zero(v[i], s)) << "calloc(" << s << ", 1) round " << round
                                             << " returned dirty memory";
      }
      for (int i = 0; i < n; ++i) api::free(v[i]);
    }
  }
}

// The first word of a freed block holds the free-list link (or a free tag): calloc must
// clear it too, for every class, when the block comes back.
TEST(Calloc, FirstWordsOfRecycledBlocksAreZero) {
  for (std::size_t s = 16; s <= 32768; s += (s < 512 ? 16 : s / 8)) {
    std::vector<void*> v;
    for (int i = 0; i < 64; ++i) v.push_back(api::malloc(s));
    for (void* p : v) api::free(p);
    for (int i = 0; i < 64; ++i) {
      auto* w = static_cast<std::uint64_t*>(api::calloc(1, s));
      ASSERT_NE(w, nullptr);
      ASSERT_EQ(w[0], 0u) << "calloc(1, " << s << ") first word";
      ASSERT_EQ(w[1], 0u) << "calloc(1, " << s << ") second word";
      v[i] = w;
    }
    for (void* p : v) api::free(p);
  }
}

TEST(Calloc, ReallocShrinkThenCallocIsZero) {
  api::NoBadFrees no_bad_frees;
  // Memory beyond a shrunk block's new end was dirty; calloc that reuses it must clear it.
  for (std::size_t s : {100 * KiB, 1 * MiB + 5, 3 * MiB}) {
    void* p = api::malloc(s);
    ASSERT_NE(p, nullptr);
    std::memset(p, 0xEE, s);
    p = api::realloc(p, s / 4);
    ASSERT_NE(p, nullptr);
    void* q = api::calloc(1, s / 2);
    ASSERT_NE(q, nullptr);
    EXPECT_TRUE(hakt::all_zero(q, s / 2)) << s;
    api::free(p);
    api::free(q);
    void* r = api::calloc(1, s);
    ASSERT_NE(r, nullptr);
    EXPECT_TRUE(hakt::all_zero(r, s)) << s;
    api::free(r);
  }
}

TEST(Calloc, ProductOfArgumentsIsAllocated) {
  auto* p = static_cast<std::uint32_t*>(api::calloc(1000, sizeof(std::uint32_t)));
  ASSERT_NE(p, nullptr);
  EXPECT_GE(api::usable_size(p), 4000u);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(p[i], 0u);
  for (int i = 0; i < 1000; ++i) p[i] = i;
  api::free(p);
  void* big = api::calloc(3000, 1000);  // 3 MB
  ASSERT_NE(big, nullptr);
  EXPECT_TRUE(hakt::all_zero(big, 3000000));
  api::free(big);
}

TEST(Calloc, ZeroCountOrSizeIsFreeable) {
  void* a = api::calloc(0, 100);
  void* b = api::calloc(100, 0);
  EXPECT_NE(a, nullptr);
  EXPECT_NE(b, nullptr);
  api::free(a);
  api::free(b);
}

TEST(Calloc, OverflowIsEnomem) {
  const std::size_t half = std::size_t{1} << 32;
  struct { std::size_t c, n; } cases[] = {
      {SIZE_MAX, 2}, {2, SIZE_MAX}, {half, half}, {SIZE_MAX / 2 + 1, 2},
      {SIZE_MAX / 16 + 1, 16}, {half + 1, half - 1}, {SIZE_MAX, SIZE_MAX}};
  for (auto c : cases) {
    errno = 0;
    void* p = api::calloc(c.c, c.n);
    EXPECT_EQ(p, nullptr) << c.c << " x " << c.n;
    EXPECT_EQ(errno, ENOMEM) << c.c << " x " << c.n;
  }
  // No overflow but still impossible.
  errno = 0;
  EXPECT_EQ(api::calloc(1, SIZE_MAX), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  errno = 0;
  EXPECT_EQ(api::calloc(std::size_t{1} << 24, std::size_t{1} << 24), nullptr);  // 256 TiB
  EXPECT_EQ(errno, ENOMEM);
}

}  // namespace
