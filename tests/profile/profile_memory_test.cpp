// The memory breakdown of the profile record (version 3, "Where the memory is"): a real
// program (profile_helper) allocates known amounts in known classes under LD_PRELOAD, keeps
// some, frees others, flushes its caches, and the breakdown hakmem-stat exports must match
// exactly what the program holds: a small class's live bytes are objects live x class
// size, its bins are empty after a flush, medium and huge blocks are counted by their
// class and mapping sizes. The sum, with metadata, must be close to the RssAnon the kernel
// reports. Also: version 2 records are still read, without a breakdown.
#include <sys/stat.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "hakmem/profile_record.h"
#include "profile_fixture.hpp"

namespace {

using namespace proftest;

// Sizes no other allocation of the helper (or its C library) is made in: 3200 B is a slab
// class of its own, 100,000 B a medium class of 104 KiB (26 pages), 4 MiB a huge block
// whose mapping is 6 MiB (its header pushes it past 4 MiB; mappings are 2 MiB multiples).
constexpr std::uint64_t kSmall = 3200;
constexpr std::uint64_t kMediumRequest = 100000;
constexpr std::uint64_t kMediumClass = 106496;
constexpr std::uint64_t kHugeRequest = 4u << 20;
constexpr std::uint64_t kHugeMapping = 6u << 20;

class ProfileMemory : public ProfileLive {
 protected:
  // A snapshot whose breakdown was walked entirely after everything the helper did so far.
  json fresh_memory(pid_t pid) {
    json j0 = export_json(pid);
    EXPECT_TRUE(j0["memory"].is_object()) << "no memory breakdown in " << j0.dump();
    std::uint64_t want = j0["memory"]["walks"].get<std::uint64_t>() + 2;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (;;) {
      json j = export_json(pid);
      if (j["memory"]["walks"].get<std::uint64_t>() >= want) return j;
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "the memory breakdown is not being refreshed";
        return j;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
};

std::uint64_t where(const json& j, const char* key) {
  return j["memory"]["bytes"][key].get<std::uint64_t>();
}
std::int64_t diff(const json& later, const json& earlier, const char* key) {
  return static_cast<std::int64_t>(where(later, key)) - static_cast<std::int64_t>(where(earlier, key));
}
std::uint64_t cls(const json& j, const char* field) { return class_field(j, kSmall, field); }

// The heap of the helper's main thread (its tid is the pid), or null.
const json* main_heap(const json& j, pid_t pid) {
  for (const auto& h : j["memory"]["heaps"]) {
    if (h["tid"].get<std::int64_t>() == pid) return &h;
  }
  return nullptr;
}

TEST_F(ProfileMemory, SmallClassLiveBinsAndFreeAreExact) {
  Helper h(profiled_env());
  const pid_t pid = h.pid();
  json j0 = fresh_memory(pid);
  ASSERT_EQ(cls(j0, "live_bytes"), 0u) << "something else allocates 3200 B objects";

  // 400 objects live: bins hold what the last refill brought beyond them, published by the
  // helper's thread after the command (hakmem_stats_get).
  h.command("alloc 400 3200");
  json j1 = fresh_memory(pid);
  EXPECT_EQ(cls(j1, "live_bytes"), 400 * kSmall);
  EXPECT_EQ(cls(j1, "bins_bytes") % kSmall, 0u);
  EXPECT_LE(cls(j1, "bins_bytes"), 32 * kSmall);  // at most a bin (32 objects of this class)
  const json* heap = main_heap(j1, pid);
  ASSERT_NE(heap, nullptr) << "no heap named by the helper's tid in " << j1["memory"]["heaps"].dump();
  EXPECT_GE((*heap)["in_use"].get<std::uint64_t>(), 400 * kSmall + cls(j1, "bins_bytes"));
  EXPECT_GE((*heap)["live"].get<std::uint64_t>(), 400 * kSmall);
  EXPECT_GE((*heap)["resident"].get<std::uint64_t>(), (*heap)["in_use"].get<std::uint64_t>());
  EXPECT_GE((*heap)["superslabs"].get<std::uint64_t>(), 1u);

  // Half freed, then the bins flushed: 200 live, the bins empty, the 200 others and every
  // object the bins held back on the slabs' lists (resident, or purged pages).
  h.command("freeodd");
  h.command("flush");
  json j2 = fresh_memory(pid);
  EXPECT_EQ(cls(j2, "live_bytes"), 200 * kSmall);
  EXPECT_EQ(cls(j2, "bins_bytes"), 0u);
  EXPECT_GE(cls(j2, "free_bytes") + cls(j2, "purged_bytes"), 200 * kSmall);
  // Nothing of the class was carved beyond the 400 objects and one refill batch after them.
  EXPECT_LE(cls(j2, "free_bytes") + cls(j2, "purged_bytes"), (200 + 32) * kSmall);

  // All freed and flushed: the slabs emptied and went back to their SuperSlabs, but for
  // the class's current one, kept for its next refill (20 objects of 3200 B in a unit).
  h.command("free");
  h.command("flush");
  json j3 = fresh_memory(pid);
  EXPECT_EQ(cls(j3, "live_bytes"), 0u);
  EXPECT_EQ(cls(j3, "bins_bytes"), 0u);
  EXPECT_LE(cls(j3, "free_bytes") + cls(j3, "purged_bytes"), 20 * kSmall);
  EXPECT_EQ(h.quit(), 0);
}

TEST_F(ProfileMemory, MediumAndHugeBlocksAreCountedBySize) {
  Helper h(profiled_env());
  const pid_t pid = h.pid();
  json j0 = fresh_memory(pid);

  h.command("alloc 8 " + std::to_string(kMediumRequest));
  json j1 = fresh_memory(pid);
  // Live: the 8 blocks, whatever the medium cache's refills brought beside them.
  EXPECT_EQ(diff(j1, j0, "medium_live"), static_cast<std::int64_t>(8 * kMediumClass));
  EXPECT_EQ(where(j1, "medium_cached") % kMediumClass, 0u);
  h.command("free");
  json j2 = fresh_memory(pid);
  EXPECT_EQ(diff(j2, j0, "medium_live"), 0);
  // Freed into this thread's medium cache (about 1 MiB a class; half goes back when full).
  EXPECT_GE(where(j2, "medium_cached"), 4 * kMediumClass);
  h.command("flush");
  json j3 = fresh_memory(pid);
  EXPECT_EQ(where(j3, "medium_cached"), 0u);
  EXPECT_EQ(diff(j3, j0, "medium_live"), 0);
  // Their pages are free span pages now, still resident (the purge waits a delay).
  EXPECT_GE(where(j3, "span_free_resident"), 8 * kMediumClass);

  h.command("alloc 3 " + std::to_string(kHugeRequest));
  json j4 = fresh_memory(pid);
  EXPECT_EQ(diff(j4, j0, "huge_live"), static_cast<std::int64_t>(3 * kHugeMapping));
  EXPECT_EQ(diff(j4, j0, "huge_cached"), 0);
  h.command("free");
  json j5 = fresh_memory(pid);
  EXPECT_EQ(diff(j5, j0, "huge_live"), 0);
  EXPECT_EQ(diff(j5, j0, "huge_cached"), static_cast<std::int64_t>(3 * kHugeMapping));
  EXPECT_EQ(h.quit(), 0);
}

TEST_F(ProfileMemory, SumIsCloseToRssAnon) {
  Helper h(profiled_env());
  const pid_t pid = h.pid();
  // 64 MiB of small objects and 16 MiB of medium ones, every byte written; half of the
  // objects of each freed and flushed back (to their slabs, to the span allocator).
  h.command("alloc 60000 1088");
  h.command("alloc 160 " + std::to_string(kMediumRequest));
  h.command("touch");
  h.command("freeodd");
  h.command("flush");
  json j = fresh_memory(pid);
  ASSERT_TRUE(j["memory"]["rss"].is_object()) << j["memory"].dump();
  const std::uint64_t sum = j["memory"]["resident_sum"].get<std::uint64_t>();
  const std::uint64_t anon = j["memory"]["rss"]["rss_anon"].get<std::uint64_t>();
  EXPECT_GE(sum, 60000 * 1088 + 80 * kMediumClass);  // at least what is live or was touched
  // The rest of RssAnon is the helper's own (its static tables, stacks, the C library) and
  // a few pages of hakmem's ownership registry: a few MiB at most. An estimate counting
  // pages twice, or missing a kind of memory, is off by far more.
  const std::uint64_t slack = 4u << 20;
  EXPECT_LE(sum, anon + slack) << "sum " << sum << " RssAnon " << anon;
  EXPECT_LE(anon, sum + slack) << "sum " << sum << " RssAnon " << anon;
  EXPECT_EQ(j["memory"]["rss"]["unexplained"].get<std::int64_t>(),
            static_cast<std::int64_t>(anon) - static_cast<std::int64_t>(sum));

  // The table shows the same section, its sum and the unexplained rest.
  Result r = stat({"show", std::to_string(pid)});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("Where the memory is"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("unexplained (RssAnon - sum)"), std::string::npos) << r.out;
  // Prometheus: every row of the breakdown.
  r = stat({"export", std::to_string(pid), "--prometheus"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("hakmem_memory_bytes{where=\"small_live\",resident=\"yes\"}"), std::string::npos);
  EXPECT_NE(r.out.find("hakmem_process_rss_bytes{kind=\"rss_anon\"}"), std::string::npos);
  EXPECT_EQ(h.quit(), 0);
}

TEST_F(ProfileMemory, VersionTwoRecordIsReadWithoutBreakdown) {
  Helper h(profiled_env());
  const pid_t pid = h.pid();
  h.command("alloc 10 64");
  EXPECT_EQ(h.quit(), 0);
  std::string path = dir_ + "/hakmem-" + std::to_string(pid);
  std::string v2 = dir_ + "/v2-record";
  {
    std::ifstream in(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_EQ(bytes.size(), sizeof(hakmem_profile_record));
    bytes.resize(HAKMEM_PROFILE_V2_RECORD_SIZE);  // what a version 2 process wrote
    std::uint32_t v = 2;
    std::uint64_t size = HAKMEM_PROFILE_V2_RECORD_SIZE;
    std::memcpy(&bytes[offsetof(hakmem_profile_header, version)], &v, sizeof(v));
    std::memcpy(&bytes[offsetof(hakmem_profile_header, record_size)], &size, sizeof(size));
    std::ofstream(v2, std::ios::binary) << bytes;
  }
  Result r = stat({"export", v2, "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["record_version"], 2);
  EXPECT_TRUE(j["memory"].is_null());
  EXPECT_GE(counter(j, "malloc_calls"), 10u);
  r = stat({"show", v2});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("not in a version 2 record"), std::string::npos) << r.out;
  // Version 1 is still refused.
  {
    std::ifstream in(v2, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::uint32_t v = 1;
    std::memcpy(&bytes[offsetof(hakmem_profile_header, version)], &v, sizeof(v));
    std::ofstream(v2, std::ios::binary | std::ios::trunc) << bytes;
  }
  r = stat({"show", v2});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("older than this hakmem-stat reads"), std::string::npos) << r.err;
}

}  // namespace
