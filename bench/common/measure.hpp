// Timing, page faults and RSS of the current process, for the whole-program workloads.
// Everything here reads kernel counters; nothing allocates inside a measured phase
// except read_status_kb(), which uses a fixed stack buffer.
#pragma once

#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace hakbench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Minor + major page faults of the calling thread so far.
inline uint64_t thread_faults() {
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
  return static_cast<uint64_t>(ru.ru_minflt) + static_cast<uint64_t>(ru.ru_majflt);
}

// Minor + major page faults of the whole process (all threads) so far.
inline uint64_t process_faults() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<uint64_t>(ru.ru_minflt) + static_cast<uint64_t>(ru.ru_majflt);
}

// Reads one "Key:   123 kB" line of /proc/self/status; returns 0 if it is missing.
inline uint64_t read_status_kb(const char* key) {
  FILE* f = std::fopen("/proc/self/status", "re");
  if (f == nullptr) return 0;
  char line[256];
  uint64_t value = 0;
  const size_t key_len = std::strlen(key);
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, key, key_len) == 0 && line[key_len] == ':') {
      unsigned long long v = 0;
      if (std::sscanf(line + key_len + 1, "%llu", &v) == 1) value = v;
      break;
    }
  }
  std::fclose(f);
  return value;
}

inline uint64_t rss_kb() { return read_status_kb("VmRSS"); }
inline uint64_t peak_rss_kb() { return read_status_kb("VmHWM"); }

// A measured phase: wall time and faults between start() and stop().
class Phase {
 public:
  void start() {
    faults0_ = process_faults();
    t0_ = Clock::now();
  }
  void stop() {
    seconds_ = seconds_since(t0_);
    faults_ = process_faults() - faults0_;
  }
  double seconds() const { return seconds_; }
  uint64_t faults() const { return faults_; }

 private:
  Clock::time_point t0_{};
  uint64_t faults0_ = 0;
  double seconds_ = 0;
  uint64_t faults_ = 0;
};

}  // namespace hakbench
