// The done-when test of the built-in profiling: a real program (profile_helper) runs under
// LD_PRELOAD=libhakmem.so HAKMEM_PROFILE=1; while it runs, hakmem-stat reads its counters in
// all three formats (show, export --json, export --prometheus), and they are checked against
// what the program was told to do. Also: reset, watch, list, clean, fork, the default
// /dev/shm location and mode, profiling off by default, and the CLI's errors (missing pid,
// newer record version, no permission). new/delete and bytes: profile_entry_test.cpp.
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <algorithm>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "hakmem/profile_record.h"
#include "profile_fixture.hpp"

namespace {

using namespace proftest;

TEST_F(ProfileLive, CountersMatchWhatTheProgramDid) {
  Helper h(profiled_env());
  const pid_t pid = h.pid();
  std::string path = dir_ + "/hakmem-" + std::to_string(pid);
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0) << "no record at " << path;
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, static_cast<off_t>(sizeof(hakmem_profile_record)));

  json j0 = fresh_json(pid);
  EXPECT_EQ(j0["schema"], "hakmem-profile");
  EXPECT_EQ(j0["record_version"], HAKMEM_PROFILE_VERSION);
  EXPECT_EQ(j0["pid"], pid);
  EXPECT_EQ(j0["state"], "running");
  EXPECT_EQ(j0["comm"], "profile_helper");

  // 10,000 objects of 48 bytes, kept live.
  constexpr std::uint64_t kN = 10000;
  h.command("alloc 10000 48");
  json j1 = fresh_json(pid);
  std::uint64_t mallocs = counter(j1, "malloc_calls") - counter(j0, "malloc_calls");
  EXPECT_GE(mallocs, kN);
  EXPECT_LE(mallocs, kN + kSlack);
  EXPECT_EQ(delta(j1, j0, "new_calls"), 0u) << "malloc is not counted as new";
  EXPECT_GE(delta(j1, j0, "cache_allocs"), kN);
  EXPECT_LE(delta(j1, j0, "cache_allocs"), kN + kSlack);
  std::uint64_t class_refills = class_field(j1, 48, "refills") - class_field(j0, 48, "refills");
  EXPECT_GE(class_refills, kN / 64) << "a refill brings at most half a bin (64 objects)";
  EXPECT_LE(class_refills, kN / 8);
  EXPECT_GE(counter(j1, "refills"), class_field(j1, 48, "refills"));
  EXPECT_GE(counter(j1, "superslabs_mapped"), 1u);
  EXPECT_GE(counter(j1, "superslabs_in_use"), 1u);
  EXPECT_GE(counter(j1, "threads_created"), 1u);

  // Locks: every internal lock, acquisitions, contended and wait time reported separately.
  for (const char* name : kLocks) {
    const json* l = find_named(j1["locks"], name);
    ASSERT_NE(l, nullptr) << name << " missing: " << j1["locks"].dump();
    EXPECT_LE((*l)["contended"].get<std::uint64_t>(), (*l)["acquisitions"].get<std::uint64_t>());
    EXPECT_TRUE(l->contains("wait_ns")) << name;
  }
  // Every refill and every flush takes the thread's heap lock.
  EXPECT_GE(lock_field(j1, "thread_heaps", "acquisitions") -
                lock_field(j0, "thread_heaps", "acquisitions"),
            delta(j1, j0, "refills") + delta(j1, j0, "flushes"));
  EXPECT_GE(lock_field(j1, "thread_heaps", "acquisitions"), counter(j1, "refills"));
  const json* pool = find_named(j1["locks"], "superslab_pool");
  ASSERT_NE(pool, nullptr) << j1["locks"].dump();
  EXPECT_GE((*pool)["acquisitions"].get<std::uint64_t>(), 1u);
  EXPECT_LE((*pool)["contended"].get<std::uint64_t>(),
            (*pool)["acquisitions"].get<std::uint64_t>());
  EXPECT_TRUE((*pool).contains("wait_ns"));
  // Latency: every refill is timed while profiling is on (it starts before the first one).
  const json* refill = find_named(j1["latency"], "refill");
  ASSERT_NE(refill, nullptr);
  EXPECT_EQ((*refill)["count"].get<std::uint64_t>(), counter(j1, "refills"));
  std::uint64_t bucket_sum = 0;
  for (const auto& b : (*refill)["buckets"]) bucket_sum += b.get<std::uint64_t>();
  EXPECT_EQ(bucket_sum, (*refill)["count"].get<std::uint64_t>());
  EXPECT_GT((*refill)["sum_ns"].get<std::uint64_t>(), 0u);
  const json* acquire = find_named(j1["latency"], "superslab_acquire");
  ASSERT_NE(acquire, nullptr);
  EXPECT_GE((*acquire)["count"].get<std::uint64_t>(), 1u);

  // The same counters, live, in the Prometheus format (the program is idle: they agree).
  Result prom = stat({"export", std::to_string(pid), "--prometheus"});
  ASSERT_EQ(prom.status, 0) << prom.err;
  auto m = parse_prometheus(prom.out);
  EXPECT_EQ(m["hakmem_malloc_calls_total"], static_cast<double>(counter(j1, "malloc_calls")));
  EXPECT_EQ(m["hakmem_refills_total"], static_cast<double>(counter(j1, "refills")));
  EXPECT_EQ(m["hakmem_superslabs_in_use"], static_cast<double>(counter(j1, "superslabs_in_use")));
  EXPECT_EQ(m["hakmem_class_refills_total{class=\"2\",size=\"48\"}"],
            static_cast<double>(class_field(j1, 48, "refills")));
  EXPECT_EQ(m["hakmem_lock_acquisitions_total{lock=\"superslab_pool\"}"],
            static_cast<double>((*pool)["acquisitions"].get<std::uint64_t>()));
  for (const char* name : kLocks) {
    std::string label = std::string("{lock=\"") + name + "\"}";
    ASSERT_TRUE(m.count("hakmem_lock_acquisitions_total" + label)) << name;
    ASSERT_TRUE(m.count("hakmem_lock_contended_total" + label)) << name;
    ASSERT_TRUE(m.count("hakmem_lock_wait_seconds_total" + label)) << name;
    // Each refresh of the record reads the heap registry and the huge-block cache under
    // their locks: those two move while the program is idle; the others must not.
    bool publisher_takes_it = !std::strcmp(name, "heap_registry") || !std::strcmp(name, "large");
    double acq = static_cast<double>(lock_field(j1, name, "acquisitions"));
    if (publisher_takes_it) {
      EXPECT_GE(m["hakmem_lock_acquisitions_total" + label], acq) << name;
    } else {
      EXPECT_EQ(m["hakmem_lock_acquisitions_total" + label], acq) << name;
    }
    EXPECT_GE(m["hakmem_lock_contended_total" + label],
              static_cast<double>(lock_field(j1, name, "contended")))
        << name;
  }
  EXPECT_EQ(m["hakmem_new_calls_total"], static_cast<double>(counter(j1, "new_calls")));
  EXPECT_EQ(m["hakmem_cache_allocs_total"], static_cast<double>(counter(j1, "cache_allocs")));
  EXPECT_TRUE(m.count("hakmem_lock_contended_total{lock=\"superslab_pool\"}"));
  EXPECT_TRUE(m.count("hakmem_lock_wait_seconds_total{lock=\"superslab_pool\"}"));
  EXPECT_EQ(m["hakmem_latency_seconds_count{op=\"refill\"}"],
            static_cast<double>(counter(j1, "refills")));
  EXPECT_EQ(m["hakmem_latency_seconds_bucket{op=\"refill\",le=\"+Inf\"}"],
            static_cast<double>(counter(j1, "refills")));
  EXPECT_NE(prom.out.find("# TYPE hakmem_malloc_calls_total counter"), std::string::npos);
  EXPECT_NE(prom.out.find("# TYPE hakmem_latency_seconds histogram"), std::string::npos);
  EXPECT_NE(prom.out.find("hakmem_info{pid=\"" + std::to_string(pid)), std::string::npos);

  // And in the human table.
  Result show = stat({"show", std::to_string(pid)});
  ASSERT_EQ(show.status, 0) << show.err;
  EXPECT_NE(show.out.find("pid " + std::to_string(pid) + " (profile_helper): running"),
            std::string::npos)
      << show.out;
  std::istringstream lines(show.out);
  std::string line;
  bool malloc_row = false;
  unsigned lock_rows = 0;
  while (std::getline(lines, line)) {
    if (line.rfind("  malloc ", 0) == 0) {
      malloc_row = true;
      EXPECT_NE(line.find(grouped(counter(j1, "malloc_calls"))), std::string::npos) << line;
    }
    for (const char* name : kLocks) {
      if (line.rfind(std::string("  ") + name + " ", 0) != 0) continue;
      ++lock_rows;
      // The record refreshed after j1 (the publisher's own reads take some locks): the row
      // holds at least j1's count.
      std::istringstream fields(line);
      std::string lock_name, acq;
      fields >> lock_name >> acq;
      acq.erase(std::remove(acq.begin(), acq.end(), ','), acq.end());
      EXPECT_GE(std::stoull(acq), lock_field(j1, name, "acquisitions")) << line;
    }
  }
  EXPECT_TRUE(malloc_row) << show.out;
  EXPECT_EQ(lock_rows, std::size(kLocks)) << show.out;
  EXPECT_NE(show.out.find("contended"), std::string::npos);
  EXPECT_NE(show.out.find("wait total"), std::string::npos);

  // Free them all: free calls, flushes of the 48-byte class.
  h.command("free");
  json j2 = fresh_json(pid);
  std::uint64_t frees = counter(j2, "free_calls") - counter(j1, "free_calls");
  EXPECT_GE(frees, kN);
  EXPECT_LE(frees, kN + kSlack);
  EXPECT_GE(class_field(j2, 48, "flushes") - class_field(j1, 48, "flushes"), (kN - 128) / 64);
  EXPECT_EQ(delta(j2, j1, "delete_calls"), 0u) << "free is not counted as delete";


  // Entry points counted exactly.
  h.command("calloc 300 64");
  h.command("realloc 200 40");
  h.command("aligned 150 64 100");
  json j3 = fresh_json(pid);
  EXPECT_EQ(counter(j3, "calloc_calls") - counter(j2, "calloc_calls"), 300u);
  EXPECT_EQ(counter(j3, "realloc_calls") - counter(j2, "realloc_calls"), 200u);
  EXPECT_EQ(counter(j3, "aligned_calls") - counter(j2, "aligned_calls"), 150u);
  // Each call under its own entry point: the only mallocs are the realloc command's first
  // malloc, the frees are those of every command (not realloc's release of the old block).
  EXPECT_EQ(delta(j3, j2, "malloc_calls"), 200u);
  EXPECT_EQ(delta(j3, j2, "free_calls"), 300u + 200u + 150u);
  EXPECT_EQ(delta(j3, j2, "new_calls") + delta(j3, j2, "delete_calls"), 0u);
  // Bytes: calloc 64 (class 64), realloc to 80 (class 80), aligned 100 at 64 (class 128).
  EXPECT_EQ(delta(j3, j2, "bytes_requested"), 300u * 64 + 200u * 80 + 150u * 100);
  EXPECT_EQ(delta(j3, j2, "bytes_served"), 300u * 64 + 200u * 80 + 150u * 128);

  // Huge objects: the first misses the cache, later rounds reuse the freed mapping.
  h.command("large 8 8388608");
  json j4 = fresh_json(pid);
  std::uint64_t hits = counter(j4, "large_cache_hits") - counter(j3, "large_cache_hits");
  std::uint64_t misses = counter(j4, "large_cache_misses") - counter(j3, "large_cache_misses");
  EXPECT_EQ(counter(j4, "large_allocs") - counter(j3, "large_allocs"), 8u);
  EXPECT_EQ(hits + misses, 8u);
  EXPECT_GE(hits, 1u);
  EXPECT_EQ(delta(j4, j3, "malloc_calls"), 8u) << "plain malloc beyond the slab classes";
  EXPECT_EQ(delta(j4, j3, "free_calls"), 8u);
  EXPECT_EQ(delta(j4, j3, "bytes_requested"), 8u * 8388608);
  EXPECT_GE(delta(j4, j3, "bytes_served"), 8u * 8388608);
  EXPECT_LE(delta(j4, j3, "bytes_served"), 8u * (8388608 + 2097152)) << "2 MiB-rounded mappings";
  // Each huge allocation takes the huge-block lock (cache look-up, live bytes), each free once.
  EXPECT_GE(lock_field(j4, "large", "acquisitions") - lock_field(j3, "large", "acquisitions"),
            8u * 3);

  // Remote frees: another thread frees 2,000 of this thread's objects, then exits.
  h.command("remote 2000 48");
  json j5 = fresh_json(pid);
  std::uint64_t remote = counter(j5, "remote_frees") - counter(j4, "remote_frees");
  EXPECT_GE(remote, 2000u);
  EXPECT_LE(remote, 2000u + kSlack);
  EXPECT_GE(counter(j5, "remote_batches") - counter(j4, "remote_batches"), 1u);
  EXPECT_LE(counter(j5, "remote_batches") - counter(j4, "remote_batches"), remote);
  EXPECT_EQ(counter(j5, "threads_created") - counter(j4, "threads_created"), 1u);
  EXPECT_EQ(counter(j5, "threads_exited") - counter(j4, "threads_exited"), 1u);
  // The exited thread's heap lock stays in the totals (folded at exit): the sum never falls
  // and still covers every refill and flush.
  EXPECT_GE(lock_field(j5, "thread_heaps", "acquisitions") -
                lock_field(j4, "thread_heaps", "acquisitions"),
            delta(j5, j4, "refills") + delta(j5, j4, "flushes"));
  EXPECT_GE(lock_field(j5, "thread_heaps", "acquisitions"),
            counter(j5, "refills") + counter(j5, "flushes"));

  // A forked child must not write (or close) the parent's record.
  h.command("fork");
  json j6 = fresh_json(pid);
  EXPECT_EQ(j6["state"], "running");
  EXPECT_GT(j6["update_count"].get<std::uint64_t>(), j5["update_count"].get<std::uint64_t>());

  // watch: refreshing views, then list.
  Result watch = stat({"watch", std::to_string(pid), "--interval", "0.05", "--count", "2"});
  ASSERT_EQ(watch.status, 0) << watch.err;
  EXPECT_EQ(std::count(watch.out.begin(), watch.out.end(), '\n') > 20, true);
  EXPECT_NE(watch.out.find("over the last interval"), std::string::npos) << watch.out;
  Result list = stat({"list"});
  ASSERT_EQ(list.status, 0) << list.err;
  EXPECT_NE(list.out.find(std::to_string(pid)), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("running"), std::string::npos) << list.out;

  // Reset: counters restart from zero, gauges stay; new work is counted from there.
  std::uint64_t in_use = counter(j6, "superslabs_in_use");
  Result reset = stat({"reset", std::to_string(pid)});
  ASSERT_EQ(reset.status, 0) << reset.err;
  json j7 = fresh_json(pid);
  EXPECT_LE(counter(j7, "malloc_calls"), kSlack);
  EXPECT_EQ(counter(j7, "refills"), 0u);
  EXPECT_EQ(counter(j7, "superslabs_in_use"), in_use);
  EXPECT_GT(j7["reset_time_ns"].get<std::uint64_t>(), 0u);
  EXPECT_EQ(find_named(j7["latency"], "refill")->at("count"), 0u);
  h.command("alloc 5000 48");
  json j8 = fresh_json(pid);
  EXPECT_GE(counter(j8, "malloc_calls"), 5000u);
  EXPECT_LE(counter(j8, "malloc_calls"), 5000u + kSlack);
  EXPECT_EQ(find_named(j8["latency"], "refill")->at("count"), counter(j8, "refills"));

  // Exit: the final snapshot is written, marked exited, and clean removes it.
  EXPECT_EQ(h.quit(), 0);
  json j9 = export_json(pid);
  EXPECT_EQ(j9["state"], "exited");
  EXPECT_GE(counter(j9, "malloc_calls"), 5000u);
  Result clean = stat({"clean"});
  ASSERT_EQ(clean.status, 0) << clean.err;
  EXPECT_NE(clean.out.find("removed " + path), std::string::npos) << clean.out;
  EXPECT_NE(::access(path.c_str(), F_OK), 0);
}

