// Folding a process's records into its session's aggregates (see profile_session.hpp).
// Runs at exit, once per record; no malloc (stack buffers, system calls). The aggregate
// file is locked with flock for the whole fold, so processes exiting at once serialise.
#include "allocator/profile_session.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "allocator/fmt.hpp"
#include "allocator/profile.hpp"
#include "hakmem/profile_session.h"
#include "platform/platform.hpp"

namespace hakmem {
namespace {

std::atomic<int> g_state{0};  // 0 unread, 1 none, 2 in a session
std::uint64_t g_id = 0;
char g_base[512];  // <dir>/hakmem-session-NAME

void read_session() {
  if (g_state.load(std::memory_order_acquire) != 0) return;
  const char* name = std::getenv("HAKMEM_PROFILE_SESSION");
  int state = 1;
  if (name && *name) {
    char path[400];
    if (!hakmem_session_name_ok(name)) {
      TextBuf b;
      b.str("hakmem: ignoring HAKMEM_PROFILE_SESSION='").str(name)
          .str("' (1-64 characters of A-Z a-z 0-9 . _ -)\n").flush_stderr();
    } else if (profile_record_path(path, sizeof(path))) {
      char* slash = std::strrchr(path, '/');
      TextBuf b;
      if (slash) {
        *slash = '\0';
        b.str(path).str("/");
      }
      b.str(HAKMEM_SESSION_PREFIX).str(name);
      if (b.size() + 8 < sizeof(g_base)) {
        std::memcpy(g_base, b.data(), b.size());
        g_base[b.size()] = '\0';
        g_id = hakmem_session_id(name);
        state = 2;
      }
    }
  }
  g_state.store(state, std::memory_order_release);
}

// Opens (creating) the aggregate at path, locks it, sizes and maps it. nullptr on failure.
void* open_locked(const char* path, std::size_t size, int* fd_out, bool* fresh) {
  const platform::Ops& sys = platform::ops();
  int fd = sys.open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return nullptr;
  while (sys.flock(fd, LOCK_EX) != 0) {
  }
  struct stat st;
  *fresh = sys.fstat(fd, &st) == 0 && st.st_size == 0;
  if (*fresh && sys.ftruncate(fd, static_cast<off_t>(size)) != 0) {
    sys.close(fd);
    return nullptr;
  }
  void* mem = sys.mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (mem == MAP_FAILED) {
    sys.close(fd);
    return nullptr;
  }
  *fd_out = fd;
  return mem;
}

void close_locked(void* mem, std::size_t size, int fd) {
  platform::ops().munmap(mem, size);
  platform::ops().close(fd);  // releases the lock
}

void path_with(char* out, const char* suffix) {
  TextBuf b;
  b.str(g_base).str(suffix);
  std::memcpy(out, b.data(), b.size());
  out[b.size()] = '\0';
}

std::atomic_ref<std::uint64_t> u64(std::uint64_t& f) { return std::atomic_ref<std::uint64_t>(f); }

// The session module for a process module's path (added if new).
int session_module(hakmem_heap_record* agg, const char* path) {
  hakmem_heap_header& h = agg->header;
  for (std::uint64_t i = 0; i < h.modules_used; ++i) {
    if (std::strncmp(agg->modules[i].path, path, HAKMEM_HEAP_PATH_LEN) == 0) return static_cast<int>(i);
  }
  if (h.modules_used >= HAKMEM_HEAP_MAX_MODULES) return -1;
  std::uint64_t i = h.modules_used;
  hakmem_heap_module& m = agg->modules[i];
  std::memcpy(m.path, path, HAKMEM_HEAP_PATH_LEN);
  m.path[HAKMEM_HEAP_PATH_LEN - 1] = '\0';
  m.base = 0;
  m.bias = (i + 1) << HAKMEM_SESSION_MODULE_SHIFT;
  m.state = 2;
  u64(h.modules_used).store(i + 1, std::memory_order_release);
  return static_cast<int>(i);
}

std::uint64_t frames_hash(const std::uint64_t* f, unsigned n) {
  std::uint64_t x = 0xcbf29ce484222325ull ^ n;
  for (unsigned i = 0; i < n; ++i) x = (x ^ f[i]) * 0x100000001b3ull;
  return x | 1;
}

// The aggregate's entry for these frames (the only writer holds the lock); 0 when full.
std::uint32_t session_stack(hakmem_heap_record* agg, const std::uint64_t* f, unsigned n) {
  std::uint64_t hash = frames_hash(f, n);
  constexpr std::uint32_t mask = HAKMEM_HEAP_MAX_STACKS - 1;
  std::uint32_t i = static_cast<std::uint32_t>(hash) & mask;
  for (std::uint32_t probe = 0; probe < HAKMEM_HEAP_MAX_STACKS; ++probe, i = (i + 1) & mask) {
    if (i == 0) continue;
    hakmem_heap_stack& s = agg->stacks[i];
    if (s.state == 0) {
      s.hash = hash;
      s.depth = n;
      std::memcpy(s.frames, f, n * sizeof(f[0]));
      std::atomic_ref<std::uint32_t>(s.state).store(2, std::memory_order_release);
      ++agg->header.stacks_used;
      return i;
    }
    if (s.hash == hash && s.depth == n && std::memcmp(s.frames, f, n * sizeof(f[0])) == 0) return i;
  }
  ++agg->header.dropped_stacks;
  return 0;
}

// What both aggregates' headers say alike; the magic is written last, after the fold.
template <class Header>
void init_aggregate_header(Header& h, const Header& src, std::uint32_t version, std::uint64_t size,
                           std::uint32_t state) {
  h.version = version;
  h.header_size = sizeof(Header);
  h.record_size = size;
  h.pid = 0;
  h.start_time_ns = src.start_time_ns;
  std::memcpy(h.comm, "session", 8);
  h.state = state;
  h.reserved[0] = session_id();
}

// Opens and locks the aggregate of type Rec at path; made fresh (*fresh) or checked to be
// one (a file that is not is not ours to overwrite: nullptr).
template <class Rec>
Rec* open_aggregate(const char* path, std::uint64_t magic, int* fd, bool* fresh) {
  void* mem = open_locked(path, sizeof(Rec), fd, fresh);
  if (!mem) return nullptr;
  auto* agg = static_cast<Rec*>(mem);
  if (!*fresh && (agg->header.magic != magic || agg->header.record_size != sizeof(Rec))) {
    close_locked(mem, sizeof(Rec), *fd);
    return nullptr;
  }
  return agg;
}

// The estimated values of a stack entry or a header (both name them alike).
template <class T>
void add_counts(T& d, const T& s) {
  d.samples += s.samples;
  d.alloc_bytes += s.alloc_bytes;
  d.alloc_objects += s.alloc_objects;
  d.live_samples += s.live_samples;
  d.live_bytes += s.live_bytes;
  d.live_objects += s.live_objects;
}

}  // namespace

std::uint64_t session_id() {
  read_session();
  return g_state.load(std::memory_order_acquire) == 2 ? g_id : 0;
}

bool session_fold_counters(const hakmem_profile_record& r) {
  if (session_id() == 0) return false;
  int fd;
  bool fresh;
  auto* agg = open_aggregate<hakmem_profile_record>(g_base, HAKMEM_PROFILE_MAGIC, &fd, &fresh);
  if (!agg) return false;
  hakmem_profile_header& h = agg->header;
  if (fresh) {
    init_aggregate_header(h, r.header, HAKMEM_PROFILE_VERSION, sizeof(hakmem_profile_record),
                          HAKMEM_PROFILE_STATE_EXITED);
    h.num_classes = r.header.num_classes;
    h.num_locks = r.header.num_locks;
    h.num_hists = r.header.num_hists;
    h.interval_ms = r.header.interval_ms;
  }
  auto seq = u64(h.seq);
  std::uint64_t s = seq.load(std::memory_order_relaxed);
  seq.fetch_add(1, std::memory_order_acq_rel);
  hakmem_profile_data_add(&agg->data, &r.data);
  if (r.header.num_locks > h.num_locks) h.num_locks = r.header.num_locks;
  h.update_count += 1;
  h.updated_time_ns = r.header.updated_time_ns;
  h.reserved[HAKMEM_SESSION_FOLDED_SLOT] += 1;
  seq.store(s + 2, std::memory_order_release);
  if (fresh) u64(h.magic).store(HAKMEM_PROFILE_MAGIC, std::memory_order_release);
  close_locked(agg, sizeof(hakmem_profile_record), fd);
  return true;
}

bool session_fold_heap(const hakmem_heap_record& r) {
  if (session_id() == 0) return false;
  char path[sizeof(g_base) + 8];
  path_with(path, HAKMEM_HEAP_SUFFIX);
  int fd;
  bool fresh;
  auto* agg = open_aggregate<hakmem_heap_record>(path, HAKMEM_HEAP_MAGIC, &fd, &fresh);
  if (!agg) return false;
  hakmem_heap_header& h = agg->header;
  if (fresh) {
    init_aggregate_header(h, r.header, HAKMEM_HEAP_VERSION, sizeof(hakmem_heap_record),
                          HAKMEM_HEAP_STATE_EXITED);
    h.sample_bytes = r.header.sample_bytes;
    h.max_depth = HAKMEM_HEAP_MAX_DEPTH;
    h.max_stacks = HAKMEM_HEAP_MAX_STACKS;
    h.max_modules = HAKMEM_HEAP_MAX_MODULES;
    agg->stacks[0].state = 2;
  }
  // The process's modules as session modules.
  int map[HAKMEM_HEAP_MAX_MODULES];
  std::uint64_t nmod = r.header.modules_used < HAKMEM_HEAP_MAX_MODULES ? r.header.modules_used
                                                                        : HAKMEM_HEAP_MAX_MODULES;
  for (std::uint64_t i = 0; i < nmod; ++i) {
    map[i] = r.modules[i].state == 2 ? session_module(agg, r.modules[i].path) : -1;
  }
  for (std::uint32_t i = 0; i < HAKMEM_HEAP_MAX_STACKS; ++i) {
    const hakmem_heap_stack& s = r.stacks[i];
    if (s.state != 2 || s.samples == 0) continue;
    std::uint64_t frames[HAKMEM_HEAP_MAX_DEPTH];
    unsigned n = s.depth < HAKMEM_HEAP_MAX_DEPTH ? s.depth : HAKMEM_HEAP_MAX_DEPTH;
    for (unsigned k = 0; k < n; ++k) {
      // The module a frame lies in: the highest load address not above it.
      std::uint64_t ip = s.frames[k];
      int best = -1;
      for (std::uint64_t m = 0; m < nmod; ++m) {
        if (map[m] < 0 || r.modules[m].base > ip) continue;
        if (best < 0 || r.modules[m].base > r.modules[best].base) best = static_cast<int>(m);
      }
      frames[k] = best < 0 ? 0
                           : agg->modules[map[best]].bias + (ip - r.modules[best].bias);
    }
    std::uint32_t j = i == 0 ? 0 : session_stack(agg, frames, n);
    add_counts(agg->stacks[j], s);
  }
  add_counts(h, r.header);
  if (r.header.peak_bytes > h.peak_bytes) h.peak_bytes = r.header.peak_bytes;
  h.dropped_live += r.header.dropped_live;
  h.unwind_frames += r.header.unwind_frames;
  h.nested_allocs += r.header.nested_allocs;
  h.updated_time_ns = r.header.updated_time_ns;
  h.reserved[HAKMEM_SESSION_FOLDED_SLOT] += 1;
  if (fresh) u64(h.magic).store(HAKMEM_HEAP_MAGIC, std::memory_order_release);
  close_locked(agg, sizeof(hakmem_heap_record), fd);
  return true;
}

}  // namespace hakmem
