// Removing the records of processes that are gone (see profile_reap.hpp).
//
// Why at start and not at exit: a record outside a session stays after its process exits
// so that the run can still be looked at (`hakmem-stat show PID` after the program ended,
// and the record of a program that crashed). What piled up was every earlier one: a shell
// that exports HAKMEM_PROFILE=1 left a record per command. Removing the gone ones when the
// next profiled process starts bounds what stays to the processes that exited since the
// last start (one in a shell loop, about the parallelism of a build), keeps the newest for
// a look, and costs one directory listing per profiled process. `hakmem-stat clean`
// removes the rest; a session removes its members' records as they exit.
//
// No malloc (opendir/readdir allocate): getdents64 into a stack buffer.
#include "allocator/profile_reap.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "allocator/fmt.hpp"
#include "allocator/profile.hpp"
#include "hakmem/heap_profile_record.h"
#include "hakmem/profile_record.h"
#include "platform/platform.hpp"

namespace hakmem {
namespace {

const platform::Ops& sys() { return platform::ops(); }

constexpr char kPrefix[] = "hakmem-";

// The pid in a default record name ("hakmem-<pid>", ".heap"/".vfs" after it), or 0.
long pid_of_name(const char* name, const char** suffix) {
  if (std::strncmp(name, kPrefix, sizeof(kPrefix) - 1) != 0) return 0;
  const char* p = name + sizeof(kPrefix) - 1;
  long pid = 0;
  while (*p >= '0' && *p <= '9' && pid < (1l << 40)) pid = pid * 10 + (*p++ - '0');
  if (p == name + sizeof(kPrefix) - 1) return 0;
  if (*p && std::strcmp(p, ".heap") != 0 && std::strcmp(p, ".vfs") != 0) return 0;
  *suffix = p;
  return pid;
}

// Field 22 of /proc/<pid>/stat (start time in clock ticks after boot); 0 if unreadable.
std::uint64_t start_ticks_of(long pid) {
  TextBuf path;
  path.str("/proc/").num(static_cast<std::uint64_t>(pid)).str("/stat");
  char buf[1024];
  char name[64];
  std::memcpy(name, path.data(), path.size());
  name[path.size()] = '\0';
  int fd = sys().open(name, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return 0;
  ssize_t n = sys().read(fd, buf, sizeof(buf) - 1);
  sys().close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  const char* p = std::strrchr(buf, ')');  // comm may hold spaces and parentheses
  for (int field = 2; p && *p && field < 22; ++p) {
    if (*p == ' ') ++field;
  }
  std::uint64_t v = 0;
  while (p && *p >= '0' && *p <= '9') v = v * 10 + static_cast<std::uint64_t>(*p++ - '0');
  return v;
}

// The start ticks a record names (both record kinds keep them in their header), 0 if the
// record is not readable or not made yet (its magic is written last).
std::uint64_t record_ticks(int dirfd, const char* name, const char* suffix) {
  int fd = sys().openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0);
  if (fd < 0) return 0;
  std::uint64_t ticks = 0;
  if (std::strcmp(suffix, ".heap") == 0) {
    hakmem_heap_header h;
    if (sys().pread(fd, &h, sizeof(h), 0) == static_cast<ssize_t>(sizeof(h)) &&
        h.magic == HAKMEM_HEAP_MAGIC) {
      ticks = h.start_ticks;
    }
  } else if (suffix[0] == '\0') {
    hakmem_profile_header h;
    if (sys().pread(fd, &h, sizeof(h), 0) == static_cast<ssize_t>(sizeof(h)) &&
        h.magic == HAKMEM_PROFILE_MAGIC) {
      ticks = h.start_ticks;
    }
  }
  sys().close(fd);
  return ticks;
}

// Gone: no such pid, or the pid is another process's now (its start time differs from
// the one the record names). A record without start ticks (.vfs, or one being made) is
// gone only when its pid is.
bool gone(int dirfd, const char* name, const char* suffix, long pid) {
  if (pid == static_cast<long>(sys().getpid())) return false;  // ours: about to be replaced
  if (sys().kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) return true;
  std::uint64_t ticks = record_ticks(dirfd, name, suffix);
  if (ticks == 0) return false;
  std::uint64_t now = start_ticks_of(pid);
  return now != 0 && now != ticks;
}

struct Dirent64 {
  std::uint64_t ino;
  std::int64_t off;
  unsigned short reclen;
  unsigned char type;
  char name[1];
};

void reap_in(const char* dir) {
  int dirfd = sys().open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (dirfd < 0) return;
  alignas(8) char buf[8192];
  for (;;) {
    long n = sys().getdents64(dirfd, buf, sizeof(buf));
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      const auto* d = reinterpret_cast<const Dirent64*>(buf + off);
      off += d->reclen;
      const char* suffix = "";
      long pid = pid_of_name(d->name, &suffix);
      if (pid > 0 && gone(dirfd, d->name, suffix, pid)) sys().unlinkat(dirfd, d->name, 0);
    }
  }
  sys().close(dirfd);
}

}  // namespace

void profile_reap_gone() {
  static std::atomic<bool> done{false};
  if (done.exchange(true, std::memory_order_acq_rel)) return;
  char path[512];
  if (!profile_record_path(path, sizeof(path))) return;
  char* slash = std::strrchr(path, '/');
  const char* base = slash ? slash + 1 : path;
  const char* suffix = "";
  // Our own record has a name of the user's choosing: so may the others there.
  if (pid_of_name(base, &suffix) != static_cast<long>(sys().getpid()) || *suffix) return;
  if (slash == path) {
    reap_in("/");
  } else if (slash) {
    *slash = '\0';
    reap_in(path);
  } else {
    reap_in(".");
  }
}

}  // namespace hakmem
