// Item 4 (first half): many threads with cross-thread frees and content checks. Blocks
// travel through producer/consumer queues in a ring, are verified, sometimes reallocated by
// a thread that does not own them, and freed two or three threads away from their owner.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "common/api.hpp"
#include "common/test_support.hpp"

namespace {

using hakt::KiB;
using hakt::MiB;

struct Msg {
  void* p;
  std::size_t size;
  std::uint64_t seed;
  int hops;
};

class Queue {
 public:
  void push(std::vector<Msg>& batch) {
    std::lock_guard<std::mutex> g(m_);
    items_.insert(items_.end(), batch.begin(), batch.end());
    batch.clear();
  }
  void pop_all(std::vector<Msg>& out) {
    std::lock_guard<std::mutex> g(m_);
    out.insert(out.end(), items_.begin(), items_.end());
    items_.clear();
  }

 private:
  std::mutex m_;
  std::deque<Msg> items_;
};

using hakt::Rng;

std::size_t pick_size(Rng& r) {
  std::uint64_t x = r.next();
  std::uint64_t bucket = x % 100;
  if (bucket == 0) return 32 * KiB + x % (1 * MiB);  // large: spans and own mappings
  if (bucket < 10) return 1024 + x % (31 * KiB);
  return 1 + x % 1024;
}

// Allocates through a rotating entry point; calloc'd blocks are checked for zero.
void* alloc_any(Rng& r, std::size_t size) {
  switch (r.next() % 6) {
    case 0: {
      void* p = api::calloc(1, size);
      if (p && !hakt::all_zero(p, size)) ADD_FAILURE() << "calloc(" << size << ") not zeroed";
      return p;
    }
    case 1: return api::aligned_alloc(64, size);
    case 2: return api::realloc(nullptr, size);
    case 3: {
      void* p = nullptr;
      return api::posix_memalign(&p, 256, size) == 0 ? p : nullptr;
    }
    default: return api::malloc(size);
  }
}

void run_ring(int threads, int per_thread) {
  std::vector<Queue> queues(threads);
  std::atomic<std::int64_t> outstanding{static_cast<std::int64_t>(threads) * per_thread};
  std::atomic<int> failures{0};
  auto worker = [&](int t) {
    Rng rng{0x9E3779B97F4A7C15ull * (t + 1)};
    std::vector<Msg> out, in;
    int produced = 0;
    auto verify_and_pass = [&](Msg m) {
      std::size_t bad = hakt::check(m.p, m.size, m.seed);
      if (bad != SIZE_MAX) {
        if (failures++ < 10)
          ADD_FAILURE() << "block of " << m.size << " from another thread corrupted at " << bad;
      }
      if (m.hops == 1 && rng.next() % 4 == 0) {
        // Grow or shrink a block this thread does not own.
        std::size_t ns = pick_size(rng);
        void* q = api::realloc(m.p, ns);
        if (!q) {
          ADD_FAILURE() << "realloc failed";
          return;
        }
        if (hakt::check(q, std::min(ns, m.size), m.seed) != SIZE_MAX && failures++ < 10)
          ADD_FAILURE() << "cross-thread realloc " << m.size << " -> " << ns << " lost content";
        m.p = q;
        m.size = ns;
        hakt::fill(q, ns, m.seed);
      }
      if (m.hops < 2) {
        ++m.hops;
        out.push_back(m);
      } else {
        api::free(m.p);
        outstanding--;
      }
    };
    while (produced < per_thread || outstanding.load() > 0) {
      for (int k = 0; k < 32 && produced < per_thread; ++k, ++produced) {
        std::size_t size = pick_size(rng);
        void* p = alloc_any(rng, size);
        if (!p) {
          ADD_FAILURE() << "allocation of " << size << " failed";
          outstanding--;
          continue;
        }
        std::uint64_t seed = (static_cast<std::uint64_t>(t) << 40) | produced;
        hakt::fill(p, size, seed);
        // Local churn too: a block allocated and freed by this thread.
        void* local = api::malloc(size / 2 + 1);
        api::free(local);
        out.push_back({p, size, seed, 0});
      }
      queues[(t + 1) % threads].push(out);
      queues[t].pop_all(in);
      for (const Msg& m : in) verify_and_pass(m);
      in.clear();
      if (!out.empty()) queues[(t + 1) % threads].push(out);
      if (produced >= per_thread) std::this_thread::yield();
    }
  };
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) ts.emplace_back(worker, t);
  for (auto& th : ts) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(outstanding.load(), 0);
}