TEST_F(ProfileLive, NoRecordUnlessEnabled) {
  Helper h({std::string("LD_PRELOAD=") + HAKMEM_SO, "HAKMEM_PROFILE_PATH=" + dir_});
  h.command("alloc 100 32");
  std::string path = dir_ + "/hakmem-" + std::to_string(h.pid());
  EXPECT_NE(::access(path.c_str(), F_OK), 0);
  Result r = stat({"show", std::to_string(h.pid())});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("no profile record for pid " + std::to_string(h.pid())), std::string::npos)
      << r.err;
  EXPECT_EQ(h.quit(), 0);
}

TEST_F(ProfileLive, DefaultLocationIsDevShm) {
  struct stat st;
  if (::stat("/dev/shm", &st) != 0 || !S_ISDIR(st.st_mode)) GTEST_SKIP() << "no /dev/shm";
  Helper h({std::string("LD_PRELOAD=") + HAKMEM_SO, "HAKMEM_PROFILE=1"});
  std::string path = "/dev/shm/hakmem-" + std::to_string(h.pid());
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_uid, geteuid());
  Result r = run({HAKMEM_STAT, "export", std::to_string(h.pid()), "--json"}, clean_env({}));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["pid"], h.pid());
  EXPECT_EQ(h.quit(), 0);
  ::unlink(path.c_str());
}

