// HAKMEM_PROFILE=1: the shared-memory record and its publisher thread (see profile.hpp).
//
// Life cycle:
//  - profile_start (from init, once): creates the file with open(O_EXCL)/ftruncate/mmap,
//    fills the header, publishes a first snapshot, writes the magic last, turns on the
//    slow-path latency timers, and starts the publisher — or leaves that to this file's
//    constructor when init ran before the C library was fully up (an early malloc).
//  - the publisher sleeps HAKMEM_PROFILE_INTERVAL_MS, then refreshes; a reset request
//    written by hakmem-stat is honoured at the next refresh.
//  - at exit (destructor) one final refresh marks the record EXITED. In a session the record
//    is folded into the session's and removed; outside one the file stays for a post-mortem
//    look until the next profiled process starts in its directory (profile_reap.hpp) or
//    `hakmem-stat clean`.
//  - a fork()ed child does not write the parent's record: it unmaps it and is not profiled
//    (a child that execs a program under the same environment gets a record of its own).
// No malloc anywhere: static buffers, stack, and system calls.
#include "allocator/profile.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "allocator/config.hpp"
#include "allocator/fmt.hpp"
#include "allocator/init.hpp"
#include "allocator/profile_memory.hpp"
#include "allocator/profile_reap.hpp"
#include "allocator/profile_session.hpp"
#include "hakmem/hakmem.h"
#include "platform/clock.hpp"
#include "platform/file_read.hpp"
#include "platform/platform.hpp"
#include "superslab/latency.hpp"
#include "allocator/heap_profile.hpp"
#include "unified_cache/heap.hpp"
#include "unified_cache/size_classes.hpp"