TEST(CrossThread, RingOfEightThreads) {
  api::NoBadFrees no_bad_frees;
  hakmem_stats before = api::stats();
  run_ring(8, hakt::kSanitized ? 4000 : 40000);
  hakmem_stats after = api::stats();
  EXPECT_GT(after.remote_frees, before.remote_frees);
}

// Threads that exit while their blocks are still in use elsewhere: the blocks stay valid,
// are freed later by others, and their slabs are reused by new threads.
TEST(CrossThread, BlocksOutliveTheirThread) {
  api::NoBadFrees no_bad_frees;
  for (int round = 0; round < 20; ++round) {
    std::vector<Msg> blocks;
    std::thread([&] {
      Rng rng{static_cast<std::uint64_t>(round) + 17};
      for (int i = 0; i < 3000; ++i) {
        std::size_t s = pick_size(rng);
        void* p = api::malloc(s);
        ASSERT_NE(p, nullptr);
        hakt::fill(p, s, i);
        blocks.push_back({p, s, static_cast<std::uint64_t>(i), 0});
      }
    }).join();
    // Free half from a second thread while a third allocates, the rest from here.
    std::thread freer([&] {
      for (std::size_t i = 0; i < blocks.size(); i += 2) {
        ASSERT_EQ(hakt::check(blocks[i].p, blocks[i].size, blocks[i].seed), SIZE_MAX);
        api::free(blocks[i].p);
      }
    });
    std::thread allocator([&] {
      Rng rng{static_cast<std::uint64_t>(round) + 99};
      std::vector<void*> v;
      for (int i = 0; i < 3000; ++i) {
        std::size_t s = pick_size(rng);
        v.push_back(api::malloc(s));
        std::memset(v.back(), 0x3c, s);
      }
      for (void* p : v) api::free(p);
    });
    freer.join();
    allocator.join();
    for (std::size_t i = 1; i < blocks.size(); i += 2) {
      ASSERT_EQ(hakt::check(blocks[i].p, blocks[i].size, blocks[i].seed), SIZE_MAX);
      api::free(blocks[i].p);
    }
  }
}

// Blocks dirtied by one thread and freed by another come back zeroed from calloc.
TEST(CrossThread, CallocAfterRemoteFreesIsZero) {
  api::NoBadFrees no_bad_frees;
  for (std::size_t s : {24ul, 200ul, 3000ul, 20000ul, 100 * KiB}) {
    std::vector<void*> v;
    for (int i = 0; i < 2000; ++i) {
      v.push_back(api::malloc(s));
      std::memset(v.back(), 0xff, s);
    }
    std::thread([&] { for (void* p : v) api::free(p); }).join();
    for (int i = 0; i < 2000; ++i) {
      void* p = api::calloc(1, s);
      ASSERT_NE(p, nullptr);
      ASSERT_TRUE(hakt::all_zero(p, s)) << "calloc(" << s << ") after remote frees";
      v[i] = p;
    }
    for (void* p : v) api::free(p);
  }
}

// Trim, flush and stats running concurrently with allocating threads.
TEST(CrossThread, TrimAndStatsDuringAllocation) {
  api::NoBadFrees no_bad_frees;
  std::atomic<bool> stop{false};
  std::vector<std::thread> ts;
  for (int t = 0; t < 3; ++t)
    ts.emplace_back([&, t] {
      Rng rng{static_cast<std::uint64_t>(t) * 7 + 1};
      std::vector<std::pair<void*, std::size_t>> live;
      while (!stop.load(std::memory_order_relaxed)) {
        if (live.size() < 500 || rng.next() % 2) {
          std::size_t s = pick_size(rng);
          void* p = api::malloc(s);
          ASSERT_NE(p, nullptr);
          hakt::fill(p, s, s);
          live.push_back({p, s});
        } else {
          std::size_t i = rng.next() % live.size();
          ASSERT_EQ(hakt::check(live[i].first, live[i].second, live[i].second), SIZE_MAX);
          api::free(live[i].first);
          live[i] = live.back();
          live.pop_back();
        }
        if (rng.next() % 5000 == 0) hak_thread_flush();
      }
      for (auto& [p, s] : live) api::free(p);
    });
  for (int i = 0; i < (hakt::kSanitized ? 30 : 200); ++i) {
    api::malloc_trim(0);
    hakmem_stats s = api::stats();
    EXPECT_GE(s.superslabs_mapped, s.superslabs_unmapped);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  stop = true;
  for (auto& t : ts) t.join();
}

}  // namespace
