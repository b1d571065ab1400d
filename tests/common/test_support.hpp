// Helpers shared by the hakmem tests: byte patterns, the sizes worth testing, /proc
// readings, and running code or programs in a child process (fork based, so no gtest
// death tests and no dependency on the child's allocator state).
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define HAKT_SANITIZED 1
#else
#define HAKT_SANITIZED 0
#endif
#if defined(__SANITIZE_THREAD__)
#define HAKT_TSAN 1
#else
#define HAKT_TSAN 0
#endif

namespace hakt {

inline constexpr bool kSanitized = HAKT_SANITIZED != 0;
inline constexpr std::size_t KiB = 1024, MiB = 1024 * 1024;

// Keeps the compiler from eliding an allocation or a store to it.
// xorshift64: the tests' seeded generator (same seed, same sizes and contents on every run
// and under every allocator). The seed must not be zero.
struct Rng {
  std::uint64_t s;
  std::uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  std::uint64_t below(std::uint64_t n) { return next() % n; }
};

inline void escape(void* p) { asm volatile("" : : "g"(p) : "memory"); }

// Hides where a pointer came from, so the compiler neither warns about freeing a
// non-heap object nor optimises on it.
template <class T>
inline T* launder_ptr(T* p) {
  asm volatile("" : "+r"(p));
  return p;
}

// A pattern that depends on the seed and the offset, so a block copied to the wrong place,
// shifted, or overlapping another block is caught. Generated a word at a time (fast even on
// multi-MiB blocks); byte i is byte i%8 of word i/8.
inline std::uint64_t pattern_word(std::uint64_t seed, std::size_t k) {
  std::uint64_t x = (seed + 1) * 0x9E3779B97F4A7C15ull ^ (k + 1) * 0xD6E8FEB86659FD93ull;
  return x ^ (x >> 29);
}

inline std::uint8_t pattern_byte(std::uint64_t seed, std::size_t i) {
  return static_cast<std::uint8_t>(pattern_word(seed, i >> 3) >> ((i & 7) * 8));
}

inline void fill(void* p, std::size_t n, std::uint64_t seed) {
  auto* b = static_cast<std::uint8_t*>(p);
  std::size_t words = n / 8;
  for (std::size_t k = 0; k < words; ++k) {
    std::uint64_t w = pattern_word(seed, k);
    std::memcpy(b + 8 * k, &w, 8);
  }
  for (std::size_t i = words * 8; i < n; ++i) b[i] = pattern_byte(seed, i);
}

// Offset of the first byte that differs from the pattern, or SIZE_MAX if all match.
inline std::size_t check(const void* p, std::size_t n, std::uint64_t seed) {
  const auto* b = static_cast<const std::uint8_t*>(p);
  std::size_t words = n / 8;
  for (std::size_t k = 0; k < words; ++k) {
    std::uint64_t w = pattern_word(seed, k), got;
    std::memcpy(&got, b + 8 * k, 8);
    if (got != w)
      for (std::size_t i = 8 * k;; ++i)
        if (b[i] != pattern_byte(seed, i)) return i;
  }
  for (std::size_t i = words * 8; i < n; ++i)
    if (b[i] != pattern_byte(seed, i)) return i;
  return SIZE_MAX;
}

inline bool all_zero(const void* p, std::size_t n) {
  const auto* b = static_cast<const std::uint8_t*>(p);
  for (std::size_t i = 0; i < n; ++i)
    if (b[i] != 0) return false;
  return true;
}

inline bool aligned_to(const void* p, std::size_t a) {
  return (reinterpret_cast<std::uintptr_t>(p) & (a - 1)) == 0;
}

// Small sizes worth testing: every size up to 1 KiB; above, every power of two and its
// neighbours, and both sides of every size-class edge. The edges are found through
// `usable` (the allocator's usable size for a request): r is an edge when r and r-1 get
// different usable sizes. Sizes at multiples of 512 are added so a table with coarser
// classes than the allocator reports is still probed.
template <class UsableOf>
std::vector<std::size_t> small_sizes(UsableOf usable) {
  std::vector<std::size_t> v;
  for (std::size_t s = 1; s <= 1024; ++s) v.push_back(s);
  std::size_t prev = usable(1024);
  for (std::size_t s = 1025; s <= 32768; ++s) {
    std::size_t u = usable(s);
    bool pow2 = (s & (s - 1)) == 0 || ((s + 1) & s) == 0 || ((s - 1) & (s - 2)) == 0;
    if (u != prev || pow2 || s % 512 == 0) {
      v.push_back(s - 1);
      v.push_back(s);
      if (s < 32768) v.push_back(s + 1);
    }
    prev = u;
  }
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

// Sizes beyond the slab classes: spans, the span/own-mapping boundary (1 MiB), up to 4 MiB.
inline std::vector<std::size_t> large_sizes() {
  return {32768 + 1,  32768 + 16,     36864 - 1,     36864,       36864 + 1,   40960 + 1,
          65535,      65536,          65537,         131071,      131072,      131073,
          262144 + 123, 524288,       1 * MiB - 4096, 1 * MiB - 1, 1 * MiB,     1 * MiB + 1,
          1 * MiB + 4096, 2 * MiB - 1, 2 * MiB,      2 * MiB + 1, 3 * MiB + 5, 4 * MiB - 1,
          4 * MiB,    4 * MiB + 1};
}

// Allocation sizes that can never succeed.
inline std::vector<std::size_t> impossible_sizes() {
  return {SIZE_MAX, SIZE_MAX - 4096, SIZE_MAX / 2 + 1, std::size_t{1} << 62,
          std::size_t{1} << 48};
}

// The number after "field:" in a /proc file of "Name: value" lines, or -1.
inline long proc_field(const char* path, const char* field) {
  std::ifstream f(path);
  std::string line;
  std::size_t n = std::strlen(field);
  while (std::getline(f, line))
    if (line.compare(0, n, field) == 0 && line.size() > n && line[n] == ':')
      return std::strtol(line.c_str() + n + 1, nullptr, 10);
  return -1;
}

// A field of /proc/self/status in KiB (e.g. "VmRSS"), or -1.
inline long status_kib(const char* field) { return proc_field("/proc/self/status", field); }

// Number of mappings (VMAs) of this process.
inline long count_maps() {
  std::ifstream f("/proc/self/maps");
  std::string line;
  long n = 0;
  while (std::getline(f, line)) ++n;
  return n;
}

struct ChildResult {
  bool exited = false;     // returned or called exit
  int code = -1;           // exit code when exited
  int signal = 0;          // terminating signal otherwise
  bool timed_out = false;  // killed by us after the deadline
  std::string err;         // its stderr, when captured
  std::string out;         // its stdout, when captured (run_program)
  bool ok() const { return exited && code == 0; }
  std::string describe() const {
    std::string s = timed_out ? "timed out (killed)"
                    : exited  ? "exit code " + std::to_string(code)
                              : "killed by signal " + std::to_string(signal);
    if (!err.empty()) s += "; stderr:\n" + err;
    return s;
  }
};

inline std::string slurp_fd(int fd) {
  std::string s;
  char buf[4096];
  lseek(fd, 0, SEEK_SET);
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) s.append(buf, static_cast<std::size_t>(n));
  return s;
}

inline int temp_fd() {
  char name[] = "/tmp/hakmem-test-XXXXXX";
  int fd = mkstemp(name);
  if (fd >= 0) unlink(name);
  return fd;
}

inline ChildResult wait_child(pid_t pid, int timeout_s) {
  ChildResult r;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  int status = 0;
  for (;;) {
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0) return r;
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      r.timed_out = true;
      break;
    }
    usleep(1000);
  }
  if (WIFEXITED(status)) {
    r.exited = !r.timed_out;
    r.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    r.signal = WTERMSIG(status);
  }
  return r;
}

