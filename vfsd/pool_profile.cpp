// The VFS pool's live record (see pool_profile.h and include/hakmem/vfs_profile_record.h).
// Written like the allocator's record: created with O_EXCL (never through a planted
// symlink), magic last, the data under a sequence lock, resets acknowledged at the next
// refresh. Unlike the allocator's publisher this one is ordinary C++: it runs in vfsd, where
// allocating is fine.
#include "pool_profile.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "hakmem/hakmem.h"

namespace vfsd {
namespace {

std::uint64_t realtime_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

std::atomic_ref<std::uint64_t> shared_u64(std::uint64_t& v) {
  return std::atomic_ref<std::uint64_t>(v);
}

// Field 22 of /proc/self/stat: tells this process from a later one that reuses the pid.
std::uint64_t start_ticks() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return 0;
  const auto close = line.rfind(')');  // comm may hold spaces and parentheses
  if (close == std::string::npos) return 0;
  std::istringstream fields(line.substr(close + 1));
  std::string f;
  for (int field = 3; field <= 22 && (fields >> f); ++field)
    if (field == 22) return std::strtoull(f.c_str(), nullptr, 10);
  return 0;
}

void put_lock(hakmem_profile_lock& out, const char* name, const hakmem::vfs::LockStats& s) {
  std::strncpy(out.name, name, sizeof(out.name) - 1);
  out.acquisitions = s.acquisitions;
  out.contended = s.contended;
  out.wait_ns = s.wait_ns;
}

// Totals of the pool now, in the record's layout.
hakmem_vfs_profile_data collect(const hakmem::vfs::BlockPool& pool) {
  const hakmem::vfs::PoolStats p = pool.stats();
  hakmem_vfs_profile_data d{};
#define VFSD_COPY_(name, kind, help) d.counters.name = p.name;
  HAKMEM_VFS_PROFILE_COUNTERS(VFSD_COPY_)
#undef VFSD_COPY_
  put_lock(d.locks[0], "vfs_shards", p.shard_locks);
  put_lock(d.locks[1], "vfs_other", p.other_locks);
  return d;
}

std::uint64_t minus(std::uint64_t now, std::uint64_t base) { return now > base ? now - base : 0; }

// Counters relative to the totals at the last reset; gauges as they are.
hakmem_vfs_profile_data relative(const hakmem_vfs_profile_data& raw,
                                 const hakmem_vfs_profile_data& base) {
  hakmem_vfs_profile_data out = raw;
#define VFSD_SUB_(name, kind, help) \
  if ((kind) == 'c') out.counters.name = minus(raw.counters.name, base.counters.name);
  HAKMEM_VFS_PROFILE_COUNTERS(VFSD_SUB_)
#undef VFSD_SUB_
  for (unsigned i = 0; i < HAKMEM_VFS_PROFILE_MAX_LOCKS; ++i) {
    out.locks[i].acquisitions = minus(raw.locks[i].acquisitions, base.locks[i].acquisitions);
    out.locks[i].contended = minus(raw.locks[i].contended, base.locks[i].contended);
    out.locks[i].wait_ns = minus(raw.locks[i].wait_ns, base.locks[i].wait_ns);
  }
  return out;
}

hakmem_vfs_profile_record* create(const std::string& path) {
  ::unlink(path.c_str());  // a leftover of an earlier process with this pid
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return nullptr;
  void* mem = MAP_FAILED;
  if (::fchmod(fd, 0600) == 0 && ::ftruncate(fd, sizeof(hakmem_vfs_profile_record)) == 0)
    mem = ::mmap(nullptr, sizeof(hakmem_vfs_profile_record), PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                 0);
  const int err = errno;
  ::close(fd);
  if (mem == MAP_FAILED) {
    ::unlink(path.c_str());
    errno = err;
    return nullptr;
  }
  return static_cast<hakmem_vfs_profile_record*>(mem);
}

}  // namespace

PoolProfile::PoolProfile(const hakmem::vfs::BlockPool& pool) : pool_(pool) {
  if (hakmem_profile_restart() != 0) return;  // HAKMEM_PROFILE is off (or its record failed)
  const char* base = hakmem_profile_path();
  if (base == nullptr) return;
  path_ = std::string(base) + HAKMEM_VFS_PROFILE_SUFFIX;
  rec_ = create(path_);
  if (rec_ == nullptr) {
    std::fprintf(stderr, "vfsd: HAKMEM_PROFILE=1: cannot create %s: %s; the pool is not profiled\n",
                 path_.c_str(), std::strerror(errno));
    return;
  }
  long interval = 0;
  if (hak_option_get("PROFILE_INTERVAL_MS", &interval) == 0 && interval > 0)
    interval_ms_ = static_cast<std::uint64_t>(interval);
  hakmem_profile_header& h = rec_->header;
  h.version = HAKMEM_VFS_PROFILE_VERSION;
  h.header_size = sizeof(hakmem_profile_header);
  h.record_size = sizeof(hakmem_vfs_profile_record);
  h.pid = ::getpid();
  h.start_time_ns = realtime_ns();
  h.start_ticks = start_ticks();
  std::ifstream comm("/proc/self/comm");
  std::string name;
  std::getline(comm, name);
  std::strncpy(h.comm, name.c_str(), sizeof(h.comm) - 1);
  h.interval_ms = interval_ms_;
  h.num_locks = 2;
  refresh(HAKMEM_PROFILE_STATE_RUNNING);
  shared_u64(h.magic).store(HAKMEM_VFS_PROFILE_MAGIC, std::memory_order_release);  // valid now
  thread_ = std::thread([this] { run(); });
}

PoolProfile::~PoolProfile() {
  if (rec_ == nullptr) return;
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  thread_.join();
  refresh(HAKMEM_PROFILE_STATE_EXITED);
  ::munmap(rec_, sizeof(*rec_));
}

void PoolProfile::run() {
  std::unique_lock<std::mutex> lk(mu_);
  while (!cv_.wait_for(lk, std::chrono::milliseconds(interval_ms_), [this] { return stop_; })) {
    lk.unlock();
    refresh(HAKMEM_PROFILE_STATE_RUNNING);
    lk.lock();
  }
}

// Called by the constructor, the refresh thread, and the destructor after the thread ended:
// never two at once.
void PoolProfile::refresh(std::uint32_t state) {
  hakmem_profile_header& h = rec_->header;
  const hakmem_vfs_profile_data raw = collect(pool_);
  const std::uint64_t request = shared_u64(h.reset_request).load(std::memory_order_acquire);
  const bool reset = request != shared_u64(h.reset_ack).load(std::memory_order_relaxed);
  if (reset) base_ = raw;
  const hakmem_vfs_profile_data out = relative(raw, base_);

  // Sequence lock: odd while the data is inconsistent (an acq_rel RMW keeps the writes
  // below after it, as in the allocator's publisher).
  auto seq = shared_u64(h.seq);
  const std::uint64_t s = seq.load(std::memory_order_relaxed);
  seq.fetch_add(1, std::memory_order_acq_rel);
  std::memcpy(&rec_->data, &out, sizeof(out));
  h.update_count += 1;
  h.updated_time_ns = realtime_ns();
  if (reset) h.reset_time_ns = h.updated_time_ns;
  h.state = state;
  seq.store(s + 2, std::memory_order_release);
  if (reset) shared_u64(h.reset_ack).store(request, std::memory_order_release);
}

}  // namespace vfsd
