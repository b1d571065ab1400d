// Helpers of the page-fault tests that run programs: a clean environment (no HAKMEM_* or
// LD_PRELOAD inherited from whoever runs ctest, so only what a test sets applies), the
// `key=value` output of pf_probe and pf_spawn, and /proc/sys/vm/nr_hugepages changed for
// the length of a test and restored however the test ends.
#pragma once

#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "common/test_support.hpp"

extern char** environ;

namespace pft {

struct Run {
  int status = -1;  // exit code, or 128 + signal
  std::string out, err;
  std::map<std::string, long> kv;  // every `key=value` with a numeric value on stdout

  long get(const std::string& k) const {
    auto it = kv.find(k);
    return it == kv.end() ? -1 : it->second;
  }
  bool has(const std::string& k) const { return kv.count(k) != 0; }
  std::string describe() const {
    return "exit " + std::to_string(status) + "\nstdout:\n" + out + "stderr:\n" + err;
  }
};

inline void parse_kv(Run& r) {
  std::istringstream in(r.out);
  std::string tok;
  while (in >> tok) {
    std::size_t eq = tok.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == tok.size()) continue;
    char* end = nullptr;
    long v = std::strtol(tok.c_str() + eq + 1, &end, 10);
    if (*end == '\0') r.kv[tok.substr(0, eq)] = v;
  }
}

// Runs argv with the environment of this process minus HAKMEM_* and LD_PRELOAD, plus
// `extra` ("NAME=value"). stdout and stderr are captured through temporary files.
inline Run run(const std::vector<std::string>& argv, const std::vector<std::string>& extra,
               int timeout_s = 60) {
  hakt::ChildResult c = hakt::run_program_env(argv, hakt::child_env(extra, true), timeout_s);
  Run r;
  r.status = c.exited ? c.code : 128 + c.signal;
  r.out = std::move(c.out);
  r.err = std::move(c.err);
  parse_kv(r);
  return r;
}

inline std::string preload_env() { return std::string("LD_PRELOAD=") + HAKMEM_SO; }

// A field of /proc/meminfo ("HugePages_Free" is a count of pages), or -1.
inline long meminfo(const char* field) { return hakt::proc_field("/proc/meminfo", field); }

inline constexpr const char* kNrHugepages = "/proc/sys/vm/nr_hugepages";

inline long read_nr_hugepages() {
  std::ifstream f(kNrHugepages);
  long v = -1;
  f >> v;
  return f ? v : -1;
}

inline bool write_nr_hugepages(long v) {
  int fd = ::open(kNrHugepages, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  std::string s = std::to_string(v) + "\n";
  bool ok = ::write(fd, s.data(), s.size()) == static_cast<ssize_t>(s.size());
  ::close(fd);
  return ok;
}

// Sets vm.nr_hugepages for the lifetime of the object and puts the old value back: in the
// destructor (normal end, failed ASSERT, exception) and, should this process die without
// running it (a crash, ctest's SIGKILL at the timeout), from a guardian child that waits
// for this process to go away. The guardian holds only the read end of a pipe whose write
// end lives in this process alone (close-on-exec, so programs we run do not keep it open):
// end of file on the pipe means this process is gone or done.
// The whole lifetime holds an exclusive flock, so test runs in other build trees (same
// machine, same sysctl) wait instead of reading each other's value as "old" and leaving
// pages reserved. The guardian shares the lock's open file, so it is released only once
// the old value is back.
class NrHugepagesGuard {
 public:
  NrHugepagesGuard() {
    lock_fd_ = ::open("/tmp/hakmem-test-nr_hugepages.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (lock_fd_ >= 0)
      while (::flock(lock_fd_, LOCK_EX) != 0 && errno == EINTR) {}
    old_ = read_nr_hugepages();
  }
  NrHugepagesGuard(const NrHugepagesGuard&) = delete;
  NrHugepagesGuard& operator=(const NrHugepagesGuard&) = delete;

  long old_value() const { return old_; }

  // Returns the number of pages the kernel really reserved (it may give fewer than asked,
  // e.g. when memory is fragmented), or -1 if the value cannot be written.
  long set(long pages) {
    if (old_ < 0) return -1;
    if (!guardian_started_ && !start_guardian()) return -1;
    if (!write_nr_hugepages(pages)) return -1;
    return read_nr_hugepages();
  }

  ~NrHugepagesGuard() {
    if (guardian_started_) {
      write_nr_hugepages(old_);
      ::close(pipe_w_);  // the guardian restores once more (idempotent) and exits
      int st;
      ::waitpid(guardian_, &st, 0);
    }
    if (lock_fd_ >= 0) ::close(lock_fd_);
  }

 private:
  bool start_guardian() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return false;
    std::fflush(nullptr);
    pid_t pid = ::fork();
    if (pid < 0) {
      ::close(fds[0]);
      ::close(fds[1]);
      return false;
    }
    if (pid == 0) {
      // Its own session, so a signal to the test's process group (Ctrl-C, a runner killing
      // the group) does not take the guardian with it; no stdio, so nobody waiting for the
      // test's output waits for the guardian.
      ::setsid();
      int devnull = ::open("/dev/null", O_RDWR);
      for (int fd = 0; fd < 3; ++fd) ::dup2(devnull, fd);
      ::close(fds[1]);
      char c;
      for (;;) {
        ssize_t n = ::read(fds[0], &c, 1);
        if (n == 0 || (n < 0 && errno != EINTR)) break;
      }
      write_nr_hugepages(old_);
      _exit(0);
    }
    ::close(fds[0]);
    pipe_w_ = fds[1];
    guardian_ = pid;
    guardian_started_ = true;
    return true;
  }

  int lock_fd_ = -1;
  long old_ = -1;
  bool guardian_started_ = false;
  int pipe_w_ = -1;
  pid_t guardian_ = -1;
};

}  // namespace pft