// Runs fn in a forked child; its return value is the exit code. The child leaves with
// _exit, so no atexit handlers or static destructors of the parent's state run twice.
inline ChildResult run_in_child(const std::function<int()>& fn, int timeout_s = 60,
                                bool capture_stderr = true) {
  int efd = capture_stderr ? temp_fd() : -1;
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid < 0) return {};
  if (pid == 0) {
    if (efd >= 0) dup2(efd, 2);
    int rc = fn();
    std::fflush(nullptr);
    _exit(rc);
  }
  ChildResult r = wait_child(pid, timeout_s);
  if (efd >= 0) {
    r.err = slurp_fd(efd);
    close(efd);
  }
  return r;
}

// Pointers to the strings of v, null-terminated (for execve's argv and envp).
inline std::vector<char*> cstrs(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// This process's environment with `extra` ("NAME=value") set over it; without_hakmem also
// leaves out every HAKMEM_* setting and LD_PRELOAD, so a child sees only what the test asks.
inline std::vector<std::string> child_env(const std::vector<std::string>& extra,
                                          bool without_hakmem) {
  auto overridden = [&](const std::string& v) {
    for (const auto& x : extra) {
      const std::size_t eq = x.find('=');
      if (eq != std::string::npos && v.compare(0, eq + 1, x, 0, eq + 1) == 0) return true;
    }
    return false;
  };
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string v = *e;
    if (without_hakmem && (v.rfind("HAKMEM_", 0) == 0 || v.rfind("LD_PRELOAD=", 0) == 0)) continue;
    if (overridden(v)) continue;
    env.push_back(v);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

// Runs a program with exactly the environment `env`, capturing stdout and stderr.
inline ChildResult run_program_env(const std::vector<std::string>& argv,
                                   std::vector<std::string> env, int timeout_s = 60) {
  std::vector<std::string> args_s = argv;
  std::vector<char*> args = cstrs(args_s), envp = cstrs(env);
  int ofd = temp_fd(), efd = temp_fd();
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid < 0) return {};
  if (pid == 0) {
    dup2(ofd, 1);
    dup2(efd, 2);
    execve(args[0], args.data(), envp.data());
    _exit(127);
  }
  ChildResult r = wait_child(pid, timeout_s);
  r.out = slurp_fd(ofd);
  r.err = slurp_fd(efd);
  close(ofd);
  close(efd);
  return r;
}

// Runs a program with extra environment entries ("NAME=value"), capturing stdout and stderr.
inline ChildResult run_program(const std::vector<std::string>& argv,
                               const std::vector<std::string>& extra_env, int timeout_s = 60) {
  return run_program_env(argv, child_env(extra_env, false), timeout_s);
}

inline std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> v;
  std::size_t pos = 0;
  while (pos < s.size()) {
    std::size_t e = s.find('\n', pos);
    if (e == std::string::npos) e = s.size();
    if (e > pos) v.push_back(s.substr(pos, e - pos));
    pos = e + 1;
  }
  return v;
}

inline std::size_t count_substr(const std::string& s, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t p = s.find(needle); p != std::string::npos; p = s.find(needle, p + 1)) ++n;
  return n;
}

}  // namespace hakt
