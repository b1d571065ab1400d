// The fixture of the profiling tests (profile_live_test.cpp, profile_entry_test.cpp): running
// programs with their output captured, the profile_helper program driven line by line, and
// reading hakmem-stat's JSON and Prometheus output.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

extern char** environ;

#include "common/prometheus.hpp"
#include "common/test_support.hpp"

namespace proftest {

using nlohmann::json;


struct Result {
  int status = -1;  // exit status, or 128 + signal
  std::string out;
  std::string err;
};

// The environment of this test without any hakmem or preload setting, plus `extra`.
inline std::vector<std::string> clean_env(const std::vector<std::string>& extra) {
  return hakt::child_env(extra, true);
}
using hakt::cstrs;

// Runs a program to completion, capturing stdout and stderr. run_as_uid >= 0 drops to it.
inline Result run(std::vector<std::string> argv, std::vector<std::string> env,
                  int run_as_uid = -1) {
  int out[2], err[2];
  EXPECT_EQ(pipe2(out, O_CLOEXEC), 0);
  EXPECT_EQ(pipe2(err, O_CLOEXEC), 0);
  auto av = cstrs(argv);
  auto ev = cstrs(env);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    dup2(err[1], 2);
    if (run_as_uid >= 0) {
      if (setgid(static_cast<gid_t>(run_as_uid)) != 0 ||
          setuid(static_cast<uid_t>(run_as_uid)) != 0)
        _exit(126);
    }
    execve(av[0], av.data(), ev.data());
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  Result r;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open_fds = 2;
  while (open_fds > 0) {
    if (poll(fds, 2, 30000) <= 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      char buf[4096];
      ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? r.out : r.err).append(buf, static_cast<std::size_t>(n));
      }
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

// The helper program, driven line by line.
class Helper {
 public:
  Helper(const std::vector<std::string>& env_extra) {
    int in[2], out[2];
    EXPECT_EQ(pipe2(in, O_CLOEXEC), 0);
    EXPECT_EQ(pipe2(out, O_CLOEXEC), 0);
    std::vector<std::string> argv = {PROFILE_HELPER};
    auto env = clean_env(env_extra);
    auto av = cstrs(argv);
    auto ev = cstrs(env);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      execve(av[0], av.data(), ev.data());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    to_ = in[1];
    from_ = out[0];
    EXPECT_EQ(read_line(), "ready");
  }
  ~Helper() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(to_);
    close(from_);
  }
  pid_t pid() const { return pid_; }

  // Sends a command and waits for "ok".
  void command(const std::string& cmd) {
    std::string line = cmd + "\n";
    ASSERT_EQ(write(to_, line.data(), line.size()), static_cast<ssize_t>(line.size()));
    ASSERT_EQ(read_line(), "ok") << "command: " << cmd;
  }
  // Sends quit and returns the exit status.
  int quit() {
    std::string line = "quit\n";
    EXPECT_EQ(write(to_, line.data(), line.size()), static_cast<ssize_t>(line.size()));
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  std::string read_line() {
    std::string line;
    for (;;) {
      pollfd p{from_, POLLIN, 0};
      if (poll(&p, 1, 30000) <= 0) return "(timeout)";
      char c;
      if (read(from_, &c, 1) != 1) return "(eof) " + line;
      if (c == '\n') return line;
      line += c;
    }
  }
  pid_t pid_ = -1;
  int to_ = -1;
  int from_ = -1;
};

inline std::uint64_t counter(const json& j, const char* name) {
  if (j["counters"].contains(name)) return j["counters"][name].get<std::uint64_t>();
  return j["gauges"][name].get<std::uint64_t>();
}

inline const json* find_named(const json& arr, const std::string& name) {
  for (const auto& e : arr) {
    if (e["name"] == name) return &e;
  }
  return nullptr;
}

inline std::uint64_t lock_field(const json& j, const std::string& lock, const char* field) {
  const json* l = find_named(j["locks"], lock);
  if (l == nullptr) {
    ADD_FAILURE() << "no lock " << lock << " in " << j["locks"].dump();
    return 0;
  }
  return (*l)[field].get<std::uint64_t>();
}

// Difference of a counter between two snapshots.
inline std::uint64_t delta(const json& later, const json& earlier, const char* name) {
  return counter(later, name) - counter(earlier, name);
}

// Every internal lock of the allocator, each reported on its own.
inline const char* const kLocks[] = {"superslab_pool", "heap_registry", "span", "large",
                                     "thread_heaps"};

inline std::uint64_t class_field(const json& j, std::uint32_t size, const char* field) {
  for (const auto& c : j["classes"]) {
    if (c["size"].get<std::uint32_t>() == size) return c[field].get<std::uint64_t>();
  }
  ADD_FAILURE() << "no class of size " << size;
  return 0;
}

using hakt::parse_prometheus;

inline std::string grouped(std::uint64_t v) {
  std::string d = std::to_string(v), out;
  for (std::size_t i = 0; i < d.size(); ++i) {
    if (i > 0 && (d.size() - i) % 3 == 0) out += ',';
    out += d[i];
  }
  return out;
}

class ProfileLive : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hakmem-profile-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { run({"/bin/rm", "-rf", dir_}, clean_env({})); }

  std::vector<std::string> profiled_env(const std::string& interval_ms = "20") {
    // BACKGROUND=off: the purger thread that auto starts once 8 MiB were freed is created by
    // a thread of the program (pthread_create allocates), and these tests count exactly
    // the calls the helper program makes.
    return {std::string("LD_PRELOAD=") + HAKMEM_SO, "HAKMEM_PROFILE=1",
            "HAKMEM_PROFILE_PATH=" + dir_, "HAKMEM_PROFILE_INTERVAL_MS=" + interval_ms,
            "HAKMEM_BACKGROUND=off"};
  }
  Result stat(std::vector<std::string> args) {
    std::vector<std::string> argv = {HAKMEM_STAT, "--path", dir_};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, clean_env({}));
  }
  json export_json(pid_t pid) {
    Result r = stat({"export", std::to_string(pid), "--json"});
    EXPECT_EQ(r.status, 0) << r.err;
    return json::parse(r.out);
  }
  // A snapshot taken entirely after everything the helper did so far.
  json fresh_json(pid_t pid) {
    json j0 = export_json(pid);
    std::uint64_t want = j0["update_count"].get<std::uint64_t>() + 2;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (;;) {
      json j = export_json(pid);
      if (j["update_count"].get<std::uint64_t>() >= want) return j;
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "the record is not being refreshed";
        return j;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  std::string dir_;
};

// Extra allocations the program may make besides those it was told to (none expected).
inline constexpr std::uint64_t kSlack = 64;

}  // namespace proftest
