// malloc_usable_size of a freed block (issue 14): reported like an invalid free ("hakmem:
// malloc_usable_size of a freed block ..." on stderr, counted in invalid_frees) and
// answered 0, whether the block sits in this thread's bin, on its slab's free list after a
// flush, or was freed by another thread; HAKMEM_ON_ERROR=abort stops the program there.
// A live block is never reported, and freed spans and huge blocks answer 0.
#include <gtest/gtest.h>
#include <signal.h>

#include <string>
#include <thread>
#include <vector>

#include "common/api.hpp"
#include "common/test_support.hpp"

namespace {

using hakt::KiB;
using hakt::MiB;

constexpr const char* kMessage = "malloc_usable_size of a freed block";

struct Answer {
  std::size_t size;
  std::string err;
  std::uint64_t invalid;
};

Answer usable_captured(void* p) {
  hakmem_stats before = api::stats();
  testing::internal::CaptureStderr();
  std::size_t n = api::usable_size(p);
  Answer a{n, testing::internal::GetCapturedStderr(), 0};
  a.invalid = api::stats().invalid_frees - before.invalid_frees;
  return a;
}

void expect_reported(void* p, const char* where) {
  Answer a = usable_captured(p);
  EXPECT_EQ(a.size, 0u) << where << ": a freed block answered as if live";
  EXPECT_NE(a.err.find(kMessage), std::string::npos) << where << ": stderr was: " << a.err;
  EXPECT_EQ(a.invalid, 1u) << where << ": not counted once";
}

TEST(UsableSizeFreed, InThisThreadsBin) {
  for (std::size_t size : {1ul, 16ul, 24ul, 100ul, 1000ul, 4096ul, 20000ul, 32768ul}) {
    void* p = api::malloc(size);
    ASSERT_NE(p, nullptr);
    api::free(p);
    expect_reported(p, ("bin, size " + std::to_string(size)).c_str());
  }
}

// After the flush the block is on its slab's free list (tag in word[1], link in word[0]).
TEST(UsableSizeFreed, OnTheSlabFreeList) {
  for (std::size_t size : {32ul, 512ul}) {
    std::vector<void*> v;
    for (int i = 0; i < 600; ++i) v.push_back(api::malloc(size));
    // Its neighbours stay live, so p's slab is not emptied and handed back by the flush.
    void* p = v[300];
    for (int i = 0; i < 600; ++i)
      if (i < 298 || i > 302 || i == 300) api::free(v[i]);
    hak_thread_flush();
    expect_reported(p, ("slab list, size " + std::to_string(size)).c_str());
    for (int i = 298; i <= 302; ++i)
      if (i != 300) api::free(v[i]);
  }
}

TEST(UsableSizeFreed, FreedByAnotherThread) {
  void* keep = api::malloc(256);
  void* p = api::malloc(256);
  std::thread([&] { api::free(p); }).join();
  expect_reported(p, "freed by another thread");
  api::free(keep);
}

TEST(UsableSizeFreed, LiveBlocksAreNeverReported) {
  api::NoBadFrees no_bad_frees;
  testing::internal::CaptureStderr();
  for (std::size_t size = 1; size <= 4096; size += 7) {
    void* p = api::malloc(size);
    ASSERT_NE(p, nullptr);
    EXPECT_GE(api::usable_size(p), size);  // also a fresh block the program never wrote
    api::free(p);
    void* q = api::calloc(1, size);  // likely the same block again: its tag was cleared
    EXPECT_GE(api::usable_size(q), size);
    api::free(q);
  }
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

TEST(UsableSizeFreed, SpansAndHugeBlocksAnswerZero) {
  for (std::size_t size : {40 * KiB, 300 * KiB, 1 * MiB + 1, 6 * MiB}) {
    void* p = api::malloc(size);
    ASSERT_NE(p, nullptr);
    api::free(p);
    api::malloc_trim(0);  // drop the huge-block cache so the mapping is really gone
    EXPECT_EQ(api::usable_size(p), 0u) << size;
  }
}

TEST(UsableSizeFreed, AbortsWithOnErrorAbort) {
  if (hakt::kSanitized) GTEST_SKIP() << "abort in a forked child under a sanitizer";
  hakt::ChildResult r = hakt::run_in_child([] {
    if (hak_option_set("ON_ERROR", 1) != 0) return 10;  // 1 = abort (values column)
    void* p = api::malloc(64);
    api::free(p);
    std::size_t n = api::usable_size(p);
    return n == 0 ? 11 : 12;  // must not get here
  });
  EXPECT_FALSE(r.exited) << r.describe();
  EXPECT_EQ(r.signal, SIGABRT) << r.describe();
  EXPECT_NE(r.err.find(kMessage), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("aborting"), std::string::npos) << r.err;
}

}  // namespace
