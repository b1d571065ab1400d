// Stress in a bounded number of rounds (issue 14, item 4). Each round, short-lived threads
// allocate one block of every size worth testing — both ends of every slab class (16 B ..
// 32 KiB), every span size (page multiples to 1 MiB) and a few huge blocks — through a
// random entry point, and park it in a table shared by all threads, freeing (after verifying)
// whatever it replaces; then they exit while their blocks live on. A long-lived thread
// verifies, reallocates and frees blocks of the table all the while, most of them made by
// threads that are gone. In some rounds the main thread forks while the workers run: the
// child verifies and frees the blocks it inherited (owned by threads it does not have),
// allocates every size again, checks and exits 0. The number of mappings (VMAs) is recorded
// every round and must stay bounded: purging and huge blocks must not fragment the address
// space as rounds go by. HAKMEM_STRESS_ROUNDS overrides the number of rounds.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <cstdint>
#include <cstdlib>
#include <thread>
#include <vector>

#include "common/api.hpp"
#include "common/test_support.hpp"
#include "stress/stress_blocks.hpp"

namespace {

using namespace hakt_stress;

// Both ends of every slab class, found through usable_size; then spans and huge blocks.
std::vector<std::size_t> every_size() {
  std::vector<std::size_t> v;
  std::size_t prev_usable = 0;
  for (std::size_t s = 16; s <= 32 * KiB; ++s) {
    void* p = api::malloc(s);
    std::size_t u = api::usable_size(p);
    api::free(p);
    if (u != prev_usable) {  // s is the first size of a new class; its top end is u
      v.push_back(s);
      if (u != s) v.push_back(u);
      prev_usable = u;
    }
  }
  for (std::size_t s = 32 * KiB + 1; s <= 1 * MiB; s += 4 * KiB) v.push_back(s);
  v.push_back(1 * MiB);
  for (std::size_t s : {1 * MiB + 1, 1 * MiB + 12 * KiB, 2 * MiB + 5, 5 * MiB}) v.push_back(s);
  return v;
}

class Rounds {
 public:
  static constexpr int kSlots = 2048;
  static constexpr int kWorkers = 4;

  explicit Rounds(std::vector<std::size_t> sizes) : sizes_(std::move(sizes)) {}

  // One worker of one round: every kWorkers-th size, starting at its own offset.
  void worker(int round, int t) {
    Rng r{0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(round * kWorkers + t + 1)};
    for (std::size_t i = static_cast<std::size_t>(t); i < sizes_.size(); i += kWorkers) {
      void* p = make_block(r, sizes_[i], r.next());
      if (!p) {
        errors_++;
        continue;
      }
      if (void* old = slots_[r.below(kSlots)].exchange(p)) retire(old);
      if (r.below(8) == 0) {  // some local churn of small blocks between the big ones
        void* q[16];
        for (auto& x : q) x = api::malloc(16 + r.below(2000));
        for (auto& x : q) api::free(x);
      }
    }
  }

  // The long-lived thread: frees and reallocates blocks made by threads that are gone.
  void reaper() {
    Rng r{77};
    while (!stop_.load(std::memory_order_relaxed)) {
      void* p = slots_[r.below(kSlots)].exchange(nullptr);
      if (!p) {
        std::this_thread::yield();
        continue;
      }
      if (!verify(p)) corrupt_++;
      if (r.below(4) != 0) {
        api::free(p);
        continue;
      }
      auto* h = static_cast<Header*>(p);
      std::size_t old_size = h->size, ns = sizes_[r.below(sizes_.size())];
      std::uint64_t seed = h->seed;
      void* q = api::realloc(p, ns);
      if (!q) {
        errors_++;
        continue;
      }
      if (hakt::check(static_cast<char*>(q) + sizeof(Header),
                      std::min(old_size, ns) - sizeof(Header), seed) != SIZE_MAX)
        corrupt_++;
      static_cast<Header*>(q)->size = ns;
      hakt::fill(static_cast<char*>(q) + sizeof(Header), ns - sizeof(Header), seed);
      if (void* old = slots_[r.below(kSlots)].exchange(q)) retire(old);
    }
  }

  // In a forked child: verify and free everything inherited, allocate every size, exit 0.
  int child() {
    int bad = 0;
    for (auto& s : slots_)
      if (void* p = s.exchange(nullptr)) {
        if (!verify(p)) bad |= 1;
        api::free(p);
      }
    Rng r{4242};
    std::vector<void*> mine;
    mine.reserve(sizes_.size());
    for (std::size_t i = 0; i < sizes_.size(); i += 2) {
      void* p = make_block(r, sizes_[i], i);
      if (!p) bad |= 2;
      else mine.push_back(p);
    }
    for (void* p : mine) {
      if (!verify(p)) bad |= 4;
      api::free(p);
    }
    return bad;
  }

