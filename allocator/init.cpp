#include "allocator/init.hpp"

#include <pthread.h>
#include <sys/auxv.h>
#include <time.h>

#include <cstdlib>
#include <cstring>

#include "allocator/config.hpp"
#include "allocator/entry_count.hpp"
#include "allocator/fmt.hpp"
#include "allocator/heap_profile.hpp"
#include "allocator/large.hpp"
#include "allocator/profile.hpp"
#include "platform/platform.hpp"
#include "superslab/hardening.hpp"
#include "superslab/numa.hpp"
#include "superslab/pool.hpp"
#include "superslab/topology.hpp"
#include "superslab/span.hpp"
#include "unified_cache/heap.hpp"
#include "hakmem/hakmem.h"

namespace hakmem {

std::atomic<int> g_init_state{0};

namespace {

thread_local bool t_initializing = false;
std::atomic<std::uint64_t> g_invalid_frees{0};

void fork_prepare() {
  large_fork_prepare();
  span_fork_prepare();
  pool_fork_prepare();
  heap_fork_prepare();
}
void fork_parent() {
  heap_fork_parent();
  pool_fork_parent();
  span_fork_parent();
  large_fork_parent();
}
std::atomic<bool> g_purger_started{false};

void fork_child() {
  // The purger thread does not exist in the child, and none is started there by
  // BACKGROUND=auto: a child of a multithreaded parent may not safely create threads before
  // it execs (TSan refuses outright). It purges on its slow paths; BACKGROUND=on restarts
  // one in the child on its next purge request.
  g_purger_started.store(option(Opt::kBackground) != kBackgroundOn, std::memory_order_relaxed);
  heap_fork_child();
  pool_fork_child();
  span_fork_child();
  large_fork_child();
}

void report_message(const char* what, const void* p) {
  TextBuf b;
  b.str("hakmem: ").str(what).str(" of pointer ").hex(reinterpret_cast<std::uintptr_t>(p));
  bool abort_now = g_init_state.load(std::memory_order_acquire) == 2 &&
                   option(Opt::kOnError) == kOnErrorAbort;
  b.str(abort_now ? "; aborting (HAKMEM_ON_ERROR=abort)\n" : "; ignored\n").flush_stderr();
  if (abort_now) std::abort();
}

// Double frees found by the cache layer are counted there (and the call by free_miss).
void cache_error_hook(const char* what, const void* p) { report_message(what, p); }

// The purger thread returns idle memory even when the program makes no allocator calls
// (freed memory is otherwise given back only from slow paths, which a program that stops
// allocating never takes). BACKGROUND=on starts it at start-up, auto (the default) once
// the program has freed enough to be worth it (set_purge_wanted_hook, free_beyond).
void* background_purger(void*) {
  heap_sample_exclude_thread();  // what it allocates through the C library is hakmem's
  for (;;) {
    long delay_ms = option(Opt::kPurgeDelayMs);
    long sleep_ms = delay_ms / 2 < 10 ? 10 : delay_ms / 2;
    struct timespec ts{sleep_ms / 1000, (sleep_ms % 1000) * 1000000L};
    platform::ops().clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, nullptr);
    heap_purge_idle_heaps(false);
    span_purge(false);
    pool_purge(false);
    large_purge(false);
  }
  return nullptr;
}

void start_background_purger() {
  if (g_purger_started.exchange(true, std::memory_order_acq_rel)) return;
  pthread_t tid;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  if (platform::ops().thread_create(&tid, &attr, background_purger, nullptr) != 0) {
    TextBuf b;
    b.str("hakmem: could not start the background purger; purging on slow paths only\n")
        .flush_stderr();
  }
  pthread_attr_destroy(&attr);
}

std::uintptr_t random_key() {
  std::uintptr_t key = 0x9e3779b97f4a7c15ull;
  if (auto* r = reinterpret_cast<const unsigned char*>(getauxval(AT_RANDOM))) {
    std::uintptr_t v;
    std::memcpy(&v, r, sizeof(v));
    key ^= v;
  }
  key ^= reinterpret_cast<std::uintptr_t>(&key);
  return key | 1;  // never zero: a zeroed object must not look freed
}

// Secure mode's link key: fresh kernel randomness, independent of the free tag's key (a
// tag read through a dangling pointer must not give the links away).
std::uintptr_t secret_key() {
  std::uintptr_t key = 0;
  if (platform::ops().getrandom(&key, sizeof(key)) != static_cast<long>(sizeof(key))) {
    key = random_key() * 0xbf58476d1ce4e5b9ull ^ platform::ops().getpid();
  }
  return key | 1;  // never zero: zero means "links are plain"
}

void purge_wanted() {
  if (option(Opt::kBackground) != kBackgroundOff &&
      !g_purger_started.load(std::memory_order_relaxed)) {
    start_background_purger();
  }
}

void do_init() {
  g_free_tag_key = random_key();
  config_load_env();
  // Before config_apply (which turns huge pages off for it) and before any heap exists.
  if (option(Opt::kSecure)) hardening_enable(secret_key());
  config_apply();
  large_set_cache_limit(static_cast<std::size_t>(option(Opt::kLargeCacheMb)) << 20,
                        static_cast<std::uint64_t>(option(Opt::kPurgeDelayMs)) * 1000000ull);
  set_error_reporter(cache_error_hook);
  set_purge_wanted_hook(purge_wanted);
  unified_cache_init();
  platform::ops().atfork(fork_prepare, fork_parent, fork_child);
}

}  // namespace

