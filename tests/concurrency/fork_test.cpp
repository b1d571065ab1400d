// Item 5: fork from a multithreaded parent. While worker threads allocate and free (small
// and large blocks, cross-thread), the main thread forks; the child must be able to
// allocate, free memory the parent allocated (including blocks owned by threads that do not
// exist in the child), fork again, and exit 0 — no deadlock on a lock held at fork time.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "common/api.hpp"
#include "common/test_support.hpp"

namespace {

using hakt::KiB;
using hakt::MiB;

struct Block {
  void* p;
  std::size_t size;
};

class BusyParent {
 public:
  explicit BusyParent(int threads) : stashes_(threads) {
    for (int t = 0; t < threads; ++t) {
      // Each worker's stash is allocated by the worker, then never touched by it again:
      // the child frees these blocks, owned by heaps whose threads it does not have.
      std::thread([this, t] {
        for (int i = 0; i < 500; ++i) {
          std::size_t s = 16 + (t * 1000 + i * 37) % 5000;
          void* p = api::malloc(s);
          hakt::fill(p, s, s);
          stashes_[t].push_back({p, s});
        }
      }).join();
    }
    for (int t = 0; t < threads; ++t) workers_.emplace_back([this, t] { work(t); });
  }
  ~BusyParent() {
    stop_ = true;
    for (auto& w : workers_) w.join();
    for (auto& st : stashes_)
      for (Block b : st) api::free(b.p);
    for (auto& slot : shared_)
      if (void* p = slot.exchange(nullptr)) api::free(p);
  }
  const std::vector<std::vector<Block>>& stashes() const { return stashes_; }

 private:
  void work(int t) {
    std::uint64_t x = 0x1234567 + t;
    std::vector<void*> local;
    local.reserve(512);  // no (sanitizer-)malloc of the test's own vector while forking
    while (!stop_.load(std::memory_order_relaxed)) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      std::size_t s = (x >> 33) % 100 == 0 ? 64 * KiB + (x >> 20) % (2 * MiB) : 16 + (x >> 40) % 4000;
      void* p = (x >> 30) % 3 == 0 ? api::calloc(1, s) : api::malloc(s);
      if (!p) continue;
      static_cast<char*>(p)[0] = 1;
      static_cast<char*>(p)[s - 1] = 1;
      // Cross-thread: swap with a shared slot, free what another thread left there.
      if ((x >> 50) % 4 == 0) {
        if (void* old = shared_[(x >> 20) % kSlots].exchange(p)) api::free(old);
      } else {
        local.push_back(p);
      }
      if (local.size() > 300) {
        for (void* q : local) api::free(q);
        local.clear();
      }
      if ((x >> 45) % 64 == 0) {
        void* r = api::realloc(api::malloc(100), 100 * KiB);
        api::free(r);
      }
    }
    for (void* q : local) api::free(q);
  }

  static constexpr int kSlots = 64;
  std::atomic<bool> stop_{false};
  std::vector<std::vector<Block>> stashes_;
  std::atomic<void*> shared_[kSlots] = {};
  std::vector<std::thread> workers_;
};

// What the child does; returns its exit code.
int child_body(const std::vector<std::vector<Block>>& stashes, bool nested) {
  std::vector<Block> mine;
  for (int i = 0; i < 10000; ++i) {
    std::size_t s = i % 1000 == 0 ? 300 * KiB : 16 + (i * 37) % 3000;
    void* p = api::malloc(s);
    if (!p) return 10;
    hakt::fill(p, s, i);
    mine.push_back({p, s});
  }
  for (int i = 0; i < 10000; ++i)
    if (hakt::check(mine[i].p, mine[i].size, i) != SIZE_MAX) return 11;
  for (Block b : mine) api::free(b.p);
  for (const auto& st : stashes)
    for (Block b : st) {
      if (hakt::check(b.p, b.size, b.size) != SIZE_MAX) return 12;
      api::free(b.p);
    }
  void* big = api::malloc(8 * MiB);
  if (!big) return 13;
  std::memset(big, 7, 8 * MiB);
  api::free(big);
  void* c = api::calloc(1000, 100);
  if (!c || !hakt::all_zero(c, 100000)) return 14;
  api::free(c);
  if (!hakt::kSanitized) {
    // A thread in the child (its heap is created after fork). Not under sanitizers: GCC 12's
    // sanitizer runtimes have no fork handlers for their own allocator, and starting a
    // thread allocates through it (pthread_getattr_np -> calloc), so the child could hang
    // on a sanitizer lock held by a parent thread at fork (seen: 1 run in 6 under ASan).
    int rc = 0;
    std::thread([&] {
      void* p = api::malloc(1000);
      if (!p) rc = 15;
      api::free(p);
    }).join();
    if (rc) return rc;
  }
  if (nested) {
    pid_t pid = fork();
    if (pid == 0) _exit(child_body({}, false));
    int st = 0;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) return 16;
  }
  return 0;
}

TEST(Fork, ChildOfBusyMultithreadedParentCanAllocate) {
  api::NoBadFrees no_bad_frees;
  BusyParent parent(3);
  const int rounds = hakt::kSanitized ? 6 : 12;
  for (int i = 0; i < rounds; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2 + i % 7));
    const auto& stashes = parent.stashes();
    hakt::ChildResult r = hakt::run_in_child([&] { return child_body(stashes, i % 5 == 0); }, 30);
    ASSERT_TRUE(r.ok()) << "fork round " << i << ": " << r.describe();
  }
}

// The parent keeps working normally after many forks (atfork handlers released the locks).
TEST(Fork, ParentUnaffected) {
  api::NoBadFrees no_bad_frees;
  BusyParent parent(2);
  for (int i = 0; i < 10; ++i) {
    hakt::ChildResult r = hakt::run_in_child([] {
      void* p = api::malloc(100);
      api::free(p);
      return 0;
    }, 30);
    ASSERT_TRUE(r.ok()) << r.describe();
  }
  std::vector<void*> v;
  for (int i = 0; i < 10000; ++i) v.push_back(api::malloc(100 + i % 5000));
  for (void* p : v) api::free(p);
  std::thread([] {
    void* p = api::malloc(5 * MiB);
    ASSERT_NE(p, nullptr);
    api::free(p);
  }).join();
}

}  // namespace