  void retire(void* p) {
    if (!verify(p)) corrupt_++;
    api::free(p);
  }

  void drain() {
    for (auto& s : slots_)
      if (void* p = s.exchange(nullptr)) retire(p);
  }

  std::vector<std::size_t> sizes_;
  std::atomic<int> errors_{0}, corrupt_{0};
  std::atomic<bool> stop_{false};
  std::atomic<void*> slots_[kSlots] = {};
};

TEST(Stress, RoundsEverySizeThreadChurnAndFork) {
  api::NoBadFrees no_bad_frees;
  int rounds = hakt::kSanitized ? 6 : 16;
  if (const char* e = std::getenv("HAKMEM_STRESS_ROUNDS")) rounds = std::atoi(e);
  Rounds s(every_size());
  ASSERT_GT(s.sizes_.size(), 300u) << "classes and spans not found";
  long maps0 = hakt::count_maps(), max_maps = maps0;
  std::vector<long> maps_per_round;
  std::vector<long> superslabs_per_round;  // SuperSlabs mapped so far (hakmem_stats)
  int forks = 0, children_ok = 0;
  std::thread reaper([&] { s.reaper(); });
  for (int round = 0; round < rounds; ++round) {
    std::vector<std::thread> ts;
    for (int t = 0; t < Rounds::kWorkers; ++t) ts.emplace_back([&, round, t] { s.worker(round, t); });
    if (round % 4 == 1) {
      ++forks;
      hakt::ChildResult c = hakt::run_in_child([&] { return s.child(); }, 120);
      if (c.ok()) ++children_ok;
      else ADD_FAILURE() << "forked child in round " << round << ": " << c.describe();
    }
    for (auto& t : ts) t.join();
    maps_per_round.push_back(hakt::count_maps());
    superslabs_per_round.push_back(static_cast<long>(api::stats().superslabs_mapped));
    max_maps = std::max(max_maps, maps_per_round.back());
  }
  s.stop_ = true;
  reaper.join();
  s.drain();
  api::malloc_trim(0);
  long maps1 = hakt::count_maps();
  std::printf("rounds: %d rounds of %zu sizes, %d forks; mappings %ld at start, max %ld, "
              "%ld after trim; RSS %ld KiB\n",
              rounds, s.sizes_.size(), forks, maps0, max_maps, maps1, hakt::status_kib("VmRSS"));
  EXPECT_EQ(s.corrupt_.load(), 0) << "blocks corrupted";
  EXPECT_EQ(s.errors_.load(), 0) << "allocations failed";
  EXPECT_EQ(children_ok, forks);
  // SuperSlab address space is kept once mapped (superslab/pool.hpp), so the count follows
  // the peak of the live set, which still rises now and then after 16 rounds; what must not
  // happen is growth proportional to the work (purging splitting mappings, spans or huge
  // blocks leaking address space: hundreds a round). Measured: 1-3 new mappings a round
  // over rounds 32-64 (release), up to 9 a round over rounds 8-16 (override build, loaded
  // machine); the bound is 16 a round on average over the second half. Not under
  // sanitizers: their own allocator maps too.
  std::string trace;
  for (long m : maps_per_round) trace.append(" ").append(std::to_string(m));
  std::printf("rounds: mappings after each round:%s\n", trace.c_str());
  const std::size_t half = maps_per_round.size() / 2;
  if (!hakt::kSanitized && half > 0) {
    long growth = maps_per_round.back() - maps_per_round[half - 1];
    long rounds_after = static_cast<long>(maps_per_round.size() - half);
    // A SuperSlab mapped for the first time in the second half (a new peak of the live set)
    // may be a mapping of its own, two where MADV_HUGEPAGE on it split a neighbour: those
    // are address space the allocator still holds, not a leak.
    long new_superslabs = superslabs_per_round.back() - superslabs_per_round[half - 1];
    EXPECT_LE(growth, 16 * rounds_after + 2 * new_superslabs)
        << "mappings grow with the rounds:" << trace << " (SuperSlabs mapped in the second half: "
        << new_superslabs << ")";
  }
  if (!hakt::kSanitized) {
    EXPECT_LT(max_maps, maps0 + 1000) << "far more mappings than live blocks need";
  }
}

}  // namespace
