// The heap profile's tables (see heap_profile.hpp and heap_profile_record.h):
//  - the record, a shared file mapped once (stacks with their counters, modules, totals);
//  - the live-address table, private: sampled objects not freed yet, so a free finds its
//    sample. Open addressing on the address with tombstones, lock-free (slots are claimed
//    with a CAS), fixed capacity: at the default rate (one sample per 512 KiB) it holds the
//    samples of 64 GiB of live heap; beyond, samples are counted but not tracked.
// Nothing here allocates through malloc: the tables are mmap'd, messages use TextBuf.
#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "allocator/config.hpp"
#include "allocator/fmt.hpp"
#include "allocator/heap_profile.hpp"
#include "allocator/heap_unwind.hpp"
#include "allocator/profile.hpp"
#include "allocator/profile_reap.hpp"
#include "allocator/profile_session.hpp"
#include "hakmem/heap_profile_record.h"
#include "platform/clock.hpp"
#include "platform/file_read.hpp"
#include "platform/platform.hpp"

namespace hakmem {
namespace {

constexpr std::size_t kPathMax = 512;
// The table of live samples is sized for the rate: room for 16 GiB of estimated live
// bytes (32,768 slots, 1 MiB, at the default 512 KiB), between 2^14 and 2^20 slots. Its
// slots are touched at random, so each live sample costs a page fault until the table's
// pages are all in: a bigger table than the rate needs would cost a short program with
// many samples (prodcons: every allocation is net growth) ~1,000 faults, 3 ms here.
std::uint32_t g_live_slots = 1u << 15;  // power of two
constexpr std::uint64_t kLiveRoomBytes = std::uint64_t{16} << 30;
constexpr std::uintptr_t kEmpty = 0, kTomb = 1, kBusy = 2;  // objects are 16-aligned

struct LiveSlot {
  std::atomic<std::uintptr_t> key;
  std::uint32_t stack;
  std::uint32_t pad;
  std::uint64_t bytes;    // weight
  std::uint64_t objects;  // weight
};

hakmem_heap_record* g_rec = nullptr;
LiveSlot* g_live = nullptr;
std::atomic<std::uint64_t> g_live_count{0};  // samples in g_live
// Live samples per 4 KiB page of the address space (hashed): a flushed object whose
// page holds none needs no probe of g_live, which keeps flushes cheap while some samples
// live elsewhere (PERF_NOTES.md).
constexpr unsigned kRegionShift = 12, kRegions = 1u << 14;
std::atomic<std::uint32_t>* g_regions = nullptr;
std::atomic<std::uint32_t>& region_of(std::uintptr_t a) {
  return g_regions[(a >> kRegionShift) & (kRegions - 1)];
}
char g_path[kPathMax];

std::atomic_ref<std::uint64_t> u64(std::uint64_t& f) { return std::atomic_ref<std::uint64_t>(f); }
std::atomic_ref<std::uint32_t> u32(std::uint32_t& f) { return std::atomic_ref<std::uint32_t>(f); }

std::uint64_t realtime_ns() { return platform::clock_ns(CLOCK_REALTIME); }
const platform::Ops& sys() { return platform::ops(); }

std::uint32_t live_hash(std::uintptr_t a) {
  return static_cast<std::uint32_t>(((a >> 4) * 0x9e3779b97f4a7c15ull) >> 40) & (g_live_slots - 1);
}

void warn(const char* what, const char* path, int err) {
  TextBuf b;
  b.str("hakmem: HAKMEM_HEAP_PROFILE=1: ").str(what).str(" ").str(path);
  if (err) b.str(" (errno ").num(static_cast<std::uint64_t>(err)).str(")");
  b.str("; the heap profile is off\n").flush_stderr();
}

// ---- modules ----
void note_module(std::uint64_t ip) {
  Dl_info info;
  struct link_map* lm = nullptr;
  if (!::dladdr1(reinterpret_cast<void*>(ip - 1), &info, reinterpret_cast<void**>(&lm),
                 RTLD_DL_LINKMAP) || !lm) {
    return;
  }
  auto base = reinterpret_cast<std::uint64_t>(info.dli_fbase);
  hakmem_heap_header& h = g_rec->header;
  std::uint64_t used = u64(h.modules_used).load(std::memory_order_acquire);
  for (std::uint64_t i = 0; i < used && i < HAKMEM_HEAP_MAX_MODULES; ++i) {
    hakmem_heap_module& m = g_rec->modules[i];
    if (u32(m.state).load(std::memory_order_acquire) == 2 && m.base == base) return;
  }
  std::uint64_t i = u64(h.modules_used).fetch_add(1, std::memory_order_acq_rel);
  if (i >= HAKMEM_HEAP_MAX_MODULES) return;  // the reader falls back to /proc/<pid>/maps
  hakmem_heap_module& m = g_rec->modules[i];
  u32(m.state).store(1, std::memory_order_relaxed);
  m.base = base;
  m.bias = lm->l_addr;
  const char* name = lm->l_name;
  if (name && name[0]) {
    std::size_t n = std::strlen(name);
    if (n >= sizeof(m.path)) n = sizeof(m.path) - 1;
    std::memcpy(m.path, name, n);
    m.path[n] = '\0';
  } else {  // the main program
    ssize_t n = sys().readlink("/proc/self/exe", m.path, sizeof(m.path) - 1);
    m.path[n > 0 ? n : 0] = '\0';
  }
  u32(m.state).store(2, std::memory_order_release);
}

// ---- stacks ----
std::uint64_t stack_hash(const std::uint64_t* f, unsigned n) {
  std::uint64_t x = 0xcbf29ce484222325ull ^ n;
  for (unsigned i = 0; i < n; ++i) {
    x ^= f[i];
    x *= 0x100000001b3ull;
    x ^= x >> 29;
  }
  return x | 1;  // never 0
}

bool same_frames(const hakmem_heap_stack& s, std::uint64_t hash, const std::uint64_t* f, unsigned n) {
  return s.hash == hash && s.depth == n && std::memcmp(s.frames, f, n * sizeof(f[0])) == 0;
}

// The entry of this stack, created if new; entry 0 when the table is full.
std::uint32_t intern_stack(const std::uint64_t* f, unsigned n) {
  std::uint64_t hash = stack_hash(f, n);
  constexpr std::uint32_t mask = HAKMEM_HEAP_MAX_STACKS - 1;
  std::uint32_t i = static_cast<std::uint32_t>(hash) & mask;
  for (std::uint32_t probe = 0; probe < HAKMEM_HEAP_MAX_STACKS; ++probe, i = (i + 1) & mask) {
    if (i == 0) continue;  // the overflow entry
    hakmem_heap_stack& s = g_rec->stacks[i];
    std::uint32_t st = u32(s.state).load(std::memory_order_acquire);
    if (st == 0) {
      std::uint32_t expected = 0;
      if (u32(s.state).compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
        s.hash = hash;
        s.depth = n;
        std::memcpy(s.frames, f, n * sizeof(f[0]));
        u32(s.state).store(2, std::memory_order_release);
        u64(g_rec->header.stacks_used).fetch_add(1, std::memory_order_relaxed);
        for (unsigned k = 0; k < n; ++k) note_module(f[k]);
        return i;
      }
      st = expected;
    }
    while (st == 1) {  // another thread is writing it: a few stores away
      __builtin_ia32_pause();
      st = u32(s.state).load(std::memory_order_acquire);
    }
    if (same_frames(s, hash, f, n)) return i;
  }
  u64(g_rec->header.dropped_stacks).fetch_add(1, std::memory_order_relaxed);
  return 0;
}

void add_live(std::uint32_t stack, std::uint64_t bytes, std::uint64_t objects, bool plus) {
  hakmem_heap_stack& s = g_rec->stacks[stack];
  hakmem_heap_header& h = g_rec->header;
  if (plus) {
    u64(s.live_samples).fetch_add(1, std::memory_order_relaxed);
    u64(s.live_bytes).fetch_add(bytes, std::memory_order_relaxed);
    u64(s.live_objects).fetch_add(objects, std::memory_order_relaxed);
    u64(h.live_samples).fetch_add(1, std::memory_order_relaxed);
    u64(h.live_objects).fetch_add(objects, std::memory_order_relaxed);
    std::uint64_t now = u64(h.live_bytes).fetch_add(bytes, std::memory_order_relaxed) + bytes;
    std::uint64_t peak = u64(h.peak_bytes).load(std::memory_order_relaxed);
    while (now > peak && !u64(h.peak_bytes).compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
    }
  } else {
    u64(s.live_samples).fetch_sub(1, std::memory_order_relaxed);
    u64(s.live_bytes).fetch_sub(bytes, std::memory_order_relaxed);
    u64(s.live_objects).fetch_sub(objects, std::memory_order_relaxed);
    u64(h.live_samples).fetch_sub(1, std::memory_order_relaxed);
    u64(h.live_objects).fetch_sub(objects, std::memory_order_relaxed);
    u64(h.live_bytes).fetch_sub(bytes, std::memory_order_relaxed);
  }
}

// ---- the live-address table ----
bool live_insert(std::uintptr_t a, std::uint32_t stack, std::uint64_t bytes, std::uint64_t objects) {
  std::uint32_t i = live_hash(a);
  for (std::uint32_t probe = 0; probe < g_live_slots; ++probe, i = (i + 1) & (g_live_slots - 1)) {
    LiveSlot& s = g_live[i];
    std::uintptr_t k = s.key.load(std::memory_order_relaxed);
    if (k != kEmpty && k != kTomb) continue;
    if (!s.key.compare_exchange_strong(k, kBusy, std::memory_order_acquire)) continue;
    s.stack = stack;
    s.bytes = bytes;
    s.objects = objects;
    region_of(a).fetch_add(1, std::memory_order_relaxed);
    s.key.store(a, std::memory_order_release);
    g_live_count.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  return false;
}

bool live_remove(std::uintptr_t a) {
  std::uint32_t i = live_hash(a);
  for (std::uint32_t probe = 0; probe < g_live_slots; ++probe, i = (i + 1) & (g_live_slots - 1)) {
    LiveSlot& s = g_live[i];
    std::uintptr_t k = s.key.load(std::memory_order_acquire);
    if (k == kEmpty) return false;
    if (k != a) continue;
    // Only one remover wins the slot (an object is freed once; a stale entry of a reused
    // address may race with its own free).
    if (!s.key.compare_exchange_strong(k, kBusy, std::memory_order_acquire)) return false;
    std::uint32_t stack = s.stack;
    std::uint64_t bytes = s.bytes, objects = s.objects;
    s.key.store(kTomb, std::memory_order_release);
    region_of(a).fetch_sub(1, std::memory_order_relaxed);
    g_live_count.fetch_sub(1, std::memory_order_relaxed);
    add_live(stack, bytes, objects, false);
    return true;
  }
  return false;
}

// ---- the leak report ----
void put_frame(TextBuf& b, std::uint64_t ip) {
  Dl_info info;
  b.str("hakmem:     ").hex(ip);
  if (::dladdr(reinterpret_cast<void*>(ip - 1), &info)) {
    if (info.dli_sname) {
      b.str(" ").str(info.dli_sname).str("+").hex(ip - reinterpret_cast<std::uint64_t>(info.dli_saddr));
    }
    const char* file = info.dli_fname && info.dli_fname[0] ? info.dli_fname : "?";
    b.str(" (").str(file).str(" +").hex(ip - reinterpret_cast<std::uint64_t>(info.dli_fbase)).str(")");
  }
  b.str("\n").flush_stderr();
}

void report_leaks() {
  const hakmem_heap_header& h = g_rec->header;
  TextBuf b;
  b.str("hakmem: heap profile at exit: ").num(h.live_bytes).str(" bytes in ").num(h.live_objects)
      .str(" allocations still live (estimated from ").num(h.live_samples)
      .str(" samples; one per ").num(h.sample_bytes).str(" bytes on average)\n").flush_stderr();
  // Largest first, by repeated selection: no memory for a sort, and few stacks are printed.
  constexpr unsigned kShown = 20;
  std::uint64_t last = ~0ull;
  std::uint32_t last_i = 0;
  for (unsigned shown = 0; shown < kShown; ++shown) {
    std::uint32_t best = HAKMEM_HEAP_MAX_STACKS;
    for (std::uint32_t i = 0; i < HAKMEM_HEAP_MAX_STACKS; ++i) {
      const hakmem_heap_stack& s = g_rec->stacks[i];
      if (s.live_samples == 0) continue;
      bool below = s.live_bytes < last || (s.live_bytes == last && i > last_i);
      if (!below) continue;
      const hakmem_heap_stack* cur = best < HAKMEM_HEAP_MAX_STACKS ? &g_rec->stacks[best] : nullptr;
      if (!cur || s.live_bytes > cur->live_bytes) best = i;
    }
    if (best == HAKMEM_HEAP_MAX_STACKS) break;
    const hakmem_heap_stack& s = g_rec->stacks[best];
    b.str("hakmem: leak: ").num(s.live_bytes).str(" bytes in ").num(s.live_objects)
        .str(" allocations (").num(s.live_samples).str(" samples) at\n").flush_stderr();
    if (s.depth == 0) b.str("hakmem:     (stack table full)\n").flush_stderr();
    for (unsigned k = 0; k < s.depth; ++k) put_frame(b, s.frames[k]);
    last = s.live_bytes;
    last_i = best;
  }
}

__attribute__((destructor)) void heap_record_destructor() { heap_record_exit(); }

}  // namespace

bool heap_record_create(std::uint64_t sample_bytes) {
  char base[kPathMax - 8];
  if (!profile_record_path(base, sizeof(base))) {
    warn("HAKMEM_PROFILE_PATH is too long:", "", 0);
    return false;
  }
  TextBuf pb;
  pb.str(base).str(HAKMEM_HEAP_SUFFIX);
  std::memcpy(g_path, pb.data(), pb.size());
  g_path[pb.size()] = '\0';
  std::uint64_t want = kLiveRoomBytes / (sample_bytes ? sample_bytes : 1);
  g_live_slots = 1u << 14;
  while (g_live_slots < want && g_live_slots < (1u << 20)) g_live_slots <<= 1;
  const std::size_t slots_bytes = sizeof(LiveSlot) * g_live_slots;
  const std::size_t table_bytes = slots_bytes + sizeof(std::atomic<std::uint32_t>) * kRegions;
  void* live = sys().mmap(nullptr, table_bytes, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (live == MAP_FAILED) {
    warn("cannot map the address table for", g_path, errno);
    return false;
  }
  profile_reap_gone();  // records of processes that are gone do not pile up
  sys().unlink(g_path);
  int fd = sys().open(g_path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    warn("cannot create", g_path, errno);
    sys().munmap(live, table_bytes);
    return false;
  }
  void* mem = MAP_FAILED;
  if (sys().fchmod(fd, 0600) == 0 && sys().ftruncate(fd, sizeof(hakmem_heap_record)) == 0) {
    mem = sys().mmap(nullptr, sizeof(hakmem_heap_record), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  }
  int err = errno;
  sys().close(fd);
  if (mem == MAP_FAILED) {
    sys().unlink(g_path);
    sys().munmap(live, table_bytes);
    warn("cannot size or map", g_path, err);
    return false;
  }
  g_live = static_cast<LiveSlot*>(live);
  g_regions = reinterpret_cast<std::atomic<std::uint32_t>*>(static_cast<char*>(live) + slots_bytes);
  g_rec = static_cast<hakmem_heap_record*>(mem);
  hakmem_heap_header& h = g_rec->header;
  h.version = HAKMEM_HEAP_VERSION;
  h.header_size = sizeof(hakmem_heap_header);
  h.record_size = sizeof(hakmem_heap_record);
  h.pid = sys().getpid();
  h.start_time_ns = realtime_ns();
  h.updated_time_ns = h.start_time_ns;
  {
    char buf[1024];
    long n = platform::read_small_file("/proc/self/stat", buf, sizeof(buf));
    if (n > 0) {
      const char* p = std::strrchr(buf, ')');
      for (int field = 2; p && *p && field < 22; ++p) {
        if (*p == ' ') ++field;
      }
      std::uint64_t v = 0;
      while (p && *p >= '0' && *p <= '9') v = v * 10 + static_cast<std::uint64_t>(*p++ - '0');
      h.start_ticks = v;
    }
    n = platform::read_small_file("/proc/self/comm", h.comm, sizeof(h.comm));
    while (n > 0 && h.comm[n - 1] == '\n') h.comm[--n] = '\0';
  }
  h.sample_bytes = sample_bytes;
  h.max_depth = HAKMEM_HEAP_MAX_DEPTH;
  h.max_stacks = HAKMEM_HEAP_MAX_STACKS;
  h.max_modules = HAKMEM_HEAP_MAX_MODULES;
  h.state = HAKMEM_HEAP_STATE_RUNNING;
  h.reserved[0] = session_id();
  g_rec->stacks[0].state = 2;  // the overflow entry: depth 0
  u64(h.magic).store(HAKMEM_HEAP_MAGIC, std::memory_order_release);
  return true;
}

int heap_record_sample(void* p, std::size_t bytes, std::uint64_t wb, std::uint64_t wo) {
  hakmem_heap_record* r = g_rec;
  if (!r) return 0;
  std::uint64_t frames[HAKMEM_HEAP_MAX_DEPTH];
  std::uint64_t walked = 0;
  unsigned n = unwind_stack(frames, HAKMEM_HEAP_MAX_DEPTH, &walked);
  std::uint32_t idx = intern_stack(frames, n);
  hakmem_heap_stack& s = r->stacks[idx];
  hakmem_heap_header& h = r->header;
  u64(s.samples).fetch_add(1, std::memory_order_relaxed);
  u64(s.alloc_bytes).fetch_add(wb, std::memory_order_relaxed);
  u64(s.alloc_objects).fetch_add(wo, std::memory_order_relaxed);
  u64(h.samples).fetch_add(1, std::memory_order_relaxed);
  u64(h.alloc_bytes).fetch_add(wb, std::memory_order_relaxed);
  u64(h.alloc_objects).fetch_add(wo, std::memory_order_relaxed);
  u64(h.unwind_frames).fetch_add(walked, std::memory_order_relaxed);
  auto a = reinterpret_cast<std::uintptr_t>(p);
  // A stale entry: the object was freed and came back without a flush.
  int change = live_remove(a) ? -1 : 0;
  if (live_insert(a, idx, wb, wo)) {
    add_live(idx, wb, wo, true);
    ++change;
  } else {
    u64(h.dropped_live).fetch_add(1, std::memory_order_relaxed);
  }
  u64(h.updated_time_ns).store(realtime_ns(), std::memory_order_relaxed);
  (void)bytes;
  return change;
}

bool heap_record_forget(void* p) {
  auto a = reinterpret_cast<std::uintptr_t>(p);
  if (g_live_count.load(std::memory_order_relaxed) == 0) return false;
  return region_of(a).load(std::memory_order_relaxed) != 0 && live_remove(a);
}

bool heap_record_has_live() { return g_live_count.load(std::memory_order_relaxed) != 0; }

void heap_record_nested_alloc() {
  if (g_rec) u64(g_rec->header.nested_allocs).fetch_add(1, std::memory_order_relaxed);
}

void heap_record_exit() {
  static std::atomic<bool> done{false};
  hakmem_heap_record* r = g_rec;
  if (!r || done.exchange(true)) return;
  if (option(Opt::kHeapProfileLeaks)) report_leaks();
  u64(r->header.updated_time_ns).store(realtime_ns(), std::memory_order_relaxed);
  u32(r->header.state).store(HAKMEM_HEAP_STATE_EXITED, std::memory_order_release);
  // In a session the profile goes into its aggregate, and this record goes away.
  if (session_fold_heap(*r)) sys().unlink(g_path);
}

void heap_record_fork_child() {
  // The child goes on unprofiled (as with the profile record, profile.cpp): the parent's
  // record is not ours to write.
  if (g_rec) sys().munmap(g_rec, sizeof(hakmem_heap_record));
  g_rec = nullptr;
}

}  // namespace hakmem