TEST_F(ProfileLive, ClearErrors) {
  // A pid that is gone.
  Result gone = run({"/bin/true"}, clean_env({}));
  ASSERT_EQ(gone.status, 0);
  pid_t dead = 0;
  {
    pid_t p = fork();
    if (p == 0) _exit(0);
    waitpid(p, nullptr, 0);
    dead = p;
  }
  Result r = stat({"show", std::to_string(dead)});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("no process " + std::to_string(dead)), std::string::npos) << r.err;
  r = stat({"export", "not-a-pid", "--json"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("neither a process id nor a record path"), std::string::npos) << r.err;

  // A record of a newer version than this hakmem-stat.
  Helper h(profiled_env());
  std::string path = dir_ + "/hakmem-" + std::to_string(h.pid());
  std::string newer = dir_ + "/newer-record";
  {
    std::ifstream in(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_EQ(bytes.size(), sizeof(hakmem_profile_record));
    std::uint32_t v = HAKMEM_PROFILE_VERSION + 1;
    std::memcpy(&bytes[offsetof(hakmem_profile_header, version)], &v, sizeof(v));
    std::ofstream(newer, std::ios::binary) << bytes;
  }
  r = stat({"show", newer});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("newer than this hakmem-stat"), std::string::npos) << r.err;
  // Not a record at all.
  std::ofstream(dir_ + "/junk") << std::string(4096, 'x');
  r = stat({"show", dir_ + "/junk"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("not a hakmem profile record"), std::string::npos) << r.err;

  // No permission: the record is 0600; read it as another user (root drops to nobody).
  std::vector<std::string> argv = {HAKMEM_STAT, "--path", dir_, "show", std::to_string(h.pid())};
  int uid = -1;
  if (geteuid() == 0) {
    passwd* pw = getpwnam("nobody");
    if (!pw) GTEST_SKIP() << "no user nobody to drop to";
    uid = static_cast<int>(pw->pw_uid);
    chmod(dir_.c_str(), 0755);  // the directory is searchable; the record is not readable
    // A build tree inside a 0700 directory (e.g. a mktemp clone) is out of nobody's reach.
    if (run({HAKMEM_STAT, "--help"}, clean_env({}), uid).status == 127) {
      EXPECT_EQ(h.quit(), 0);
      GTEST_SKIP() << "user nobody cannot execute " << HAKMEM_STAT;
    }
  } else {
    chmod(path.c_str(), 0);
  }
  r = run(argv, clean_env({}), uid);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("permission denied"), std::string::npos) << r.err;
  chmod(path.c_str(), 0600);
  r = run({HAKMEM_STAT, "--path", dir_, "reset", std::to_string(h.pid())}, clean_env({}), uid);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("permission denied"), std::string::npos) << r.err;
  EXPECT_EQ(h.quit(), 0);
}

TEST_F(ProfileLive, CleanKeepsRunningAndRemovesKilled) {
  Helper running(profiled_env());
  pid_t killed_pid;
  {
    Helper killed(profiled_env());
    killed_pid = killed.pid();
  }  // SIGKILL: no final snapshot
  std::string killed_path = dir_ + "/hakmem-" + std::to_string(killed_pid);
  ASSERT_EQ(::access(killed_path.c_str(), F_OK), 0);
  Result r = stat({"export", std::to_string(killed_pid), "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["state"], "dead");
  r = stat({"reset", std::to_string(killed_pid)});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("not running"), std::string::npos) << r.err;
  r = stat({"clean", "--dry-run"});
  EXPECT_NE(r.out.find("would remove " + killed_path), std::string::npos) << r.out;
  EXPECT_EQ(::access(killed_path.c_str(), F_OK), 0);
  r = stat({"clean"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(::access(killed_path.c_str(), F_OK), 0);
  std::string running_path = dir_ + "/hakmem-" + std::to_string(running.pid());
  EXPECT_EQ(::access(running_path.c_str(), F_OK), 0);
  EXPECT_EQ(running.quit(), 0);
}

}  // namespace
