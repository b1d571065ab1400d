// Static linking (README's link line): the program links
//   -Wl,--whole-archive libhakmem_override.a -Wl,--no-whole-archive libhakmem.a
// dynamically against libc, or fully -static. Either way malloc, operator new and libc's
// internal allocations must be hakmem's, and threads and fork must work.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "common/test_support.hpp"
#include "hakmem/hakmem.h"

namespace {

TEST(StaticLink, MallocAndNewAreHakmem) {
  void* p = std::malloc(100);
  EXPECT_TRUE(hak_owns(p)) << "malloc is not hakmem's in the statically linked program";
  std::free(p);
  auto* v = new std::vector<int>(1000, 7);
  EXPECT_TRUE(hak_owns(v));
  EXPECT_TRUE(hak_owns(v->data()));
  delete v;
  char* d = strdup("static");
  EXPECT_TRUE(hak_owns(d)) << "libc's strdup does not use hakmem's malloc";
  std::free(d);
  void* a = std::aligned_alloc(4096, 10000);
  EXPECT_TRUE(hakt::aligned_to(a, 4096));
  std::free(a);
}

TEST(StaticLink, ThreadsAndCrossThreadFrees) {
  std::vector<void*> blocks(20000);
  std::thread([&] {
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      blocks[i] = std::malloc(16 + i % 3000);
      std::memset(blocks[i], 1, 16);
    }
  }).join();
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&, t] {
      for (std::size_t i = t; i < blocks.size(); i += 4) std::free(blocks[i]);
    });
  for (auto& th : ts) th.join();
  for (int i = 0; i < 500; ++i) std::thread([] { std::string s(1000, 'x'); }).join();
  hakmem_stats s{};
  hakmem_stats_get(&s);
  EXPECT_EQ(s.invalid_frees, 0u);
  EXPECT_EQ(s.double_frees, 0u);
}

TEST(StaticLink, ForkFromMultithreadedProgram) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> ts;
  for (int t = 0; t < 2; ++t)
    ts.emplace_back([&] {
      while (!stop) {
        std::vector<std::string> v(100, std::string(200, 'y'));
        std::free(std::malloc(100000));
      }
    });
  for (int i = 0; i < 10; ++i) {
    hakt::ChildResult r = hakt::run_in_child([] {
      std::vector<std::string> v;
      for (int k = 0; k < 10000; ++k) v.emplace_back(k % 500, 'c');
      void* big = std::malloc(8 << 20);
      if (!big) return 1;
      std::memset(big, 1, 8 << 20);
      std::free(big);
      return 0;
    }, 30);
    EXPECT_TRUE(r.ok()) << "fork " << i << ": " << r.describe();
  }
  stop = true;
  for (auto& th : ts) th.join();
}

}  // namespace
