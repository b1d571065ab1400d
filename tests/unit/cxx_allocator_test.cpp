// Item 8 (the part that needs no override): the C++ API of libhakmem.a — hakmem::allocate /
// deallocate and hakmem::Allocator in standard containers.
#include <gtest/gtest.h>

#include <cstdint>
#include <list>
#include <map>
#include <new>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/test_support.hpp"
#include "hakmem/hakmem.hpp"

namespace {

template <class T>
using HVec = std::vector<T, hakmem::Allocator<T>>;
using HString = std::basic_string<char, std::char_traits<char>, hakmem::Allocator<char>>;
template <class K, class V>
using HMap = std::map<K, V, std::less<K>, hakmem::Allocator<std::pair<const K, V>>>;

TEST(CxxApi, AllocateDeallocate) {
  for (std::size_t s : {1ul, 64ul, 5000ul, 1ul << 20, 3ul << 20}) {
    void* p = hakmem::allocate(s);
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(hak_owns(p));
    EXPECT_GE(hakmem::usable_size(p), s);
    hakt::fill(p, s, s);
    EXPECT_EQ(hakt::check(p, s, s), SIZE_MAX);
    if (s % 2) hakmem::deallocate(p); else hakmem::deallocate(p, s);
  }
}

TEST(CxxApi, AlignedAllocate) {
  for (std::size_t a = 16; a <= (4u << 20); a *= 4) {
    void* p = hakmem::allocate(100, std::align_val_t(a));
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(hakt::aligned_to(p, a)) << a;
    std::memset(p, 3, 100);
    hakmem::deallocate(p);
  }
}

TEST(CxxApi, AllocateThrowsBadAlloc) {
  EXPECT_THROW(hakmem::allocate(SIZE_MAX), std::bad_alloc);
  EXPECT_THROW(hakmem::allocate(std::size_t{1} << 62), std::bad_alloc);
  EXPECT_THROW(hakmem::allocate(SIZE_MAX - 100, std::align_val_t(64)), std::bad_alloc);
  hakmem::Allocator<std::uint64_t> a;
  EXPECT_THROW(a.allocate(SIZE_MAX / 4), std::bad_array_new_length);
  EXPECT_THROW(a.allocate(std::size_t{1} << 58), std::bad_alloc);
}

TEST(CxxApi, VectorGrowsAndKeepsContent) {
  HVec<std::uint64_t> v;
  for (std::uint64_t i = 0; i < 1000000; ++i) v.push_back(i * 2654435761u);
  EXPECT_TRUE(hak_owns(v.data()));
  for (std::uint64_t i = 0; i < 1000000; ++i) ASSERT_EQ(v[i], i * 2654435761u);
  v.resize(10);
  v.shrink_to_fit();
  EXPECT_EQ(v.size(), 10u);
  EXPECT_EQ(v[9], 9 * std::uint64_t{2654435761u});
}

TEST(CxxApi, MapAndStringsOfManySizes) {
  HMap<int, HString> m;
  for (int i = 0; i < 50000; ++i) m.emplace(i * 7 % 50000, HString(static_cast<std::size_t>(i % 300), static_cast<char>('a' + i % 26)));
  EXPECT_EQ(m.size(), 50000u);
  std::uint64_t total = 0;
  for (auto& [k, s] : m) {
    ASSERT_TRUE(s.empty() || s[0] == s.back());
    total += s.size();
  }
  EXPECT_GT(total, 0u);
  for (int i = 0; i < 50000; i += 2) m.erase(i);
  EXPECT_EQ(m.size(), 25000u);
}

struct alignas(128) Wide {
  std::uint8_t bytes[128];
};

TEST(CxxApi, OverAlignedElementType) {
  HVec<Wide> v(1000);
  EXPECT_TRUE(hakt::aligned_to(v.data(), 128));
  for (auto& w : v) std::memset(w.bytes, 9, sizeof w.bytes);
  v.resize(5000);
  EXPECT_TRUE(hakt::aligned_to(v.data(), 128));
  EXPECT_EQ(v[999].bytes[127], 9);
}

TEST(CxxApi, NodeContainersAcrossThreads) {
  // Nodes allocated on one thread, destroyed on another: cross-thread frees via the allocator.
  auto* l = new std::list<HString, hakmem::Allocator<HString>>();
  std::thread([&] {
    for (int i = 0; i < 20000; ++i) l->emplace_back(static_cast<std::size_t>(i % 64 + 1), 'x');
  }).join();
  std::size_t n = 0;
  for (auto& s : *l) n += s.size();
  EXPECT_GT(n, 20000u);
  delete l;
  std::unordered_map<int, int, std::hash<int>, std::equal_to<int>,
                     hakmem::Allocator<std::pair<const int, int>>> um;
  for (int i = 0; i < 100000; ++i) um[i] = -i;
  EXPECT_EQ(um[77777], -77777);
}

}  // namespace
