// Item 1: every alignment from 8 B to 4 MiB through posix_memalign, aligned_alloc and
// memalign; the page rules of valloc and pvalloc; EINVAL for bad alignments.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <vector>

#include "common/api.hpp"
#include "common/test_support.hpp"

namespace {

using hakt::KiB;
using hakt::MiB;
constexpr std::size_t kPage = 4096;

enum Fn { kPosixMemalign, kAlignedAlloc, kMemalign };
const char* fn_name(int f) {
  return f == kPosixMemalign ? "posix_memalign" : f == kAlignedAlloc ? "aligned_alloc" : "memalign";
}

void* alloc_aligned(int fn, std::size_t align, std::size_t size) {
  switch (fn) {
    case kPosixMemalign: {
      void* p = nullptr;
      int rc = api::posix_memalign(&p, align, size);
      return rc == 0 ? p : nullptr;
    }
    case kAlignedAlloc: return api::aligned_alloc(align, size);
    default: return api::memalign(align, size);
  }
}

std::vector<std::size_t> alignments() {
  std::vector<std::size_t> v;
  for (std::size_t a = 8; a <= 4 * MiB; a *= 2) v.push_back(a);
  return v;
}

std::vector<std::size_t> sizes_for(std::size_t a) {
  std::vector<std::size_t> v = {1, 8, 16, 24, 100, 4097, a - 1, a, a + 1, 3 * a + 5};
  if (a >= 64) v.push_back(a / 2 + 1);
  return v;
}

class AlignedAlloc : public ::testing::TestWithParam<int> {};

TEST_P(AlignedAlloc, EveryAlignmentEightBytesToFourMiB) {
  api::NoBadFrees no_bad_frees;
  int fn = GetParam();
  for (std::size_t a : alignments()) {
    for (std::size_t s : sizes_for(a)) {
      // Several at once: aligned blocks must not overlap each other.
      constexpr int kCount = 4;
      void* p[kCount];
      std::size_t u[kCount];
      for (int i = 0; i < kCount; ++i) {
        p[i] = alloc_aligned(fn, a, s);
        ASSERT_NE(p[i], nullptr) << fn_name(fn) << "(" << a << ", " << s << ")";
        ASSERT_TRUE(hakt::aligned_to(p[i], a)) << fn_name(fn) << "(" << a << ", " << s
                                               << ") = " << p[i];
        ASSERT_TRUE(api::owns(p[i]));
        u[i] = api::usable_size(p[i]);
        ASSERT_GE(u[i], s) << fn_name(fn) << "(" << a << ", " << s << ")";
        hakt::fill(p[i], u[i], a + s + i);
      }
      for (int i = 0; i < kCount; ++i)
        ASSERT_EQ(hakt::check(p[i], u[i], a + s + i), SIZE_MAX)
            << fn_name(fn) << "(" << a << ", " << s << ") block " << i << " overwritten";
      for (int i = 0; i < kCount; ++i) {
        if (fn == kAlignedAlloc && i % 2 == 0)
          api::free_aligned_sized(p[i], a, s);
        else
          api::free(p[i]);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, AlignedAlloc, ::testing::Values(kPosixMemalign, kAlignedAlloc, kMemalign),
                         [](const ::testing::TestParamInfo<int>& i) {
                           return std::string(fn_name(i.param));
                         });

// Alignments below 8 that are powers of two are valid for aligned_alloc and memalign
// (posix_memalign needs a multiple of sizeof(void*)).
TEST(AlignedAllocSmall, PowerOfTwoBelowEight) {
  for (int fn : {kAlignedAlloc, kMemalign}) {
    for (std::size_t a : {1ul, 2ul, 4ul}) {
      void* p = alloc_aligned(fn, a, 40);
      ASSERT_NE(p, nullptr) << fn_name(fn) << "(" << a << ", 40)";
      std::memset(p, 0x5a, 40);
      api::free(p);
    }
  }
}

TEST(PosixMemalign, BadAlignmentIsEinval) {
  for (std::size_t a : {0ul, 1ul, 2ul, 4ul, 3ul, 12ul, 24ul, 48ul, 4097ul, 3 * kPage,
                        (SIZE_MAX / 2) + 3}) {
    void* sentinel = reinterpret_cast<void*>(0x1234);
    void* p = sentinel;
    int rc = api::posix_memalign(&p, a, 64);
    EXPECT_EQ(rc, EINVAL) << "alignment " << a;
    EXPECT_TRUE(p == sentinel || p == nullptr) << "alignment " << a;
  }
}

TEST(PosixMemalign, ImpossibleSizeIsEnomem) {
  for (std::size_t a : {8ul, 64ul, kPage, 2 * MiB, 4 * MiB}) {
    for (std::size_t s : hakt::impossible_sizes()) {
      void* p = nullptr;
      EXPECT_EQ(api::posix_memalign(&p, a, s), ENOMEM) << "align " << a << " size " << s;
    }
  }
}

TEST(PosixMemalign, ZeroSizeIsFreeable) {
  void* p = reinterpret_cast<void*>(0x1);
  ASSERT_EQ(api::posix_memalign(&p, 64, 0), 0);
  EXPECT_TRUE(p == nullptr || hakt::aligned_to(p, 64));
  api::free(p);
}

// Zero bytes at every alignment, beyond the slab classes too (the fuzzer found
// posix_memalign(64 KiB, 0) failing with ENOMEM): a block, aligned, freeable.
TEST(PosixMemalign, ZeroSizeAtEveryAlignment) {
  for (std::size_t a = 8; a <= 4 * hakt::MiB; a *= 2) {
    void* p = nullptr;
    ASSERT_EQ(api::posix_memalign(&p, a, 0), 0) << "alignment " << a;
    ASSERT_NE(p, nullptr) << "alignment " << a;
    EXPECT_TRUE(hakt::aligned_to(p, a)) << "alignment " << a;
    api::free(p);
    void* q = api::aligned_alloc(a, 0);
    ASSERT_NE(q, nullptr) << "aligned_alloc, alignment " << a;
    EXPECT_TRUE(hakt::aligned_to(q, a));
    api::free(q);
  }
}

TEST(AlignedAllocErrors, NonPowerOfTwoIsEinval) {
  for (std::size_t a : {0ul, 3ul, 12ul, 24ul, 48ul, 4097ul, 3 * kPage}) {
    errno = 0;
    void* p = api::aligned_alloc(a, 64);
    EXPECT_EQ(p, nullptr) << "alignment " << a;
    EXPECT_EQ(errno, EINVAL) << "alignment " << a;
    if (p) api::free(p);
  }
}

TEST(AlignedAllocErrors, ImpossibleSizeIsEnomem) {
  for (std::size_t a : {16ul, kPage, 4 * MiB}) {
    for (std::size_t s : hakt::impossible_sizes()) {
      errno = 0;
      EXPECT_EQ(api::aligned_alloc(a, s), nullptr) << a << " " << s;
      EXPECT_EQ(errno, ENOMEM) << a << " " << s;
      errno = 0;
      EXPECT_EQ(api::memalign(a, s), nullptr) << a << " " << s;
      EXPECT_EQ(errno, ENOMEM) << a << " " << s;
    }
  }
}

TEST(AlignedAllocErrors, HugeAlignmentFailsCleanly) {
  // An alignment no address space can honour: NULL, never a misaligned pointer.
  for (std::size_t a : {std::size_t{1} << 47, std::size_t{1} << 60, SIZE_MAX / 2 + 1}) {
    errno = 0;
    void* p = api::aligned_alloc(a, 64);
    EXPECT_EQ(p, nullptr) << a;
    EXPECT_TRUE(errno == ENOMEM || errno == EINVAL) << a << " errno " << errno;
    void* q = nullptr;
    int rc = api::posix_memalign(&q, a, 64);
    EXPECT_TRUE(rc == ENOMEM || rc == EINVAL) << a << " rc " << rc;
  }
}

// glibc's memalign rounds a non-power-of-two alignment up to the next power of two.
TEST(Memalign, NonPowerOfTwoRoundsUp) {
  for (std::size_t a : {24ul, 48ul, 100ul, 3000ul}) {
    std::size_t want = 1;
    while (want < a) want *= 2;
    void* p = api::memalign(a, 200);
    ASSERT_NE(p, nullptr) << a;
    EXPECT_TRUE(hakt::aligned_to(p, want)) << "memalign(" << a << ") = " << p;
    std::memset(p, 1, 200);
    api::free(p);
  }
}

TEST(Valloc, PageAligned) {
  for (std::size_t s : {0ul, 1ul, 100ul, kPage - 1, kPage, kPage + 1, 40 * KiB, 64 * KiB + 1,
                        1 * MiB + 1, 2 * MiB + 1, 4 * MiB}) {
    void* p = api::valloc(s);
    ASSERT_NE(p, nullptr) << s;
    EXPECT_TRUE(hakt::aligned_to(p, kPage)) << "valloc(" << s << ") = " << p;
    std::size_t u = api::usable_size(p);
    EXPECT_GE(u, s);
    hakt::fill(p, u, s);
    EXPECT_EQ(hakt::check(p, u, s), SIZE_MAX);
    api::free(p);
  }
}

TEST(Pvalloc, RoundsUpToWholePages) {
  for (std::size_t s : {0ul, 1ul, 100ul, kPage - 1, kPage, kPage + 1, 40 * KiB + 3,
                        1 * MiB + 1, 4 * MiB - 5}) {
    void* p = api::pvalloc(s);
    ASSERT_NE(p, nullptr) << s;
    EXPECT_TRUE(hakt::aligned_to(p, kPage)) << "pvalloc(" << s << ") = " << p;
    std::size_t want = s == 0 ? kPage : (s + kPage - 1) / kPage * kPage;
    std::size_t u = api::usable_size(p);
    EXPECT_GE(u, want) << "pvalloc(" << s << ")";
    hakt::fill(p, u, s);  // the whole rounded-up size is the caller's
    EXPECT_EQ(hakt::check(p, u, s), SIZE_MAX);
    api::free(p);
  }
}

TEST(Pvalloc, RoundingOverflowIsEnomem) {
  for (std::size_t s : {SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - kPage + 2}) {
    errno = 0;
    void* p = api::pvalloc(s);
    EXPECT_EQ(p, nullptr) << s;
    EXPECT_EQ(errno, ENOMEM) << s;
    errno = 0;
    EXPECT_EQ(api::valloc(s), nullptr) << s;
    EXPECT_EQ(errno, ENOMEM) << s;
  }
}

}  // namespace
