#include "record.hpp"

#include "record_map.hpp"

#include "hakmem/profile_session.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

namespace hakstat {
namespace {

// Version 2 records (no memory breakdown) are read too: version 3 only appended to them.
const detail::RecordKind kAllocatorRecord = {"hakmem profile record", HAKMEM_PROFILE_MAGIC,
                                             HAKMEM_PROFILE_VERSION, sizeof(hakmem_profile_record),
                                             2, HAKMEM_PROFILE_V2_RECORD_SIZE};

bool is_dir(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::uint64_t proc_start_ticks(long pid) {
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string line;
  if (!std::getline(in, line)) return 0;
  auto close = line.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(line.substr(close + 1));
  std::string f;
  for (int field = 3; field <= 22 && (fields >> f); ++field) {
    if (field == 22) return std::strtoull(f.c_str(), nullptr, 10);
  }
  return 0;
}

std::string owner_of(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return "another user";
  return fmt::format("uid {}, mode {:04o}", st.st_uid, st.st_mode & 07777);
}

}  // namespace

namespace detail {

[[noreturn]] void throw_open_error(const std::string& path, std::optional<long> pid, int err) {
  if (err == ENOENT) {
    if (pid) {
      if (::kill(static_cast<pid_t>(*pid), 0) != 0 && errno == ESRCH) {
        throw Error(fmt::format("no process {} and no profile record for it at {}", *pid, path));
      }
      throw Error(fmt::format(
          "no profile record for pid {} at {}: is it running with "
          "LD_PRELOAD=libhakmem.so HAKMEM_PROFILE=1 (and the same HAKMEM_PROFILE_PATH)?",
          *pid, path));
    }
    throw Error(fmt::format("no profile record at {}", path));
  }
  if (err == EACCES || err == EPERM) {
    throw Error(fmt::format(
        "permission denied opening {} ({}): records are private to the user that runs the "
        "process; run hakmem-stat as that user or as root",
        path, owner_of(path)));
  }
  throw Error(fmt::format("cannot open {}: {}", path, std::strerror(err)));
}

MappedRecord map_checked(const std::string& path, std::optional<long> pid, bool writable,
                         const RecordKind& kind) {
  int fd = ::open(path.c_str(), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) throw_open_error(path, pid, errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    throw Error(fmt::format("cannot stat {}: {}", path, std::strerror(err)));
  }
  if (static_cast<std::size_t>(st.st_size) < sizeof(hakmem_profile_header)) {
    ::close(fd);
    throw Error(fmt::format("{} is not a {} ({} bytes)", path, kind.what, st.st_size));
  }
  std::size_t len = static_cast<std::size_t>(st.st_size);
  void* mem =
      ::mmap(nullptr, len, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
  int err = errno;
  ::close(fd);
  if (mem == MAP_FAILED) throw Error(fmt::format("cannot map {}: {}", path, std::strerror(err)));
  auto* h = static_cast<hakmem_profile_header*>(mem);
  auto unmap_and_throw = [&](const std::string& msg) {
    ::munmap(mem, len);
    throw Error(msg);
  };
  // The magic is written last at creation: give a record being created a moment.
  std::uint64_t magic = 0;
  for (int i = 0; i < 100; ++i) {
    magic = std::atomic_ref<std::uint64_t>(h->magic).load(std::memory_order_acquire);
    if (magic != 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (magic != kind.magic) {
    unmap_and_throw(fmt::format("{} is not a {} (bad magic {:#x})", path, kind.what, magic));
  }
  std::uint32_t version = h->version;
  if (version > kind.version) {
    unmap_and_throw(fmt::format(
        "{} has {} version {}, newer than this hakmem-stat understands (version {}): "
        "use the hakmem-stat built with that hakmem",
        path, kind.what, version, kind.version));
  }
  bool older = version < kind.version && kind.oldest_version != 0 && version >= kind.oldest_version;
  if (version < kind.version && !older) {
    unmap_and_throw(fmt::format("{} has {} version {}, older than this hakmem-stat reads ({})",
                                path, kind.what, version,
                                kind.oldest_version ? kind.oldest_version : kind.version));
  }
  const std::size_t size = older ? kind.oldest_size : kind.size;
  if (h->record_size != size || len < size || h->header_size != sizeof(hakmem_profile_header)) {
    unmap_and_throw(fmt::format("{}: record size {} (file {} bytes) does not match version {} ({})",
                                path, h->record_size, len, version, size));
  }
  if (pid && h->pid != *pid) {
    unmap_and_throw(fmt::format("{} belongs to pid {}, not {}", path, h->pid, *pid));
  }
  return MappedRecord{mem, len, size};
}

bool copy_record(const void* live, void* out, std::size_t size) {
  auto* h = const_cast<hakmem_profile_header*>(static_cast<const hakmem_profile_header*>(live));
  // Sequence lock: copy, then check that no update started or finished meanwhile.
  for (int attempt = 0; attempt < 2000; ++attempt) {
    std::atomic_ref<std::uint64_t> seq(h->seq);
    std::uint64_t before = seq.load(std::memory_order_acquire);
    if (before & 1) {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
      continue;
    }
    std::memcpy(out, live, size);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (seq.load(std::memory_order_relaxed) == before) return true;
  }
  std::memcpy(out, live, size);  // the writer died mid-update
  return false;
}

Liveness liveness_of(const hakmem_profile_header& h, std::uint64_t now_ns) {
  if (h.state == HAKMEM_PROFILE_STATE_EXITED) return Liveness::kExited;
  if (!process_alive(static_cast<long>(h.pid), h.start_ticks)) return Liveness::kDead;
  std::uint64_t limit_ns = std::max<std::uint64_t>(2000, 5 * h.interval_ms + 1000) * 1000000ull;
  if (now_ns > h.updated_time_ns && now_ns - h.updated_time_ns > limit_ns) return Liveness::kStale;
  return Liveness::kRunning;
}

}  // namespace detail

std::uint64_t realtime_ns() {
  struct timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

const char* liveness_name(Liveness l) {
  switch (l) {
    case Liveness::kRunning: return "running";
    case Liveness::kStale: return "stale";
    case Liveness::kExited: return "exited";
    case Liveness::kDead: return "dead";
  }
  return "?";
}

RecordLocation::RecordLocation(std::string spec) {
  if (spec.empty()) spec = "/dev/shm";
  if (is_dir(spec)) {
    dir_ = spec;
    prefix_ = "hakmem-";
    return;
  }
  auto slash = spec.rfind('/');
  dir_ = slash == std::string::npos ? "." : (slash == 0 ? "/" : spec.substr(0, slash));
  std::string base = slash == std::string::npos ? spec : spec.substr(slash + 1);
  auto pct = base.find("%p");
  if (pct == std::string::npos) {
    fixed_ = spec;
    return;
  }
  prefix_ = base.substr(0, pct);
  suffix_ = base.substr(pct + 2);
}

std::string RecordLocation::session_path(const std::string& name) const {
  std::string d = dir_;
  if (d.empty() || d.back() != '/') d += '/';
  return d + HAKMEM_SESSION_PREFIX + name;
}

std::string RecordLocation::path_for(long pid) const {
  if (!fixed_.empty()) return fixed_;
  std::string d = dir_;
  if (d.back() != '/') d += '/';
  return d + prefix_ + std::to_string(pid) + suffix_;
}

std::vector<RecordLocation::Entry> RecordLocation::scan(bool sidecars) const {
  std::vector<Entry> out;
  const std::string tail = sidecars ? suffix_ + HAKMEM_VFS_PROFILE_SUFFIX : suffix_;
  if (!fixed_.empty()) {
    struct stat st;
    std::string p = sidecars ? fixed_ + HAKMEM_VFS_PROFILE_SUFFIX : fixed_;
    if (::stat(p.c_str(), &st) == 0) out.push_back({p, -1});
    return out;
  }
  DIR* d = ::opendir(dir_.c_str());
  if (!d) throw Error(fmt::format("cannot list {}: {}", dir_, std::strerror(errno)));
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.size() <= prefix_.size() + tail.size()) continue;
    if (name.compare(0, prefix_.size(), prefix_) != 0) continue;
    if (name.compare(name.size() - tail.size(), tail.size(), tail) != 0) continue;
    std::string digits = name.substr(prefix_.size(), name.size() - prefix_.size() - tail.size());
    if (digits.empty() || !std::all_of(digits.begin(), digits.end(), ::isdigit)) continue;
    std::string d2 = dir_;
    if (d2.back() != '/') d2 += '/';
    out.push_back({d2 + name, std::strtol(digits.c_str(), nullptr, 10)});
  }
  ::closedir(d);
  std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) { return a.pid < b.pid; });
  return out;
}

bool process_alive(long pid, std::uint64_t start_ticks) {
  if (pid <= 0) return false;
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) return false;
  if (start_ticks == 0) return true;
  std::uint64_t now_ticks = proc_start_ticks(pid);
  return now_ticks == 0 || now_ticks == start_ticks;  // 0: /proc unreadable, assume alive
}

Snapshot read_snapshot_file(const std::string& path, std::optional<long> expected_pid) {
  detail::MappedRecord live = detail::map_checked(path, expected_pid, false, kAllocatorRecord);
  Snapshot s;
  s.path = path;
  std::memset(&s.rec, 0, sizeof(s.rec));  // an older record leaves the newer fields 0
  s.torn = !detail::copy_record(live.mem, &s.rec, live.size);
  ::munmap(live.mem, live.len);
  s.read_time_ns = realtime_ns();
  s.liveness = detail::liveness_of(s.rec.header, s.read_time_ns);
  // Beside the memory breakdown, what the kernel says is resident (a live process only: a
  // pid of a process that has exited may be another's now).
  if ((s.liveness == Liveness::kRunning || s.liveness == Liveness::kStale) && s.rec.header.pid > 0) {
    s.rss = read_proc_rss(static_cast<long>(s.rec.header.pid));
  }
  // The VFS pool's record beside it, if the process has one (vfsd).
  s.vfs = read_vfs_snapshot(path + HAKMEM_VFS_PROFILE_SUFFIX, s.rec.header.pid);
  return s;
}

Snapshot read_snapshot(const RecordLocation& loc, long pid) {
  return read_snapshot_file(loc.path_for(pid), pid);
}

namespace detail {

void reset_mapped(hakmem_profile_header* h, long pid, std::uint64_t timeout_ms) {
  Liveness l = liveness_of(*h, realtime_ns());
  if (l == Liveness::kDead || l == Liveness::kExited) {
    throw Error(
        fmt::format("process {} is not running ({}): nothing to reset", pid, liveness_name(l)));
  }
  if (timeout_ms == 0) timeout_ms = std::max<std::uint64_t>(2000, 5 * h->interval_ms + 1000);
  std::uint64_t want = std::atomic_ref<std::uint64_t>(h->reset_request).fetch_add(1) + 1;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::atomic_ref<std::uint64_t>(h->reset_ack).load(std::memory_order_acquire) < want) {
    if (std::chrono::steady_clock::now() > deadline) {
      throw Error(fmt::format(
          "process {} did not acknowledge the reset within {} ms (is its profile publisher "
          "running?); the request stays pending",
          pid, timeout_ms));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace detail

void request_reset(const RecordLocation& loc, long pid, std::uint64_t timeout_ms) {
  std::string path = loc.path_for(pid);
  {
    detail::MappedRecord rec = detail::map_checked(path, pid, true, kAllocatorRecord);
    struct Unmap {
      detail::MappedRecord r;
      ~Unmap() { ::munmap(r.mem, r.len); }
    } unmap{rec};
    detail::reset_mapped(static_cast<hakmem_profile_header*>(rec.mem), pid, timeout_ms);
  }
  request_vfs_reset(path + HAKMEM_VFS_PROFILE_SUFFIX, pid, timeout_ms);
}

}  // namespace hakstat
