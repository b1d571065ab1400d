// Item 8: every operator new / delete form in the override build (linked with libhakmem.so):
// plain, array, sized, aligned, nothrow; memory freed by the other family (free of new'd
// memory, delete of malloc'd memory — libstdc++ and C libraries do this); the new_handler
// protocol; bad_alloc.
#include <gtest/gtest.h>
#include <malloc.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "common/test_support.hpp"
#include "hakmem/hakmem.h"

namespace {

using hakt::KiB;
using hakt::MiB;

void check_block(void* p, std::size_t size, std::size_t align = 16) {
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(hak_owns(p)) << "operator new did not come from hakmem";
  ASSERT_TRUE(hakt::aligned_to(p, align)) << p << " align " << align;
  ASSERT_GE(malloc_usable_size(p), size);
  hakt::fill(p, size, size);
  ASSERT_EQ(hakt::check(p, size, size), SIZE_MAX);
}

const std::size_t kSizes[] = {1, 16, 100, 1000, 4096, 32768, 40000, 1 * MiB + 1, 5 * MiB};
const std::size_t kAligns[] = {16, 32, 64, 256, 4096, 64 * KiB, 2 * MiB, 4 * MiB};

TEST(NewDelete, PlainAndArray) {
  for (std::size_t s : kSizes) {
    void* p = ::operator new(s);
    check_block(p, s);
    ::operator delete(p);
    p = ::operator new[](s);
    check_block(p, s);
    ::operator delete[](p);
  }
}

TEST(NewDelete, Sized) {
  for (std::size_t s : kSizes) {
    void* p = ::operator new(s);
    check_block(p, s);
    ::operator delete(p, s);
    p = ::operator new[](s);
    check_block(p, s);
    ::operator delete[](p, s);
  }
}

TEST(NewDelete, Nothrow) {
  for (std::size_t s : kSizes) {
    void* p = ::operator new(s, std::nothrow);
    check_block(p, s);
    ::operator delete(p, std::nothrow);
    p = ::operator new[](s, std::nothrow);
    check_block(p, s);
    ::operator delete[](p, std::nothrow);
  }
  EXPECT_EQ(::operator new(SIZE_MAX, std::nothrow), nullptr);
  EXPECT_EQ(::operator new[](SIZE_MAX - 4096, std::nothrow), nullptr);
}

TEST(NewDelete, AlignedEveryForm) {
  for (std::size_t a : kAligns) {
    for (std::size_t s : {1ul, 100ul, a, 3 * a + 1}) {
      std::align_val_t al{a};
      void* p = ::operator new(s, al);
      check_block(p, s, a);
      ::operator delete(p, al);
      p = ::operator new(s, al);
      check_block(p, s, a);
      ::operator delete(p, s, al);
      p = ::operator new[](s, al);
      check_block(p, s, a);
      ::operator delete[](p, al);
      p = ::operator new[](s, al);
      check_block(p, s, a);
      ::operator delete[](p, s, al);
      p = ::operator new(s, al, std::nothrow);
      check_block(p, s, a);
      ::operator delete(p, al, std::nothrow);
      p = ::operator new[](s, al, std::nothrow);
      check_block(p, s, a);
      ::operator delete[](p, al, std::nothrow);
    }
  }
}

TEST(NewDelete, NullDeleteIsNoop) {
  ::operator delete(nullptr);
  ::operator delete[](nullptr);
  ::operator delete(nullptr, std::size_t{8});
  ::operator delete(nullptr, std::align_val_t{64});
  ::operator delete(nullptr, std::nothrow);
}

TEST(NewDelete, ThrowsBadAlloc) {
  EXPECT_THROW(hakt::escape(::operator new(SIZE_MAX)), std::bad_alloc);
  EXPECT_THROW(hakt::escape(::operator new[](std::size_t{1} << 62)), std::bad_alloc);
  EXPECT_THROW(hakt::escape(::operator new(SIZE_MAX / 2, std::align_val_t{64})), std::bad_alloc);
  EXPECT_EQ(::operator new(SIZE_MAX / 2, std::align_val_t{64}, std::nothrow), nullptr);
  volatile std::size_t n = SIZE_MAX / 4;
  EXPECT_THROW(hakt::escape(new std::uint64_t[n]), std::bad_array_new_length);
}

int g_handler_calls = 0;
void handler_then_give_up() {
  ++g_handler_calls;
  std::set_new_handler(nullptr);  // next failure throws
}

// [new.delete.single]: on failure operator new calls the installed new_handler and retries.
TEST(NewDelete, CallsNewHandler) {
  g_handler_calls = 0;
  std::set_new_handler(handler_then_give_up);
  EXPECT_THROW(hakt::escape(::operator new(SIZE_MAX - 8)), std::bad_alloc);
  EXPECT_EQ(g_handler_calls, 1);
  g_handler_calls = 0;
  std::set_new_handler(handler_then_give_up);
  EXPECT_EQ(::operator new(SIZE_MAX - 8, std::nothrow), nullptr);
  EXPECT_EQ(g_handler_calls, 1) << "nothrow new must also consult the new_handler";
  std::set_new_handler(nullptr);
}

// Memory freed by the other family: the same allocator behind both.
TEST(NewDelete, CrossFamily) {
  for (std::size_t s : kSizes) {
    void* p = ::operator new(s);
    check_block(p, s);
    std::free(p);
    p = std::malloc(s);
    check_block(p, s);
    ::operator delete(p);
    p = std::malloc(s);
    ::operator delete(p, s);
    p = ::operator new[](s);
    p = std::realloc(p, s * 2 + 1);  // realloc of new'd memory
    ASSERT_NE(p, nullptr);
    std::free(p);
  }
  void* a = ::operator new(1000, std::align_val_t{256});
  std::free(a);
  void* b = std::aligned_alloc(4096, 8192);
  ::operator delete(b, std::align_val_t{4096});
  hakmem_stats s{};
  hakmem_stats_get(&s);
  EXPECT_EQ(s.invalid_frees, 0u);
  EXPECT_EQ(s.double_frees, 0u);
}

struct alignas(512) Page {
  char bytes[512];
};

TEST(NewDelete, ExpressionsAndContainers) {
  auto* one = new Page;
  EXPECT_TRUE(hakt::aligned_to(one, 512));
  delete one;
  auto* many = new Page[33];
  EXPECT_TRUE(hakt::aligned_to(many, 512));
  std::memset(many, 1, sizeof(Page) * 33);
  delete[] many;
  std::vector<std::unique_ptr<std::string>> v;
  for (int i = 0; i < 50000; ++i) v.push_back(std::make_unique<std::string>(i % 200, 'q'));
  EXPECT_TRUE(hak_owns(v.data()));
  EXPECT_TRUE(hak_owns(v[100].get()));
  std::map<std::string, std::vector<int>> m;
  for (int i = 0; i < 20000; ++i) m[std::to_string(i * 7919)].assign(i % 50, i);
  EXPECT_EQ(m.size(), 20000u);
  auto sp = std::make_shared<std::vector<double>>(100000, 1.5);
  EXPECT_EQ((*sp)[99999], 1.5);
  auto al = std::make_shared<Page>();
  EXPECT_TRUE(hakt::aligned_to(al.get(), 512));
}

}  // namespace
