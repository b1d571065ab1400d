// The override in a real process (linked with libhakmem.so): malloc is hakmem's from the
// first call (static constructors) to the last (exit handlers); memory allocated inside libc
// (strdup, asprintf, getline, open_memstream, dlopen) is freed with free; thread-exit
// destructors that free or allocate after hakmem's own thread-exit hook still work.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <malloc.h>
#include <pthread.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "common/test_support.hpp"
#include "hakmem/hakmem.h"

namespace {

// Allocated before main by a static constructor.
struct EarlyBird {
  void* block;
  std::string text;
  EarlyBird() : block(std::malloc(1000)), text(200, 'e') { std::memset(block, 1, 1000); }
  ~EarlyBird() { std::free(block); }
};
EarlyBird g_early;

TEST(Override, MallocIsHakmem) {
  void* p = std::malloc(100);
  EXPECT_TRUE(hak_owns(p)) << "malloc is not replaced by libhakmem.so in this process";
  std::free(p);
  EXPECT_TRUE(hak_owns(g_early.block)) << "a static constructor's malloc bypassed hakmem";
  std::string* s = new std::string(1000, 'x');
  EXPECT_TRUE(hak_owns(s));
  EXPECT_TRUE(hak_owns(s->data()));
  delete s;
}

TEST(Override, LibcInternalAllocationsAreFreeable) {
  char* d = strdup("hakmem strdup");
  EXPECT_TRUE(hak_owns(d));
  std::free(d);
  char* a = nullptr;
  ASSERT_GT(asprintf(&a, "%s-%d-%0500d", "x", 42, 7), 0);
  EXPECT_TRUE(hak_owns(a));
  std::free(a);
  char* buf = nullptr;
  std::size_t len = 0;
  FILE* f = open_memstream(&buf, &len);
  ASSERT_NE(f, nullptr);
  for (int i = 0; i < 10000; ++i) std::fprintf(f, "line %d\n", i);
  std::fclose(f);
  EXPECT_GT(len, 50000u);
  EXPECT_TRUE(hak_owns(buf));
  std::free(buf);
  FILE* in = fmemopen(const_cast<char*>("a\nbb\nccc\n"), 9, "r");
  char* line = nullptr;
  std::size_t cap = 0;
  int lines = 0;
  while (getline(&line, &cap, in) > 0) ++lines;
  std::fclose(in);
  EXPECT_EQ(lines, 3);
  std::free(line);
  char* rp = realpath("/proc/self/exe", nullptr);
  ASSERT_NE(rp, nullptr);
  std::free(rp);
  hakmem_stats s{};
  hakmem_stats_get(&s);
  EXPECT_EQ(s.invalid_frees, 0u) << "a libc-allocated pointer was not recognised";
}

TEST(Override, DlopenAndDlerror) {
  for (int i = 0; i < 20; ++i) {
    void* h = dlopen("libgcc_s.so.1", RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(h, nullptr) << dlerror();
    EXPECT_NE(dlsym(h, "_Unwind_Resume"), nullptr);
    dlclose(h);
    EXPECT_EQ(dlopen("libdoes-not-exist.so.42", RTLD_NOW), nullptr);
    EXPECT_NE(dlerror(), nullptr);
  }
}

pthread_key_t g_key;
std::atomic<int> g_key_destructor_ok{0};

// Runs at thread exit, possibly after hakmem's own thread-exit hook: must still allocate
// and free.
void key_destructor(void* v) {
  std::free(v);
  void* p = std::malloc(300);
  if (p) {
    std::memset(p, 2, 300);
    std::free(p);
    g_key_destructor_ok++;
  }
}

struct TlsHolder {
  std::vector<std::string> strings;
  ~TlsHolder() {
    strings.clear();
    strings.shrink_to_fit();
    void* late = std::malloc(5000);  // allocation during TLS teardown
    std::free(late);
  }
};
thread_local TlsHolder t_holder;

TEST(Override, ThreadExitDestructorsAllocateAndFree) {
  ASSERT_EQ(pthread_key_create(&g_key, key_destructor), 0);
  g_key_destructor_ok = 0;
  for (int i = 0; i < 200; ++i) {
    std::thread([i] {
      pthread_setspecific(g_key, std::malloc(64 + i));
      for (int k = 0; k < 100; ++k) t_holder.strings.emplace_back(50 + k, 'z');
      void* churn[100];
      for (auto& c : churn) c = std::malloc(128);
      for (auto& c : churn) std::free(c);
    }).join();
  }
  EXPECT_EQ(g_key_destructor_ok.load(), 200);
  pthread_key_delete(g_key);
}

TEST(Override, DetachedThreadsAndExitHandlers) {
  // Exit-time work in a child: atexit handlers and static destructors free memory that
  // other (still running, detached) threads allocated.
  hakt::ChildResult r = hakt::run_in_child([] {
    static std::vector<void*>* blocks = new std::vector<void*>();
    static std::atomic<bool> ready{false};
    std::thread([] {
      for (int i = 0; i < 1000; ++i) blocks->push_back(std::malloc(100 + i));
      ready = true;
      for (;;) {
        void* p = std::malloc(64);
        std::free(p);
      }
    }).detach();
    while (!ready) std::this_thread::yield();
    std::atexit([] {
      for (void* p : *blocks) std::free(p);
      delete blocks;
    });
    std::exit(0);  // runs atexit handlers while the detached thread still allocates
    return 0;
  }, 30);
  EXPECT_TRUE(r.ok()) << r.describe();
}

TEST(Override, UsableSizeAndTrimThroughStandardNames) {
  EXPECT_EQ(malloc_usable_size(nullptr), 0u);
  void* p = std::malloc(100);
  EXPECT_GE(malloc_usable_size(p), 100u);
  std::free(p);
  int rc = malloc_trim(0);
  EXPECT_TRUE(rc == 0 || rc == 1);
}

}  // namespace
