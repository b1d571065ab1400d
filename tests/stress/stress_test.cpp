// Stress: threads share a table of blocks and replace, verify, reallocate and free each
// other's blocks at random for a fixed time (HAKMEM_STRESS_SECONDS, default 8), with
// bursts of local churn, flushes and trims. Every block carries its size and seed in its
// first 16 bytes and a pattern after, verified before any free or realloc. Also watches
// the number of mappings (purging must not split the address space into VMAs).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "common/api.hpp"
#include "common/test_support.hpp"
#include "stress/stress_blocks.hpp"

namespace {

using hakt::KiB;
using hakt::MiB;
using namespace hakt_stress;

class Stress {
 public:
  static constexpr int kSlots = 4096;

  void worker(int t, std::chrono::steady_clock::time_point end) {
    Rng r{0xABCDEF12345ull * (t + 3)};
    std::uint64_t n = 0;
    while ((n++ & 255) != 0 || std::chrono::steady_clock::now() < end) {
      std::uint64_t op = r.below(100);
      if (op < 50) {
        std::size_t size = random_size(r);
        void* p = make_block(r, size, r.next());
        if (!p) {
          errors_++;
          continue;
        }
        if (void* old = slots_[r.below(kSlots)].exchange(p)) retire(old);
      } else if (op < 70) {
        void* p = slots_[r.below(kSlots)].exchange(nullptr);
        if (!p) continue;
        if (!verify(p)) corrupt_++;
        auto* h = static_cast<Header*>(p);
        std::size_t old_size = h->size, ns = random_size(r);
        std::uint64_t seed = h->seed;
        void* q = api::realloc(p, ns);
        if (!q) {
          errors_++;
          continue;
        }
        // The kept prefix must be intact; then re-stamp for the new size.
        h = static_cast<Header*>(q);
        if (h->seed != seed ||
            hakt::check(static_cast<char*>(q) + sizeof(Header),
                        std::min(old_size, ns) - sizeof(Header), seed) != SIZE_MAX)
          corrupt_++;
        h->size = ns;
        hakt::fill(static_cast<char*>(q) + sizeof(Header), ns - sizeof(Header), seed);
        if (void* old = slots_[r.below(kSlots)].exchange(q)) retire(old);
      } else if (op < 99) {
        void* local[64];
        int k = static_cast<int>(r.below(64)) + 1;
        for (int i = 0; i < k; ++i) {
          local[i] = api::malloc(16 + r.below(512));
          if (!local[i]) errors_++;
          else std::memset(local[i], i, 16);
        }
        for (int i = k; i-- > 0;) api::free(local[i]);
      } else {
        if (r.below(50) == 0) api::malloc_trim(0);
        else hak_thread_flush();
        long maps = hakt::count_maps();
        long prev = max_maps_.load();
        while (maps > prev && !max_maps_.compare_exchange_weak(prev, maps)) {}
      }
    }
  }

  void retire(void* p) {
    if (!verify(p)) corrupt_++;
    api::free(p);
  }

  void drain() {
    for (auto& s : slots_)
      if (void* p = s.exchange(nullptr)) retire(p);
  }

  std::atomic<int> errors_{0}, corrupt_{0};
  std::atomic<long> max_maps_{0};
  std::atomic<void*> slots_[kSlots] = {};
};

TEST(Stress, SharedSlotsManyThreads) {
  api::NoBadFrees no_bad_frees;
  int seconds = 8;
  if (const char* e = std::getenv("HAKMEM_STRESS_SECONDS")) seconds = std::atoi(e);
  const int threads = 6;
  long maps0 = hakt::count_maps();
  Stress s;
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) ts.emplace_back([&, t] { s.worker(t, end); });
  for (auto& t : ts) t.join();
  s.drain();
  api::malloc_trim(0);
  long maps1 = hakt::count_maps();
  std::printf("stress: mappings %ld at start, max %ld during, %ld after trim; RSS %ld KiB\n",
              maps0, s.max_maps_.load(), maps1, hakt::status_kib("VmRSS"));
  EXPECT_EQ(s.corrupt_.load(), 0) << "blocks corrupted";
  EXPECT_EQ(s.errors_.load(), 0) << "allocations failed";
  EXPECT_LT(s.max_maps_.load(), maps0 + 2000) << "purging fragments the address space";
  hakmem_stats st = api::stats();
  EXPECT_EQ(st.invalid_frees, 0u);
  EXPECT_EQ(st.double_frees, 0u);
}

// A long-lived thread frees what short-lived threads allocated, and vice versa, in a loop.
TEST(Stress, ProducerThreadsComeAndGo) {
  api::NoBadFrees no_bad_frees;
  std::atomic<void*> box[256] = {};
  std::atomic<bool> stop{false};
  std::atomic<int> corrupt{0};
  std::thread consumer([&] {
    Rng r{5};
    while (!stop.load()) {
      if (void* p = box[r.below(256)].exchange(nullptr)) {
        if (!verify(p)) corrupt++;
        api::free(p);
      }
    }
  });
  const int rounds = hakt::kSanitized ? 100 : 1000;
  for (int i = 0; i < rounds; ++i) {
    std::thread([&, i] {
      Rng r{static_cast<std::uint64_t>(i) + 1};
      for (int k = 0; k < 200; ++k) {
        void* p = make_block(r, 16 + r.below(2000) + (k == 0 ? 200 * KiB : 0), r.next());
        if (void* old = box[r.below(256)].exchange(p)) {
          if (!verify(old)) corrupt++;
          api::free(old);
        }
      }
    }).join();
  }
  stop = true;
  consumer.join();
  for (auto& b : box)
    if (void* p = b.exchange(nullptr)) {
      if (!verify(p)) corrupt++;
      api::free(p);
    }
  EXPECT_EQ(corrupt.load(), 0);
}

}  // namespace
