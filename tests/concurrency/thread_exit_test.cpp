// Thread teardown: code that runs at thread exit (pthread key destructors, thread_local
// destructors), possibly after hakmem's own thread-exit hook, may still allocate and free;
// blocks a thread frees at exit go back to their owners; nothing is lost or reused twice.
#include <gtest/gtest.h>
#include <pthread.h>

#include <atomic>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include "common/api.hpp"
#include "common/test_support.hpp"

namespace {

std::atomic<int> g_ok{0}, g_bad{0};

void key_destructor(void* v) {
  api::free(v);
  // Allocate again after (maybe) the allocator tore this thread's heap down.
  for (int i = 0; i < 50; ++i) {
    void* p = api::malloc(16 + i * 40);
    if (!p) {
      g_bad++;
      return;
    }
    std::memset(p, 0x5a, 16 + i * 40);
    api::free(p);
  }
  g_ok++;
}

struct TlsBlocks {
  std::vector<void*> blocks;
  ~TlsBlocks() {
    for (void* p : blocks) api::free(p);
    void* late = api::malloc(2000);
    if (!late) g_bad++;
    api::free(late);
  }
};
thread_local TlsBlocks t_blocks;

TEST(ThreadExit, DestructorsMayAllocateAndFree) {
  api::NoBadFrees no_bad_frees;
  pthread_key_t key;
  ASSERT_EQ(pthread_key_create(&key, key_destructor), 0);
  g_ok = 0;
  g_bad = 0;
  const int n = hakt::kSanitized ? 100 : 500;
  for (int i = 0; i < n; ++i) {
    std::thread([i, key] {
      pthread_setspecific(key, api::malloc(100 + i));
      for (int k = 0; k < 64; ++k) t_blocks.blocks.push_back(api::malloc(32 + k * 16));
    }).join();
  }
  pthread_key_delete(key);
  EXPECT_EQ(g_ok.load(), n);
  EXPECT_EQ(g_bad.load(), 0);
  // No block handed out twice afterwards (a late free into a dead cache would do that).
  std::set<void*> seen;
  std::vector<void*> v;
  for (int i = 0; i < 20000; ++i) {
    void* p = api::malloc(32 + (i % 64) * 16);
    ASSERT_TRUE(seen.insert(p).second) << "block handed out twice";
    v.push_back(p);
  }
  for (void* p : v) api::free(p);
}

// Many threads exit at the same time while the main thread frees their blocks.
TEST(ThreadExit, SimultaneousExitsWithRemoteFrees) {
  api::NoBadFrees no_bad_frees;
  for (int round = 0; round < (hakt::kSanitized ? 3 : 10); ++round) {
    std::vector<std::vector<void*>> out(8);
    std::atomic<int> started{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> ts;
    for (int t = 0; t < 8; ++t)
      ts.emplace_back([&, t] {
        for (int i = 0; i < 2000; ++i) out[t].push_back(api::malloc(24 + (i % 100) * 8));
        started++;
        while (!go) std::this_thread::yield();
      });
    while (started < 8) std::this_thread::yield();
    go = true;
    for (auto& v : out)
      for (void* p : v) api::free(p);  // racing with the owners' exits
    for (auto& th : ts) th.join();
  }
  std::set<void*> seen;
  std::vector<void*> v;
  for (int i = 0; i < 20000; ++i) {
    void* p = api::malloc(24 + (i % 100) * 8);
    ASSERT_TRUE(seen.insert(p).second);
    v.push_back(p);
  }
  for (void* p : v) api::free(p);
}

}  // namespace