namespace hakmem {
namespace {

constexpr std::size_t kPathMax = 256;

std::atomic<hakmem_profile_record*> g_record{nullptr};
std::atomic<bool> g_started{false};    // profile_start ran (once per process image)
std::atomic<bool> g_ctor_done{false};  // this file's constructor ran: threads are safe
std::atomic<bool> g_thread_started{false};
std::atomic<bool> g_stop{false};        // exit: the publisher stops refreshing
std::atomic<bool> g_refreshing{false};  // serialises refreshes (publisher, exit, API)
std::atomic<bool> g_atfork_registered{false};
char g_path[kPathMax];

// Guarded by g_refreshing: the raw totals, the totals at the last reset, what is published.
hakmem_profile_data g_raw;
hakmem_profile_data g_base;
hakmem_profile_data g_out;

using platform::clock_ns;
const platform::Ops& sys() { return platform::ops(); }

std::atomic_ref<std::uint64_t> shared_u64(std::uint64_t& field) {
  return std::atomic_ref<std::uint64_t>(field);
}

void warn(const char* what, const char* path, int err) {
  TextBuf b;
  b.str("hakmem: HAKMEM_PROFILE=1: ").str(what).str(" ").str(path);
  if (err) b.str(" (errno ").num(static_cast<std::uint64_t>(err)).str(")");
  b.str("; profiling is off\n").flush_stderr();
}

// Field 22 of /proc/self/stat (start time in clock ticks after boot).
std::uint64_t process_start_ticks() {
  char buf[1024];
  if (platform::read_small_file("/proc/self/stat", buf, sizeof(buf)) <= 0) return 0;
  const char* p = std::strrchr(buf, ')');  // comm may contain spaces and parentheses
  if (!p) return 0;
  ++p;
  for (int field = 3; field <= 22; ++field) {
    while (*p == ' ') ++p;
    if (field == 22) {
      std::uint64_t v = 0;
      while (*p >= '0' && *p <= '9') v = v * 10 + static_cast<std::uint64_t>(*p++ - '0');
      return v;
    }
    while (*p && *p != ' ') ++p;
  }
  return 0;
}

// HAKMEM_PROFILE_PATH: a directory (the file is <dir>/hakmem-<pid>) or a file name, in
// which "%p" stands for the pid. Default /dev/shm/hakmem-<pid>.
bool build_path(char* out, std::size_t n) {
  const char* env = std::getenv("HAKMEM_PROFILE_PATH");
  std::uint64_t pid = static_cast<std::uint64_t>(sys().getpid());
  TextBuf b;
  struct stat st;
  if (!env || !*env) {
    b.str("/dev/shm/hakmem-").num(pid);
  } else if (sys().stat(env, &st) == 0 && S_ISDIR(st.st_mode)) {
    b.str(env);
    if (env[std::strlen(env) - 1] != '/') b.str("/");
    b.str("hakmem-").num(pid);
  } else {
    for (const char* p = env; *p; ++p) {
      if (p[0] == '%' && p[1] == 'p') {
        b.num(pid);
        ++p;
      } else {
        char c[2] = {*p, '\0'};
        b.str(c);
      }
    }
  }
  if (b.size() + 1 >= n || b.size() + 1 >= 511) return false;  // would be truncated
  std::memcpy(out, b.data(), b.size());
  out[b.size()] = '\0';
  return true;
}

std::uint64_t minus(std::uint64_t now, std::uint64_t base) { return now > base ? now - base : 0; }

// g_out = g_raw relative to g_base (counters) or as is (gauges, names, sizes, maxima).
void relative_to_base() {
  g_out = g_raw;
#define HAKMEM_SUB_(name, kind, help) \
  if ((kind) == 'c') g_out.counters.name = minus(g_raw.counters.name, g_base.counters.name);
  HAKMEM_PROFILE_COUNTERS(HAKMEM_SUB_)
#undef HAKMEM_SUB_
  for (unsigned i = 0; i < HAKMEM_PROFILE_MAX_CLASSES; ++i) {
    g_out.class_refills[i] = minus(g_raw.class_refills[i], g_base.class_refills[i]);
    g_out.class_flushes[i] = minus(g_raw.class_flushes[i], g_base.class_flushes[i]);
  }
  for (unsigned i = 0; i < HAKMEM_PROFILE_MAX_LOCKS; ++i) {
    hakmem_profile_lock& o = g_out.locks[i];
    const hakmem_profile_lock& b = g_base.locks[i];
    o.acquisitions = minus(o.acquisitions, b.acquisitions);
    o.contended = minus(o.contended, b.contended);
    o.wait_ns = minus(o.wait_ns, b.wait_ns);
  }
  for (unsigned i = 0; i < HAKMEM_PROFILE_MAX_HISTS; ++i) {
    hakmem_profile_histogram& o = g_out.hists[i];
    const hakmem_profile_histogram& b = g_base.hists[i];
    o.count = minus(o.count, b.count);
    o.sum_ns = minus(o.sum_ns, b.sum_ns);
    for (unsigned k = 0; k < HAKMEM_PROFILE_BUCKETS; ++k) {
      o.buckets[k] = minus(o.buckets[k], b.buckets[k]);
    }
  }
}

unsigned count_named_locks(const hakmem_profile_data& d) {
  unsigned n = 0;
  while (n < HAKMEM_PROFILE_MAX_LOCKS && d.locks[n].name[0] != '\0') ++n;
  return n;
}

// Caller holds g_refreshing.
void refresh_locked(hakmem_profile_record* r, std::uint32_t state) {
  hakmem_profile_header& h = r->header;
  stats_collect(&g_raw);
  memory_collect(&g_raw.memory, state == HAKMEM_PROFILE_STATE_EXITED);
  std::uint64_t request = shared_u64(h.reset_request).load(std::memory_order_acquire);
  bool reset = request != shared_u64(h.reset_ack).load(std::memory_order_relaxed);
  if (reset) {
    latency_reset_max();
    for (hakmem_profile_histogram& hist : g_raw.hists) hist.max_ns = 0;
    g_base = g_raw;
  }
  relative_to_base();

  // Sequence lock: odd while the snapshot is inconsistent.
  auto seq = shared_u64(h.seq);
  std::uint64_t s = seq.load(std::memory_order_relaxed);
  // An acquire RMW keeps the data writes below after the odd store (no standalone fence:
  // GCC rejects atomic_thread_fence under -fsanitize=thread).
  seq.fetch_add(1, std::memory_order_acq_rel);
  std::memcpy(&r->data, &g_out, sizeof(g_out));
  h.num_locks = count_named_locks(g_out);
  h.interval_ms = static_cast<std::uint64_t>(option(Opt::kProfileIntervalMs));
  h.update_count += 1;
  h.updated_time_ns = clock_ns(CLOCK_REALTIME);
  if (reset) h.reset_time_ns = h.updated_time_ns;
  h.state = state;
  seq.store(s + 2, std::memory_order_release);
  if (reset) shared_u64(h.reset_ack).store(request, std::memory_order_release);
}

void refresh(std::uint32_t state) {
  while (g_refreshing.exchange(true, std::memory_order_acquire)) sys().sched_yield();
  if (hakmem_profile_record* r = g_record.load(std::memory_order_acquire)) {
    refresh_locked(r, state);
  }
  g_refreshing.store(false, std::memory_order_release);
}

void* publisher_main(void*) {
  heap_sample_exclude_thread();  // what it allocates through the C library is hakmem's
  while (!g_stop.load(std::memory_order_acquire)) {
    long ms = option(Opt::kProfileIntervalMs);
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (sys().clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR) {
    }
    if (g_stop.load(std::memory_order_acquire)) break;
    refresh(HAKMEM_PROFILE_STATE_RUNNING);
  }
  return nullptr;
}

void start_publisher() {
  if (g_record.load(std::memory_order_acquire) == nullptr) return;
  if (g_thread_started.exchange(true, std::memory_order_acq_rel)) return;
  // All signals blocked, so the program's handlers never run on this thread.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, std::size_t{256} << 10);
  pthread_t tid;
  int err = sys().thread_create(&tid, &attr, publisher_main, nullptr);
  if (err != 0) {
    // The program's static TLS may not fit a small stack: try the default size.
    pthread_attr_setstacksize(&attr, std::size_t{8} << 20);
    err = sys().thread_create(&tid, &attr, publisher_main, nullptr);
  }
  pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (err != 0) {
    warn("could not start the publisher thread; the record is refreshed only at exit for", g_path,
         err);
    return;
  }
  pthread_setname_np(tid, "hakmem-profile");
}

void on_fork_child() {
  // Only the thread that forked survives; the record is the parent's.
  if (hakmem_profile_record* r = g_record.exchange(nullptr, std::memory_order_acq_rel)) {
    sys().munmap(r, sizeof(*r));
  }
  g_refreshing.store(false, std::memory_order_relaxed);
  g_thread_started.store(false, std::memory_order_relaxed);
  latency_set_enabled(false);
  heap_set_accounting(false);  // nothing reads the bins' levels any more
}

hakmem_profile_record* create_record(const char* path) {
  // O_EXCL after unlink: a leftover file (an earlier process with this pid) is replaced,
  // and a planted symlink is never followed.
  sys().unlink(path);
  int fd = sys().open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    warn("cannot create", path, errno);
    return nullptr;
  }
  void* mem = MAP_FAILED;
  if (sys().fchmod(fd, 0600) == 0 && sys().ftruncate(fd, sizeof(hakmem_profile_record)) == 0) {
    mem = sys().mmap(nullptr, sizeof(hakmem_profile_record), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  }
  int err = errno;
  sys().close(fd);
  if (mem == MAP_FAILED) {
    sys().unlink(path);
    warn("cannot size or map", path, err);
    return nullptr;
  }
  return static_cast<hakmem_profile_record*>(mem);
}

__attribute__((constructor)) void profile_constructor() {
  g_ctor_done.store(true, std::memory_order_release);
  start_publisher();
}

__attribute__((destructor)) void profile_destructor() {
  hakmem_profile_record* r = g_record.load(std::memory_order_acquire);
  if (r == nullptr) return;
  g_stop.store(true, std::memory_order_release);
  refresh(HAKMEM_PROFILE_STATE_EXITED);
  // In a session the final counters go into its aggregate, and this record goes away.
  if (session_fold_counters(*r)) sys().unlink(g_path);
}

}  // namespace

void profile_start() {
  if (g_started.exchange(true, std::memory_order_acq_rel)) return;
  if (!build_path(g_path, sizeof(g_path))) {
    warn("HAKMEM_PROFILE_PATH is too long:", "", 0);
    return;
  }
  profile_reap_gone();  // records of processes that are gone do not pile up
  hakmem_profile_record* r = create_record(g_path);
  if (!r) return;
  hakmem_profile_header& h = r->header;
  h.version = HAKMEM_PROFILE_VERSION;
  h.header_size = sizeof(hakmem_profile_header);
  h.record_size = sizeof(hakmem_profile_record);
  h.pid = sys().getpid();
  h.start_time_ns = clock_ns(CLOCK_REALTIME);
  h.start_ticks = process_start_ticks();
  char comm[32];
  long got = platform::read_small_file("/proc/self/comm", comm, sizeof(comm));
  std::size_t n = got > 0 ? static_cast<std::size_t>(got) : 0;
  while (n > 0 && comm[n - 1] == '\n') comm[--n] = '\0';
  std::memcpy(h.comm, comm, n < sizeof(h.comm) - 1 ? n : sizeof(h.comm) - 1);
  h.num_classes = kNumClasses;
  h.num_hists = kLatencyKinds;
  h.reserved[0] = session_id();  // readers add running session members to the aggregate
  latency_set_enabled(true);
  heap_set_accounting(true);  // bins' levels published from now on (the memory breakdown)

  while (g_refreshing.exchange(true, std::memory_order_acquire)) sys().sched_yield();
  refresh_locked(r, HAKMEM_PROFILE_STATE_RUNNING);
  g_refreshing.store(false, std::memory_order_release);
  shared_u64(h.magic).store(HAKMEM_PROFILE_MAGIC, std::memory_order_release);  // valid now

  g_record.store(r, std::memory_order_release);
  if (!g_atfork_registered.exchange(true, std::memory_order_acq_rel)) {
    sys().atfork(nullptr, nullptr, on_fork_child);
  }
  // A thread can be created once the C library is initialised: now, unless init ran from
  // a malloc made before the constructors (then the constructor starts it).
  if (g_ctor_done.load(std::memory_order_acquire)) start_publisher();
}

bool profile_active() { return g_record.load(std::memory_order_acquire) != nullptr; }

bool profile_record_path(char* out, std::size_t n) { return build_path(out, n); }

const char* profile_path() { return profile_active() ? g_path : nullptr; }

bool profile_restart() {
  if (!option(Opt::kProfile)) return false;
  if (profile_active()) return true;  // this process publishes its own record already
  // A forked child dropped its parent's record (on_fork_child). Its counters are a copy
  // of the parent's: the new record counts from now, like the parent's from its start.
  while (g_refreshing.exchange(true, std::memory_order_acquire)) sys().sched_yield();
  stats_collect(&g_raw);
  g_base = g_raw;
  g_refreshing.store(false, std::memory_order_release);
  g_stop.store(false, std::memory_order_release);
  g_started.store(false, std::memory_order_release);
  profile_start();
  return profile_active();
}

}  // namespace hakmem

extern "C" const char* hakmem_profile_path(void) {
  hakmem::ensure_init();
  return hakmem::profile_path();
}

extern "C" int hakmem_profile_restart(void) {
  hakmem::ensure_init();
  return hakmem::profile_restart() ? 0 : -1;
}
