// The program the page-fault tests run under LD_PRELOAD=libhakmem.so (or under plain glibc,
// for comparison). It links nothing of hakmem: whether hakmem is the allocator is decided by
// the environment, and its counters are reached with dlsym, so the same binary measures
// both. Each mode does one thing and prints `key=value` lines on stdout for the test to
// check; nothing here asserts, the test does.
//
//   pf_probe fill MIB       allocate MIB MiB of small objects (16..1024 B), write them all,
//                           report huge-page use (AnonHugePages, hugetlb) before and after,
//                           then free them all and malloc_trim(0)
//   pf_probe vma ROUNDS     allocate and free a mixed heap ROUNDS times, trimming each
//                           round; report the number of mappings
#include <dlfcn.h>
#include <malloc.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "hakmem/hakmem.h"

#include "common/test_support.hpp"

namespace {

// A field of a /proc file ("AnonHugePages" in /proc/self/smaps_rollup is in kB,
// "HugePages_Free" in /proc/meminfo counts pages), or -1 when the file lacks it.
using hakt::proc_field;

long count_maps() {
  std::ifstream f("/proc/self/maps");
  std::string line;
  long n = 0;
  while (std::getline(f, line)) ++n;
  return n;
}

// hakmem's counters when it is the allocator (found in the process by name), else nullptr.
using StatsFn = int (*)(hakmem_stats*);
StatsFn stats_fn() { return reinterpret_cast<StatsFn>(dlsym(RTLD_DEFAULT, "hakmem_stats_get")); }

void print_stats(const char* prefix) {
  StatsFn fn = stats_fn();
  std::printf("hakmem=%d\n", fn != nullptr);
  if (!fn) return;
  hakmem_stats s{};
  fn(&s);
  std::printf("%shugepages_thp=%llu\n", prefix, static_cast<unsigned long long>(s.hugepages_thp));
  std::printf("%shugepages_hugetlb=%llu\n", prefix,
              static_cast<unsigned long long>(s.hugepages_hugetlb));
  std::printf("%ssuperslabs_mapped=%llu\n", prefix,
              static_cast<unsigned long long>(s.superslabs_mapped));
  std::printf("%sbytes_populated=%llu\n", prefix, static_cast<unsigned long long>(s.bytes_populated));
  std::printf("%sbytes_purged=%llu\n", prefix, static_cast<unsigned long long>(s.bytes_purged));
  std::printf("%slarge_allocs=%llu\n", prefix, static_cast<unsigned long long>(s.large_allocs));
}

void print_huge(const char* prefix) {
  std::printf("%sanon_huge_kib=%ld\n", prefix,
              proc_field("/proc/self/smaps_rollup", "AnonHugePages"));
  std::printf("%shugetlb_kib=%ld\n", prefix,
              proc_field("/proc/self/smaps_rollup", "Private_Hugetlb") +
                  proc_field("/proc/self/smaps_rollup", "Shared_Hugetlb"));
  std::printf("%shugepages_free=%ld\n", prefix, proc_field("/proc/meminfo", "HugePages_Free"));
  std::printf("%srss_kib=%ld\n", prefix, proc_field("/proc/self/status", "VmRSS"));
}

struct Rng {
  std::uint64_t s = 0x2545F4914F6CDD1Dull;
  std::uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
};

// Small objects only: they come from SuperSlabs, which is where huge pages are applied. They
// are chained through their first word rather than kept in a vector, whose buffer would be
// a huge block with huge pages of its own.
int fill(long mib) {
  print_huge("before_");
  void* head = nullptr;
  std::size_t objects = 0, total = 0, target = static_cast<std::size_t>(mib) << 20;
  Rng r;
  while (total < target) {
    std::size_t n = 16 + r.next() % 1009;
    auto* p = static_cast<unsigned char*>(std::malloc(n));
    if (!p) return 2;
    std::memset(p, static_cast<int>(n & 0xff), n);
    std::memcpy(p, &head, sizeof head);
    head = p;
    ++objects;
    total += n;
  }
  std::uint64_t sum = 0;
  for (void* p = head; p;) {
    sum += static_cast<unsigned char*>(p)[sizeof(void*)];
    std::memcpy(&p, p, sizeof p);
  }
  std::printf("objects=%zu checksum=%llu\n", objects, static_cast<unsigned long long>(sum));
  print_huge("after_");
  print_stats("after_");
  while (head) {
    void* next;
    std::memcpy(&next, head, sizeof next);
    std::free(head);
    head = next;
  }
  std::printf("trim=%d\n", malloc_trim(0));
  print_huge("trimmed_");
  print_stats("trimmed_");
  return 0;
}

// Sizes across every path: small slabs, page spans (32 KiB..1 MiB) and own mappings (>1 MiB).
std::size_t mixed_size(Rng& r) {
  std::uint64_t b = r.next() % 1000;
  if (b < 5) return (1u << 20) + r.next() % (3u << 20);
  if (b < 60) return (32u << 10) + r.next() % (992u << 10);
  return 16 + r.next() % 4000;
}

int vma(long rounds) {
  long start = count_maps(), max = start;
  Rng r;
  std::vector<void*> live;
  for (long round = 0; round < rounds; ++round) {
    for (int i = 0; i < 4000; ++i) {
      std::size_t n = mixed_size(r);
      auto* p = static_cast<unsigned char*>(std::malloc(n));
      if (!p) return 2;
      // Touch the first and last byte so every page range the allocator hands out is used.
      p[0] = 1;
      p[n - 1] = 1;
      live.push_back(p);
    }
    // Free ~90% at random: leaves holes everywhere, so purging has partial slabs, partly
    // used spans and empty SuperSlabs to work on.
    std::size_t kept = 0;
    for (void* p : live) {
      if (r.next() % 10 == 0) live[kept++] = p;
      else std::free(p);
    }
    live.resize(kept);
    malloc_trim(0);
    long m = count_maps();
    if (m > max) max = m;
  }
  for (void* p : live) std::free(p);
  malloc_trim(0);
  std::printf("maps_start=%ld\nmaps_max=%ld\nmaps_end=%ld\n", start, max, count_maps());
  print_stats("");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "fill") == 0) return fill(std::atol(argv[2]));
  if (argc == 3 && std::strcmp(argv[1], "vma") == 0) return vma(std::atol(argv[2]));
  std::fprintf(stderr, "usage: %s fill MIB | vma ROUNDS\n", argv[0]);
  return 64;
}
