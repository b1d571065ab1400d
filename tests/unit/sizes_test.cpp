// Item 1: every entry point at every size-class boundary and at large sizes up to 4 MiB.
// For each size: usable size >= request, the whole usable size writable, the block does
// not overlap its neighbours, and the internal waste stays within the contract.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/api.hpp"
#include "common/test_support.hpp"

namespace {

using hakt::KiB;
using hakt::MiB;

struct EntryPoint {
  std::string name;
  std::size_t align;  // alignment the result must have
  bool zeroed;        // the requested bytes must be zero
  std::function<void*(std::size_t)> alloc;
  std::function<void(void*, std::size_t)> release;
};

std::vector<EntryPoint> entry_points() {
  auto plain_free = [](void* p, std::size_t) { api::free(p); };
  return {
      {"malloc/free", 16, false, [](std::size_t n) { return api::malloc(n); }, plain_free},
      {"malloc/free_sized", 16, false, [](std::size_t n) { return api::malloc(n); },
       [](void* p, std::size_t n) { api::free_sized(p, n); }},
      {"calloc(1,n)", 16, true, [](std::size_t n) { return api::calloc(1, n); }, plain_free},
      {"calloc(n,1)", 16, true, [](std::size_t n) { return api::calloc(n, 1); }, plain_free},
      {"realloc(NULL,n)", 16, false, [](std::size_t n) { return api::realloc(nullptr, n); },
       plain_free},
      {"reallocarray(NULL,1,n)", 16, false,
       [](std::size_t n) { return api::reallocarray(nullptr, 1, n); }, plain_free},
      {"posix_memalign(16)", 16, false,
       [](std::size_t n) {
         void* p = nullptr;
         return api::posix_memalign(&p, 16, n) == 0 ? p : nullptr;
       },
       plain_free},
      {"posix_memalign(64)", 64, false,
       [](std::size_t n) {
         void* p = nullptr;
         return api::posix_memalign(&p, 64, n) == 0 ? p : nullptr;
       },
       plain_free},
      {"aligned_alloc(32)/free_aligned_sized", 32, false,
       [](std::size_t n) { return api::aligned_alloc(32, n); },
       [](void* p, std::size_t n) { api::free_aligned_sized(p, 32, n); }},
      {"memalign(128)", 128, false, [](std::size_t n) { return api::memalign(128, n); },
       plain_free},
      {"valloc", 4096, false, [](std::size_t n) { return api::valloc(n); }, plain_free},
      {"pvalloc", 4096, false, [](std::size_t n) { return api::pvalloc(n); }, plain_free},
  };
}

// Allocates `count` blocks of `size`, fills each whole usable size with its own pattern,
// verifies all of them (catching overlap), checks their address ranges are disjoint.
void exercise(const EntryPoint& ep, std::size_t size, int count) {
  std::vector<void*> ptrs(count);
  std::vector<std::size_t> usable(count);
  for (int i = 0; i < count; ++i) {
    void* p = ep.alloc(size);
    ASSERT_NE(p, nullptr) << ep.name << " size " << size;
    ASSERT_TRUE(hakt::aligned_to(p, ep.align)) << ep.name << " size " << size << " p " << p;
    ASSERT_TRUE(api::owns(p)) << ep.name << " size " << size;
    std::size_t u = api::usable_size(p);
    ASSERT_GE(u, size) << ep.name << " size " << size;
    if (ep.zeroed) {
      ASSERT_TRUE(hakt::all_zero(p, size)) << ep.name << " size " << size;
    }
    ptrs[i] = p;
    usable[i] = u;
    hakt::fill(p, u, size * 131 + i);
  }
  for (int i = 0; i < count; ++i)
    ASSERT_EQ(hakt::check(ptrs[i], usable[i], size * 131 + i), SIZE_MAX)
        << ep.name << " size " << size << " block " << i << " was overwritten";
  std::vector<std::pair<std::uintptr_t, std::uintptr_t>> ranges;
  for (int i = 0; i < count; ++i) {
    auto b = reinterpret_cast<std::uintptr_t>(ptrs[i]);
    ranges.emplace_back(b, b + usable[i]);
  }
  std::sort(ranges.begin(), ranges.end());
  for (int i = 1; i < count; ++i)
    ASSERT_LE(ranges[i - 1].second, ranges[i].first) << ep.name << " size " << size
                                                     << ": blocks overlap";
  for (int i = 0; i < count; ++i) ep.release(ptrs[i], size);
}

class EntryPointSizes : public ::testing::TestWithParam<int> {};

std::size_t malloc_usable(std::size_t n) {
  void* p = api::malloc(n);
  std::size_t u = api::usable_size(p);
  api::free(p);
  return u;
}

TEST_P(EntryPointSizes, SmallSizeClassBoundaries) {
  api::NoBadFrees no_bad_frees;
  const EntryPoint ep = entry_points()[GetParam()];
  static const std::vector<std::size_t> sizes = hakt::small_sizes(malloc_usable);
  for (std::size_t s : sizes) {
    exercise(ep, s, 4);
    if (HasFatalFailure()) return;
  }
}

TEST_P(EntryPointSizes, LargeSizes) {
  api::NoBadFrees no_bad_frees;
  const EntryPoint ep = entry_points()[GetParam()];
  for (std::size_t s : hakt::large_sizes()) {
    exercise(ep, s, 3);
    if (HasFatalFailure()) return;
  }
}

TEST_P(EntryPointSizes, ImpossibleSizesGiveEnomem) {
  const EntryPoint ep = entry_points()[GetParam()];
  for (std::size_t s : hakt::impossible_sizes()) {
    errno = 0;
    void* p = ep.alloc(s);
    EXPECT_EQ(p, nullptr) << ep.name << " size " << s;
    if (ep.name.rfind("posix_memalign", 0) != 0) {
      EXPECT_EQ(errno, ENOMEM) << ep.name << " size " << s;
    }
  }
}

std::string entry_point_test_name(const ::testing::TestParamInfo<int>& info) {
  const std::string name = entry_points()[info.param].name;
  std::string r;
  for (char c : name) r += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return r;
}

INSTANTIATE_TEST_SUITE_P(All, EntryPointSizes,
                         ::testing::Range(0, static_cast<int>(entry_points().size())),
                         entry_point_test_name);

// Every size from 1 to 32 KiB through malloc: waste within the contract (< 16 B up to
// 128 B, at most 12.5% above), minimum 16 B, 16-byte alignment, usable size writable.
TEST(Sizes, EverySmallSizeWasteAndAlignment) {
  api::NoBadFrees no_bad_frees;
  std::vector<void*> keep;
  for (std::size_t r = 1; r <= 32768; ++r) {
    void* p = api::malloc(r);
    ASSERT_NE(p, nullptr) << r;
    ASSERT_TRUE(hakt::aligned_to(p, 16)) << r;
    std::size_t u = api::usable_size(p);
    ASSERT_GE(u, r) << r;
    ASSERT_GE(u, 16u) << r;
    if (r <= 128) {
      ASSERT_LT(u - r, 16u) << "request " << r << " usable " << u;
    } else {
      ASSERT_LE(8 * u, 9 * r) << "request " << r << " usable " << u << " wastes > 12.5%";
    }
    std::memset(p, static_cast<int>(r), u);
    if (r % 7 == 0) keep.push_back(p); else api::free(p);
  }
  for (void* p : keep) {
    std::size_t u = api::usable_size(p);
    const auto* b = static_cast<const unsigned char*>(p);
    unsigned char want = b[0];
    for (std::size_t i = 0; i < u; ++i) ASSERT_EQ(b[i], want);
    api::free(p);
  }
}

TEST(Sizes, MallocZeroGivesDistinctFreeablePointers) {
  void* a = api::malloc(0);
  void* b = api::malloc(0);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a, b);
  EXPECT_TRUE(hakt::aligned_to(a, 16));
  api::free(a);
  api::free(b);
  void* c = api::calloc(0, 0);
  EXPECT_NE(c, nullptr);
  api::free(c);
}

TEST(Sizes, NullArguments) {
  EXPECT_EQ(api::usable_size(nullptr), 0u);
  api::free(nullptr);
  api::free_sized(nullptr, 0);
  api::free_sized(nullptr, 100);
  api::free_aligned_sized(nullptr, 64, 100);
}

// Sizes up to 32 KiB map to a class; many blocks of one class must come from slabs
// without overlap even across a slab's end (hundreds of blocks of each edge size).
TEST(Sizes, ManyBlocksPerClassDoNotOverlap) {
  const EntryPoint ep = entry_points()[0];
  for (std::size_t s : {16ul, 48ul, 128ul, 144ul, 1024ul, 1152ul, 4096ul, 8192ul, 16384ul,
                        28672ul, 32768ul}) {
    int n = static_cast<int>(std::min<std::size_t>(2000, 8 * MiB / s));
    exercise(ep, s, n);
    if (HasFatalFailure()) return;
  }
}

}  // namespace
