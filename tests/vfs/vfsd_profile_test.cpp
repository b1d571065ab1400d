// vfsd mounted for real with HAKMEM_PROFILE=1: its write pool's counters are read live by
// hakmem-stat in all three formats (show, export --json, export --prometheus) from the VFS
// pool record beside the allocator's, and checked against what was written; then reset,
// the final snapshot at unmount, clean, and the refusal of a newer record version.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/prometheus.hpp"
#include "hakmem/vfs_profile_record.h"
#include "mount_fixture.h"

#ifndef HAKMEM_STAT
#error "HAKMEM_STAT must name the hakmem-stat binary"
#endif

using nlohmann::json;
using vfstest::Mount;
using vfstest::run;

namespace {

constexpr std::uint64_t kChunk = 64 * 1024;  // --chunk-kb 64

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string grouped(std::uint64_t v) {
  std::string d = std::to_string(v), out;
  for (std::size_t i = 0; i < d.size(); ++i) {
    if (i > 0 && (d.size() - i) % 3 == 0) out += ',';
    out += d[i];
  }
  return out;
}

using hakt::parse_prometheus;

class VfsdProfile : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!vfstest::fuse_available(&why)) GTEST_SKIP() << why;
    prof_ = m_.root() + "/prof";
    ASSERT_EQ(mkdir(prof_.c_str(), 0700), 0);
    // vfsd inherits these (Mount::start execs it with this environment).
    setenv("HAKMEM_PROFILE", "1", 1);
    setenv("HAKMEM_PROFILE_PATH", prof_.c_str(), 1);
    setenv("HAKMEM_PROFILE_INTERVAL_MS", "20", 1);
    std::string err;
    // No kernel write-back cache: every write() reaches the daemon (and the pool) at once.
    const bool ok = m_.start({"--writable", "--no-writeback-cache", "--chunk-kb", "64"}, &err);
    unsetenv("HAKMEM_PROFILE");
    unsetenv("HAKMEM_PROFILE_PATH");
    unsetenv("HAKMEM_PROFILE_INTERVAL_MS");
    ASSERT_TRUE(ok) << err;
  }

  vfstest::RunResult stat(const std::string& args) {
    return run(std::string(HAKMEM_STAT) + " --path " + quote(prof_) + " " + args);
  }
  json export_json() {
    auto r = stat("export " + std::to_string(m_.pid()) + " --json 2>/dev/null");
    EXPECT_EQ(r.status, 0) << r.out;
    return json::parse(r.out, nullptr, false);
  }
  // A snapshot of both records taken entirely after everything done so far.
  json fresh_json() {
    json j0 = export_json();
    const std::uint64_t want = j0["vfs"]["update_count"].get<std::uint64_t>() + 2;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (;;) {
      json j = export_json();
      if (j["vfs"]["update_count"].get<std::uint64_t>() >= want &&
          j["update_count"].get<std::uint64_t>() >= j0["update_count"].get<std::uint64_t>() + 2)
        return j;
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "the records are not being refreshed";
        return j;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  static std::uint64_t vfs(const json& j, const char* name) {
    const json& v = j["vfs"];
    if (v["counters"].contains(name)) return v["counters"][name].get<std::uint64_t>();
    return v["gauges"][name].get<std::uint64_t>();
  }
  static std::uint64_t vfs_lock(const json& j, const std::string& lock, const char* field) {
    for (const auto& l : j["vfs"]["locks"])
      if (l["name"] == lock) return l[field].get<std::uint64_t>();
    ADD_FAILURE() << "no pool lock " << lock;
    return 0;
  }

  Mount m_;
  std::string prof_;
};

TEST_F(VfsdProfile, PoolCountersLiveInAllThreeFormats) {
  const std::string pid = std::to_string(m_.pid());
  const std::string record = prof_ + "/hakmem-" + pid;
  const std::string vfs_record = record + HAKMEM_VFS_PROFILE_SUFFIX;
  struct stat st;
  ASSERT_EQ(::stat(vfs_record.c_str(), &st), 0) << "no VFS pool record at " << vfs_record;
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, static_cast<off_t>(sizeof(hakmem_vfs_profile_record)));

  json j0 = fresh_json();
  ASSERT_TRUE(j0["vfs"].is_object()) << j0.dump();
  EXPECT_EQ(j0["comm"], "vfsd");
  EXPECT_EQ(j0["vfs"]["schema"], "hakmem-vfs-profile");
  EXPECT_EQ(j0["vfs"]["record_version"], HAKMEM_VFS_PROFILE_VERSION);
  EXPECT_EQ(j0["vfs"]["state"], "running");
  EXPECT_EQ(vfs(j0, "chunk_size"), kChunk);
  EXPECT_EQ(vfs(j0, "budget_bytes"), 64u << 20);

  // New files of sizes that end inside a chunk, on a chunk boundary, and across several.
  const std::vector<std::size_t> sizes = {1000, 65536, 200000, 300017};
  std::uint64_t total = 0, chunks = 0;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    vfstest::write_random_file(m_.mnt() + "/f" + std::to_string(i), sizes[i], 100 + i);
    total += sizes[i];
    chunks += (sizes[i] + kChunk - 1) / kChunk;
  }
  // Live: the daemon is still mounted and running. Each file is saved at or right after its
  // close; wait (bounded) until nothing is dirty.
  json j1 = fresh_json();
  for (int i = 0; i < 200 && vfs(j1, "blocks_dirty") != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    j1 = fresh_json();
  }
  EXPECT_EQ(j1["vfs"]["state"], "running");
  EXPECT_EQ(vfs(j1, "write_bytes") - vfs(j0, "write_bytes"), total);
  EXPECT_GE(vfs(j1, "writes") - vfs(j0, "writes"), chunks) << "one pool write per chunk touched";
  EXPECT_EQ(vfs(j1, "write_misses") - vfs(j0, "write_misses"), chunks)
      << "each chunk's block is created by its first write";
  EXPECT_EQ(vfs(j1, "loads") + vfs(j1, "full_chunk_writes") - vfs(j0, "loads") -
                vfs(j0, "full_chunk_writes"),
            chunks)
      << "a created block is either loaded or written whole";
  // close() saved every file: all its blocks flushed, nothing dirty left.
  EXPECT_EQ(vfs(j1, "blocks_flushed") - vfs(j0, "blocks_flushed"), chunks);
  EXPECT_GE(vfs(j1, "flush_calls") - vfs(j0, "flush_calls"), sizes.size());
  EXPECT_EQ(vfs(j1, "blocks_dirty"), 0u);
  EXPECT_EQ(vfs(j1, "flush_errors"), 0u);
  EXPECT_GE(vfs_lock(j1, "vfs_shards", "acquisitions") - vfs_lock(j0, "vfs_shards", "acquisitions"),
            vfs(j1, "writes") - vfs(j0, "writes"))
      << "every pool write takes its shard's lock";
  EXPECT_LE(vfs_lock(j1, "vfs_shards", "contended"), vfs_lock(j1, "vfs_shards", "acquisitions"));
  EXPECT_LE(vfs_lock(j1, "vfs_other", "contended"), vfs_lock(j1, "vfs_other", "acquisitions"));
  // The daemon's allocator counters are in the same snapshot.
  EXPECT_GT(j1["counters"]["new_calls"].get<std::uint64_t>(), 0u);

  // Prometheus: the same values (the daemon is idle now), hakmem_vfs_ prefix, lock labels.
  auto prom = stat("export " + pid + " --prometheus");
  ASSERT_EQ(prom.status, 0) << prom.out;
  auto m = parse_prometheus(prom.out);
  json j2 = export_json();
  EXPECT_EQ(m["hakmem_vfs_write_bytes_total"], static_cast<double>(vfs(j2, "write_bytes")));
  EXPECT_EQ(m["hakmem_vfs_write_misses_total"], static_cast<double>(vfs(j2, "write_misses")));
  EXPECT_EQ(m["hakmem_vfs_blocks_flushed_total"], static_cast<double>(vfs(j2, "blocks_flushed")));
  EXPECT_EQ(m["hakmem_vfs_chunk_size"], static_cast<double>(kChunk));
  EXPECT_EQ(m["hakmem_vfs_lock_acquisitions_total{lock=\"vfs_shards\"}"],
            static_cast<double>(vfs_lock(j2, "vfs_shards", "acquisitions")));
  EXPECT_TRUE(m.count("hakmem_vfs_lock_contended_total{lock=\"vfs_other\"}"));
  EXPECT_TRUE(m.count("hakmem_vfs_lock_wait_seconds_total{lock=\"vfs_shards\"}"));
  EXPECT_NE(prom.out.find("# TYPE hakmem_vfs_write_bytes_total counter"), std::string::npos);
  EXPECT_NE(prom.out.find("# TYPE hakmem_vfs_blocks_dirty gauge"), std::string::npos);
  EXPECT_NE(prom.out.find("hakmem_info{pid=\"" + pid), std::string::npos);

  // The human table: the allocator's, then the pool's section.
  auto show = stat("show " + pid);
  ASSERT_EQ(show.status, 0) << show.out;
  EXPECT_NE(show.out.find("VFS pool: running, record " + vfs_record), std::string::npos)
      << show.out;
  bool bytes_row = false, lock_row = false;
  std::istringstream lines(show.out);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("  bytes written ", 0) == 0) {
      bytes_row = true;
      EXPECT_NE(line.find(grouped(vfs(j2, "write_bytes"))), std::string::npos) << line;
    }
    if (line.rfind("  vfs_shards ", 0) == 0) lock_row = true;
  }
  EXPECT_TRUE(bytes_row) << show.out;
  EXPECT_TRUE(lock_row) << show.out;

  // Reset: both records' counters restart from zero, the pool's gauges stay.
  auto reset = stat("reset " + pid);
  ASSERT_EQ(reset.status, 0) << reset.out;
  json j3 = fresh_json();
  EXPECT_EQ(vfs(j3, "write_bytes"), 0u);
  EXPECT_EQ(vfs(j3, "blocks_flushed"), 0u);
  EXPECT_EQ(vfs(j3, "chunk_size"), kChunk);
  EXPECT_GT(j3["vfs"]["reset_time_ns"].get<std::uint64_t>(), 0u);
  vfstest::write_random_file(m_.mnt() + "/after-reset", 3 * kChunk, 7);
  json j4 = fresh_json();
  EXPECT_EQ(vfs(j4, "write_bytes"), 3 * kChunk);
  EXPECT_EQ(vfs(j4, "full_chunk_writes") + vfs(j4, "loads"), 3u);

  // Unmount: the final snapshots are marked exited and keep the totals.
  ASSERT_EQ(m_.stop(), 0) << m_.log();
  auto fin = stat("export " + pid + " --json");
  ASSERT_EQ(fin.status, 0) << fin.out;
  json j5 = json::parse(fin.out);
  EXPECT_EQ(j5["state"], "exited");
  EXPECT_EQ(j5["vfs"]["state"], "exited");
  EXPECT_EQ(vfs(j5, "write_bytes"), 3 * kChunk);
  // Every pool block came from hak_block_alloc, whose bytes the allocator's record counts
  // (all threads have exited and published by now).
  EXPECT_GE(j5["counters"]["bytes_requested"].get<std::uint64_t>(),
            vfs(j5, "hak_block_allocs") * kChunk);

  // A VFS record of a newer version than this hakmem-stat is refused, clearly.
  const std::string copy = prof_ + "/copy";
  ASSERT_EQ(run("cp " + quote(record) + " " + quote(copy) + " && cp " + quote(vfs_record) + " " +
                quote(copy + HAKMEM_VFS_PROFILE_SUFFIX))
                .status,
            0);
  {
    std::fstream f(copy + HAKMEM_VFS_PROFILE_SUFFIX,
                   std::ios::in | std::ios::out | std::ios::binary);
    std::uint32_t v = HAKMEM_VFS_PROFILE_VERSION + 1;
    f.seekp(offsetof(hakmem_profile_header, version));
    f.write(reinterpret_cast<const char*>(&v), sizeof(v));
  }
  auto newer = run(std::string(HAKMEM_STAT) + " show " + quote(copy));
  EXPECT_EQ(newer.status, 1);
  EXPECT_NE(newer.out.find("newer than this hakmem-stat understands"), std::string::npos)
      << newer.out;
  ::unlink(copy.c_str());
  ::unlink((copy + HAKMEM_VFS_PROFILE_SUFFIX).c_str());

  // clean removes both records of the process that is gone.
  auto clean = stat("clean");
  EXPECT_EQ(clean.status, 0) << clean.out;
  EXPECT_NE(::access(record.c_str(), F_OK), 0) << clean.out;
  EXPECT_NE(::access(vfs_record.c_str(), F_OK), 0) << clean.out;
}

}  // namespace
