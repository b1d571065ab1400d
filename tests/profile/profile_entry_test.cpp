// operator new and delete counted apart from malloc and free, each form, with the bytes
// requested and served, read live from a real program under LD_PRELOAD=libhakmem.so
// HAKMEM_PROFILE=1 in all three formats (profile_fixture.hpp runs it).
#include <gtest/gtest.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "profile_fixture.hpp"

namespace {

using namespace proftest;

TEST_F(ProfileLive, NewAndDeleteCountedApartFromMallocAndFree) {
  Helper h(profiled_env());
  const pid_t pid = h.pid();
  h.command("alloc 100 48");  // the thread has a heap: the counts below are the inline paths'
  h.command("free");
  json j2 = fresh_json(pid);

  // operator new / delete, counted apart from malloc / free, exactly (the program makes no
  // other allocation): the four plain forms of new, then their deletes.
  h.command("new 1000 100");
  json n1 = fresh_json(pid);
  EXPECT_EQ(delta(n1, j2, "new_calls"), 1000u);
  EXPECT_EQ(delta(n1, j2, "malloc_calls"), 0u) << "new is not counted as malloc";
  EXPECT_EQ(delta(n1, j2, "cache_allocs"), 1000u);
  // Small plain new is an inline fast path, like malloc: no bytes counted there.
  EXPECT_EQ(delta(n1, j2, "bytes_requested"), 0u);
  EXPECT_EQ(delta(n1, j2, "bytes_served"), 0u);
  h.command("delete");
  json n2 = fresh_json(pid);
  EXPECT_EQ(delta(n2, n1, "delete_calls"), 1000u);
  EXPECT_EQ(delta(n2, n1, "free_calls"), 0u) << "delete is not counted as free";
  EXPECT_EQ(delta(n2, n1, "cache_frees"), 1000u);
  EXPECT_EQ(delta(n2, n1, "new_calls"), 0u);
  // Aligned new: new and delete, not an aligned call; 100 bytes at 64 come from 128 B.
  h.command("newaligned 100 64 100");
  json n3 = fresh_json(pid);
  EXPECT_EQ(delta(n3, n2, "new_calls"), 100u);
  EXPECT_EQ(delta(n3, n2, "delete_calls"), 100u);
  EXPECT_EQ(delta(n3, n2, "aligned_calls"), 0u);
  EXPECT_EQ(delta(n3, n2, "malloc_calls") + delta(n3, n2, "free_calls"), 0u);
  EXPECT_EQ(delta(n3, n2, "bytes_requested"), 100u * 100);
  EXPECT_EQ(delta(n3, n2, "bytes_served"), 100u * 128);
  // new beyond the slab classes: medium blocks (the 104 KiB class, 26 pages) from the
  // thread's medium cache, which takes the span lock only to refill.
  h.command("newlarge 10 100000");
  json n4 = fresh_json(pid);
  EXPECT_EQ(delta(n4, n3, "new_calls"), 10u);
  EXPECT_EQ(delta(n4, n3, "delete_calls"), 10u);
  EXPECT_EQ(delta(n4, n3, "malloc_calls") + delta(n4, n3, "free_calls"), 0u);
  EXPECT_EQ(delta(n4, n3, "cache_allocs"), 0u);
  EXPECT_EQ(delta(n4, n3, "bytes_requested"), 10u * 100000);
  EXPECT_EQ(delta(n4, n3, "bytes_served"), 10u * 106496) << "26 pages each";
  std::uint64_t span_locks =
      lock_field(n4, "span", "acquisitions") - lock_field(n3, "span", "acquisitions");
  EXPECT_GE(span_locks, 1u) << "the first allocation refills the medium cache";
  EXPECT_LE(span_locks, 4u) << "a medium malloc and free take no lock while the cache has room";
  {
    Result np = stat({"export", std::to_string(pid), "--prometheus"});
    ASSERT_EQ(np.status, 0) << np.err;
    auto nm = parse_prometheus(np.out);
    EXPECT_EQ(nm["hakmem_new_calls_total"], static_cast<double>(counter(n4, "new_calls")));
    EXPECT_EQ(nm["hakmem_delete_calls_total"], static_cast<double>(counter(n4, "delete_calls")));
    EXPECT_EQ(nm["hakmem_bytes_requested_total"],
              static_cast<double>(counter(n4, "bytes_requested")));
    EXPECT_EQ(nm["hakmem_bytes_served_total"], static_cast<double>(counter(n4, "bytes_served")));
    Result ns = stat({"show", std::to_string(pid)});
    ASSERT_EQ(ns.status, 0) << ns.err;
    std::istringstream rows(ns.out);
    std::string row;
    bool new_row = false, delete_row = false;
    while (std::getline(rows, row)) {
      if (row.rfind("  new ", 0) == 0) {
        new_row = true;
        EXPECT_NE(row.find(grouped(counter(n4, "new_calls"))), std::string::npos) << row;
      }
      if (row.rfind("  delete ", 0) == 0) {
        delete_row = true;
        EXPECT_NE(row.find(grouped(counter(n4, "delete_calls"))), std::string::npos) << row;
      }
    }
    EXPECT_TRUE(new_row && delete_row) << ns.out;
  }
  EXPECT_EQ(h.quit(), 0);
}

}  // namespace
