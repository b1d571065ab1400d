// The populate / huge-page policy of small-object SuperSlabs (issue: page-fault avoidance):
//  - the first slabs of each size class are sparse: pre-faulted page by page as refills
//    hand objects out, so a program using a few objects of many classes stays small;
//  - a class that has filled HAKMEM_DENSE_AFTER_SLABS slabs allocates in bulk: its next
//    slabs come from dense SuperSlabs, advised huge pages and populated whole before the
//    first write, so they cost one fault per 2 MiB.
// Each test runs in its own process (ctest runs one gtest case per process), so it starts
// from an allocator that has not mapped anything yet. Counts only, no timings.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "hakmem/hakmem.h"

namespace {

hakmem_stats stats() {
  hakmem_stats s{};
  EXPECT_EQ(hakmem_stats_get(&s), 0);
  return s;
}

bool page_resident(const void* p) {
  auto page = reinterpret_cast<std::uintptr_t>(p) & ~std::uintptr_t{4095};
  unsigned char vec = 0;
  EXPECT_EQ(mincore(reinterpret_cast<void*>(page), 4096, &vec), 0);
  return vec & 1;
}

std::string thp_mode() {
  std::ifstream f("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string line;
  std::getline(f, line);
  auto a = line.find('['), b = line.find(']');
  return a == std::string::npos || b == std::string::npos ? "" : line.substr(a + 1, b - a - 1);
}

// AnonHugePages (kB) of the mapping that contains p, from /proc/self/smaps.
long anon_huge_kb_at(const void* p) {
  auto addr = reinterpret_cast<std::uintptr_t>(p);
  std::ifstream f("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(f, line)) {
    unsigned long lo, hi;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2 && line.find(':') > line.find(' ')) {
      inside = addr >= lo && addr < hi;
      continue;
    }
    long kb;
    if (inside && std::sscanf(line.c_str(), "AnonHugePages: %ld kB", &kb) == 1) return kb;
  }
  return -1;
}

bool env_set(const char* name) { return std::getenv(name) != nullptr; }

// Under a sanitizer, the process's fault count also has the shadow memory's faults (TSan
// maps several shadow pages per page the allocator writes): fault bounds do not apply.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kShadowMemory = true;
#else
constexpr bool kShadowMemory = false;
#endif

}  // namespace

TEST(PopulatePolicy, FewObjectsOfManyClassesCostAPageOrTwoEach) {
  if (env_set("HAKMEM_POPULATE") || env_set("HAKMEM_DENSE_AFTER_SLABS")) GTEST_SKIP() << "policy overridden";
  hakmem_stats before = stats();
  // One object of each of 24 classes from 16 B to 4 KiB: 24 slabs, 24 units of 64 KiB.
  std::vector<void*> objs;
  std::vector<std::size_t> sizes;
  for (std::size_t size = 16; size <= 4096; size = size < 128 ? size + 16 : size * 5 / 4) {
    void* p = hak_malloc(size);
    ASSERT_NE(p, nullptr);
    std::memset(p, 0xab, size);
    objs.push_back(p);
    sizes.push_back(size);
  }
  ASSERT_GE(objs.size(), 20u);
  hakmem_stats after = stats();
  // A refill hands out at most a bin's worth of objects (<= 16 KiB of a class) and only
  // those pages are populated: far below the 64 KiB-per-class of populating whole slabs.
  std::uint64_t populated = after.bytes_populated - before.bytes_populated;
  EXPECT_LE(populated, objs.size() * 20 * 1024) << "populated " << populated << " bytes";
  EXPECT_EQ(after.hugepages_thp, before.hugepages_thp) << "no class allocated in bulk";
  // 32 KiB past each object of <= 512 B (same 64 KiB unit; a refill hands out at most 64
  // such objects, 32 KiB) is untouched.
  unsigned resident_far = 0;
  for (std::size_t i = 0; i < objs.size(); ++i) {
    void* p = objs[i];
    if (sizes[i] > 512) continue;
    auto unit_end = (reinterpret_cast<std::uintptr_t>(p) | 0xffff) + 1;
    auto far = reinterpret_cast<const char*>(p) + 32 * 1024;
    if (reinterpret_cast<std::uintptr_t>(far) < unit_end && page_resident(far)) ++resident_far;
  }
  EXPECT_EQ(resident_far, 0u);
  for (void* p : objs) hak_free(p);
}

// `bytes` of 64-byte objects, each written; empty if an allocation failed.
static std::vector<void*> fill_64_bytes(std::size_t bytes) {
  std::vector<void*> objs(bytes / 64);
  for (std::size_t i = 0; i < objs.size(); ++i) {
    objs[i] = hak_malloc(64);
    if (!objs[i]) return {};
    std::memset(objs[i], static_cast<int>(i), 64);
  }
  return objs;
}

