// Issue 14, item 1: the SuperSlab lifetime race. A remote free CASes objects onto a slab of
// another heap and then writes that SuperSlab's header to notify the owner; in between the
// owner may collect them, empty the slab and release the SuperSlab — and with
// HUGEPAGES=hugetlb and RESERVE_MB=0 the pool unmapped it at once, so the notify wrote into
// freed address space (mimalloc's test-stress segfaulted 8 of 8 runs). This test makes that
// window as wide as it can: short-lived threads whose objects are freed by other threads
// while they exit, owners emptying SuperSlabs continuously, adoption of orphans, under every
// HUGEPAGES value with RESERVE_MB=0 and a few hugetlb pages reserved when the test may
// (root). Contents are checked on every free; it fails by crashing or by a bad pattern.
#include <gtest/gtest.h>
#include <hakmem/hakmem.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/api.hpp"

namespace {

struct Obj {
  std::uint64_t* p;
  std::size_t words;
};

std::uint64_t pattern(const void* p, std::size_t i) {
  return reinterpret_cast<std::uintptr_t>(p) * 0x9e3779b97f4a7c15ull + i;
}

Obj make(std::mt19937_64& rng) {
  // Mostly small classes (many objects per slab), some near slab size (few per slab, so
  // slabs and SuperSlabs empty often).
  std::size_t bytes = (rng() % 8 == 0) ? 4096 + rng() % 28000 : 16 + rng() % 1000;
  auto* p = static_cast<std::uint64_t*>(api::malloc(bytes));
  std::size_t words = bytes / 8;
  for (std::size_t i = 0; i < words; ++i) p[i] = pattern(p, i);
  return Obj{p, words};
}

bool check_and_free(const Obj& o) {
  bool ok = true;
  for (std::size_t i = 0; i < o.words; ++i) ok &= o.p[i] == pattern(o.p, i);
  api::free(o.p);
  return ok;
}

// Reserves `pages` hugetlb pages for the test when it can, and restores the old value.
class HugetlbReserve {
 public:
  explicit HugetlbReserve(long pages) {
    std::ifstream in(kPath);
    if (!(in >> old_)) return;
    std::ofstream out(kPath);
    if (!(out << pages)) return;
    out.close();
    changed_ = true;
  }
  ~HugetlbReserve() {
    if (!changed_) return;
    std::ofstream out(kPath);
    out << old_;
  }

 private:
  static constexpr const char* kPath = "/proc/sys/vm/nr_hugepages";
  long old_ = 0;
  bool changed_ = false;
};

void churn(int rounds, std::atomic<int>& bad) {
  std::mutex m;
  std::vector<Obj> shared;  // objects allocated by threads that exit before they are freed
  for (int r = 0; r < rounds; ++r) {
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t) {
      ts.emplace_back([&, seed = r * 16 + t] {
        std::mt19937_64 rng(seed);
        std::vector<Obj> mine;
        for (int i = 0; i < 3000; ++i) {
          mine.push_back(make(rng));
          if (mine.size() > 200) {
            // Free a random half locally, hand the rest to whoever comes next.
            std::vector<Obj> give;
            for (auto& o : mine) {
              if (rng() & 1) {
                if (!check_and_free(o)) bad.fetch_add(1);
              } else {
                give.push_back(o);
              }
            }
            mine.clear();
            std::vector<Obj> take;
            {
              std::lock_guard<std::mutex> g(m);
              take.swap(shared);
              shared.insert(shared.end(), give.begin(), give.end());
            }
            // Remote frees of objects whose owners may be exiting right now.
            for (auto& o : take) {
              if (!check_and_free(o)) bad.fetch_add(1);
            }
          }
        }
        std::lock_guard<std::mutex> g(m);
        shared.insert(shared.end(), mine.begin(), mine.end());
      });
    }
    for (auto& t : ts) t.join();
  }
  for (auto& o : shared) {
    if (!check_and_free(o)) bad.fetch_add(1);
  }
}

class SuperSlabLifetime : public ::testing::TestWithParam<long> {};

TEST_P(SuperSlabLifetime, RemoteFreesWhileOwnersEmptyAndExit) {
  if (std::getenv("HAKMEM_HUGEPAGES") || std::getenv("HAKMEM_RESERVE_MB")) {
    GTEST_SKIP() << "policy overridden";
  }
  HugetlbReserve reserve(GetParam() == 2 ? 64 : 0);
  long old_huge = 0, old_reserve = 0;
  ASSERT_EQ(hak_option_get("HUGEPAGES", &old_huge), 0);
  ASSERT_EQ(hak_option_get("RESERVE_MB", &old_reserve), 0);
  ASSERT_EQ(hak_option_set("HUGEPAGES", GetParam()), 0);
  ASSERT_EQ(hak_option_set("RESERVE_MB", 0), 0);
  std::atomic<int> bad{0};
  churn(12, bad);
  hak_malloc_trim(0);  // purges (and, for hugetlb, unmaps) what the churn left empty
  EXPECT_EQ(bad.load(), 0) << "objects changed while they were live";
  ASSERT_EQ(hak_option_set("HUGEPAGES", old_huge), 0);
  ASSERT_EQ(hak_option_set("RESERVE_MB", old_reserve), 0);
}

// 0 auto, 1 thp, 2 hugetlb, 3 off.
INSTANTIATE_TEST_SUITE_P(EveryHugePagePolicy, SuperSlabLifetime, ::testing::Values(0L, 1L, 2L, 3L));

}  // namespace
