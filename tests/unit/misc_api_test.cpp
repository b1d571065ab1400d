// The rest of the C API: hak_owns, hak_thread_flush, malloc_trim, the block API, the
// option API and the statistics.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstdint>
#include <thread>
#include <vector>

#include "common/api.hpp"
#include "common/test_support.hpp"

namespace {

using hakt::KiB;
using hakt::MiB;

TEST(Owns, OwnBlocksOnly) {
  std::vector<void*> mine;
  for (std::size_t s : {1ul, 100ul, 4096ul, 32768ul, 100 * KiB, 3 * MiB}) mine.push_back(api::malloc(s));
  for (void* p : mine) EXPECT_TRUE(api::owns(p)) << p;
  int local = 0;
  EXPECT_FALSE(api::owns(&local));
  EXPECT_FALSE(api::owns(nullptr));
  EXPECT_FALSE(api::owns(reinterpret_cast<void*>(UINTPTR_MAX)));
  EXPECT_FALSE(api::owns(reinterpret_cast<void*>(std::uintptr_t{1} << 47)));
  static int global;
  EXPECT_FALSE(api::owns(&global));
  void* m = mmap(nullptr, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  EXPECT_FALSE(api::owns(m));
  munmap(m, 4096);
  for (void* p : mine) api::free(p);
}

TEST(Trim, FlushesAndKeepsWorking) {
  std::vector<void*> v;
  for (int i = 0; i < 20000; ++i) v.push_back(api::malloc(64 + i % 2000));
  for (void* p : v) api::free(p);
  int rc = api::malloc_trim(0);
  EXPECT_TRUE(rc == 0 || rc == 1);
  hak_thread_flush();
  hak_thread_flush();  // idempotent
  for (int i = 0; i < 1000; ++i) {
    void* p = api::malloc(64);
    ASSERT_NE(p, nullptr);
    std::memset(p, 1, 64);
    api::free(p);
  }
}

// After everything is freed and trimmed, mapped memory goes down (the reserves are purged).
TEST(Trim, ReleasesLargeFreedMemory) {
  std::vector<void*> v;
  for (int i = 0; i < 64; ++i) {
    v.push_back(api::malloc(1 * MiB));
    std::memset(v.back(), 1, 1 * MiB);
  }
  long rss_full = hakt::status_kib("VmRSS");
  for (void* p : v) api::free(p);
  api::malloc_trim(0);
  long rss_trimmed = hakt::status_kib("VmRSS");
  RecordProperty("rss_full_kib", std::to_string(rss_full));
  RecordProperty("rss_trimmed_kib", std::to_string(rss_trimmed));
  EXPECT_LT(rss_trimmed, rss_full - 32 * 1024) << "malloc_trim left freed 64 MiB resident";
}

TEST(Blocks, PageAlignedWritableAndOwned) {
  std::vector<void*> v;
  for (std::size_t s : {1ul, 4096ul, 4097ul, 64 * KiB, 1 * MiB, 2 * MiB, 4 * MiB}) {
    void* b = hak_block_alloc(s);
    ASSERT_NE(b, nullptr) << s;
    EXPECT_TRUE(hakt::aligned_to(b, 4096)) << b;
    EXPECT_TRUE(api::owns(b));
    std::size_t rounded = (s + 4095) / 4096 * 4096;
    EXPECT_GE(api::usable_size(b), rounded);
    hakt::fill(b, rounded, s);
    v.push_back(b);
  }
  std::size_t i = 0;
  for (std::size_t s : {1ul, 4096ul, 4097ul, 64 * KiB, 1 * MiB, 2 * MiB, 4 * MiB}) {
    std::size_t rounded = (s + 4095) / 4096 * 4096;
    EXPECT_EQ(hakt::check(v[i], rounded, s), SIZE_MAX) << s;
    if (i % 2) hak_block_free(v[i]); else api::free(v[i]);
    ++i;
  }
  hak_block_free(nullptr);
}

TEST(Options, GetSetRoundTrip) {
  long v = -1;
  ASSERT_EQ(hak_option_get("PURGE_DELAY_MS", &v), 0);
  EXPECT_GE(v, 0);
  long old = v;
  ASSERT_EQ(hak_option_set("PURGE_DELAY_MS", old + 1234), 0);
  ASSERT_EQ(hak_option_get("PURGE_DELAY_MS", &v), 0);
  EXPECT_EQ(v, old + 1234);
  ASSERT_EQ(hak_option_set("PURGE_DELAY_MS", old), 0);
  EXPECT_EQ(hak_option_get("NO_SUCH_OPTION", &v), -1);
  EXPECT_EQ(hak_option_set("NO_SUCH_OPTION", 1), -1);
  testing::internal::CaptureStderr();
  hak_options_print();
  std::string table = testing::internal::GetCapturedStderr();
  EXPECT_NE(table.find("PURGE_DELAY_MS"), std::string::npos) << table;
}

TEST(Stats, CountersMoveAndAreConsistent) {
  hakmem_stats a = api::stats();
  EXPECT_EQ(a.version, static_cast<std::uint64_t>(HAKMEM_STATS_VERSION));
  std::vector<void*> v;
  for (int i = 0; i < 5000; ++i) v.push_back(api::malloc(48));
  void* c = api::calloc(10, 10);
  void* r = api::realloc(nullptr, 10);
  void* al = api::aligned_alloc(256, 256);
  void* big = api::malloc(3 * MiB);
  for (void* p : v) api::free(p);
  api::free(c);
  api::free(r);
  api::free(al);
  api::free(big);
  hak_thread_flush();  // publishes this thread's counters
  hakmem_stats b = api::stats();
  EXPECT_GE(b.malloc_calls - a.malloc_calls, 5000u);
  EXPECT_GE(b.free_calls - a.free_calls, 5000u);
  EXPECT_GE(b.calloc_calls - a.calloc_calls, 1u);
  EXPECT_GE(b.realloc_calls - a.realloc_calls, 1u);
  EXPECT_GE(b.aligned_calls - a.aligned_calls, 1u);
  EXPECT_GE(b.large_allocs - a.large_allocs, 1u);
  EXPECT_GE(b.refills, a.refills + 1);
  EXPECT_GE(b.superslabs_mapped, 1u);
  EXPECT_GE(b.superslabs_mapped, b.superslabs_unmapped);
  EXPECT_GT(b.bytes_mapped, 0u);
  EXPECT_GE(b.threads_created, 1u);
  EXPECT_GE(b.threads_created, b.threads_exited);
}

TEST(Stats, RemoteFreesAreBatched) {
  hakmem_stats a = api::stats();
  std::vector<void*> v;
  for (int i = 0; i < 20000; ++i) v.push_back(api::malloc(32));
  std::thread([&] {
    for (void* p : v) api::free(p);
    hak_thread_flush();
  }).join();
  hak_thread_flush();
  hakmem_stats b = api::stats();
  std::uint64_t frees = b.remote_frees - a.remote_frees;
  std::uint64_t batches = b.remote_batches - a.remote_batches;
  EXPECT_GE(frees, 10000u) << "frees of another thread's objects were not counted as remote";
  EXPECT_GT(batches, 0u);
  EXPECT_LT(batches * 4, frees) << "remote frees should be pushed in batches, not one by one";
  EXPECT_GT(b.threads_exited, a.threads_exited);
}

TEST(Stats, PrintDoesNotCrash) {
  testing::internal::CaptureStderr();
  hakmem_stats_print();
  std::string s = testing::internal::GetCapturedStderr();
  EXPECT_FALSE(s.empty());
}

}  // namespace