// Default policy: a class that has filled DENSE_AFTER_SLABS slabs gets its next slabs
// populated whole when carved (one madvise per slab); a small heap never gets huge pages
// (HUGEPAGES=auto probes them only past 32 MiB mapped, page_cost.hpp).
TEST(PopulatePolicy, BulkClassSlabsArePopulatedWhole) {
  if (env_set("HAKMEM_POPULATE") || env_set("HAKMEM_HUGEPAGES") ||
      env_set("HAKMEM_DENSE_AFTER_SLABS")) {
    GTEST_SKIP() << "policy overridden";
  }
  hakmem_stats before = stats();
  // 16 MiB of 64-byte objects: four slabs populated page by page, then whole slabs.
  std::vector<void*> objs = fill_64_bytes(16u << 20);
  ASSERT_FALSE(objs.empty());
  const std::size_t n = objs.size();
  hakmem_stats after = stats();
  EXPECT_GE(after.bytes_populated - before.bytes_populated, 15u << 20);
  // Whole slabs: the slab of the last object is resident beyond what was handed out.
  auto unit_end = (reinterpret_cast<std::uintptr_t>(objs[n - 1]) | 0xffff) + 1;
  EXPECT_TRUE(page_resident(reinterpret_cast<const char*>(unit_end - 4096)))
      << "the end of the last slab is not populated";
  // Populated in bulk: at most a few madvise calls per 64 KiB slab, not one per page.
  EXPECT_LE(after.madvise_calls - before.madvise_calls, 16u * 4 + 300u);
  for (void* p : objs) hak_free(p);
}

// HUGEPAGES=thp: every fresh SuperSlab is advised huge pages and populated whole, so a
// 4 KiB-paged heap's 4,096 faults become about one per 2 MiB.
TEST(PopulatePolicy, ForcedThpGivesWholePopulatedHugePages) {
  if (env_set("HAKMEM_POPULATE") || env_set("HAKMEM_HUGEPAGES") ||
      env_set("HAKMEM_DENSE_AFTER_SLABS")) {
    GTEST_SKIP() << "policy overridden";
  }
  std::string mode = thp_mode();
  if (mode != "madvise" && mode != "always") GTEST_SKIP() << "THP is '" << mode << "'";
  ASSERT_EQ(hak_option_set("HUGEPAGES", 1), 0);  // thp
  hakmem_stats before = stats();
  std::vector<void*> objs = fill_64_bytes(16u << 20);
  ASSERT_FALSE(objs.empty());
  const std::size_t n = objs.size();
  hakmem_stats after = stats();
  EXPECT_GE(after.hugepages_thp - before.hugepages_thp, 7u);
  EXPECT_GT(anon_huge_kb_at(objs[n - 1]), 0) << "the last object is not on a huge page";
  std::uint64_t faults = after.page_faults_slow_path - before.page_faults_slow_path;
  if (!kShadowMemory) {
    EXPECT_LE(faults, 200u) << "faults observed in slow paths";
  }
  for (void* p : objs) hak_free(p);
  ASSERT_EQ(hak_option_set("HUGEPAGES", 0), 0);  // auto
}

// HUGEPAGES=auto: once the heap passes 32 MiB mapped, a fresh bulk SuperSlab is advised huge
// pages at least once (the probe that measures what they cost here).
TEST(PopulatePolicy, AutoProbesHugePagesOnceTheHeapIsLarge) {
  if (env_set("HAKMEM_POPULATE") || env_set("HAKMEM_HUGEPAGES") ||
      env_set("HAKMEM_DENSE_AFTER_SLABS")) {
    GTEST_SKIP() << "policy overridden";
  }
  std::string mode = thp_mode();
  if (mode != "madvise" && mode != "always") GTEST_SKIP() << "THP is '" << mode << "'";
  hakmem_stats before = stats();
  const std::size_t n = (80u << 20) / 256;
  std::vector<void*> objs(n);
  for (std::size_t i = 0; i < n; ++i) {
    objs[i] = hak_malloc(256);
    ASSERT_NE(objs[i], nullptr);
    static_cast<char*>(objs[i])[0] = 1;
  }
  hakmem_stats after = stats();
  EXPECT_GE(after.hugepages_thp - before.hugepages_thp, 1u) << "no huge-page probe";
  for (void* p : objs) hak_free(p);
}

TEST(PopulatePolicy, DenseFromTheStartWhenThresholdIsZero) {
  if (env_set("HAKMEM_POPULATE") || env_set("HAKMEM_HUGEPAGES")) GTEST_SKIP() << "policy overridden";
  ASSERT_EQ(hak_option_set("DENSE_AFTER_SLABS", 0), 0);
  hakmem_stats before = stats();
  void* p = hak_malloc(48);
  ASSERT_NE(p, nullptr);
  hakmem_stats after = stats();
  // The class's first slab is populated whole at once (64 KiB); a one-object heap is far
  // from the size where huge pages are even tried.
  EXPECT_EQ(after.hugepages_thp - before.hugepages_thp, 0u);
  EXPECT_GE(after.bytes_populated - before.bytes_populated, 56u << 10);
  hak_free(p);
  ASSERT_EQ(hak_option_set("DENSE_AFTER_SLABS", 4), 0);
}