void init_slow() {
  int expected = 0;
  if (g_init_state.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
    t_initializing = true;
    do_init();
    t_initializing = false;
    g_init_state.store(2, std::memory_order_release);
    if (option(Opt::kVerbose)) config_print();
    if (option(Opt::kProfile)) profile_start();
    bool heap_profile = option(Opt::kHeapProfile) || option(Opt::kHeapProfileLeaks) ||
                        option_source(Opt::kHeapSample) == OptSource::kEnv;
    if (heap_profile && secure_mode()) {
      // The sampler hides objects in the fast path's bins, which secure mode keeps empty.
      TextBuf b;
      b.str("hakmem: the heap profile is not available with HAKMEM_SECURE=1; it stays off\n")
          .flush_stderr();
    } else if (heap_profile) {
      heap_profile_start();
    }
    if (option(Opt::kBackground) == kBackgroundOn) start_background_purger();
    // Topology is read after bootstrap (it may load hwloc, which allocates). Only the node
    // count is read here (one small file): every process pays this, and on one node
    // nothing else is needed.
    if (option(Opt::kNuma) != static_cast<long>(NumaMode::kOff)) topology_load_if_multinode();
    return;
  }
  if (t_initializing) return;  // re-entered from inside do_init: proceed as is
  while (g_init_state.load(std::memory_order_acquire) != 2) __builtin_ia32_pause();
}

void note_freed_beyond_slabs(std::size_t bytes) {
  static std::atomic<std::uint64_t> freed{0};
  if (freed.load(std::memory_order_relaxed) >= kPurgerAfterFreedBytes) return;
  if (freed.fetch_add(bytes, std::memory_order_relaxed) + bytes >= kPurgerAfterFreedBytes) {
    purge_wanted();
  }
}

void report_bad_pointer(const char* what, const void* p) {
  g_invalid_frees.fetch_add(1, std::memory_order_relaxed);
  report_message(what, p);
}

std::uint64_t invalid_free_count() { return g_invalid_frees.load(std::memory_order_relaxed); }

// Start early when loaded (prints HAKMEM_VERBOSE output first), and print statistics at
// exit when asked.
__attribute__((constructor)) static void hakmem_load() { ensure_init(); }
__attribute__((destructor)) static void hakmem_unload() {
  if (g_init_state.load(std::memory_order_acquire) == 2 && option(Opt::kStats)) {
    hakmem_stats_print();
  }
}

}  // namespace hakmem
