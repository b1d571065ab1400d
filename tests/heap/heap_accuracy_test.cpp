// The heap profile's estimator at the default rate (issue 16's accuracy target), through
// libhakmem.a so that the sanitizer trees run it too. Environment (CMakeLists.txt):
// HAKMEM_HEAP_PROFILE=1 at the default block size R = 512 KiB, HAKMEM_HEAP_SEED fixed, so
// every run draws the same sample points and the checks below are deterministic.
//
// Sampling is stratified (allocator/heap_sample.cpp): one sample point per block of R bytes
// of each size class's allocation stream, uniform within the block, each point standing for
// R bytes. What follows from that, and what these tests check over 96 independent sample
// streams (each thread draws its own):
// - A site whose bytes come in one run of m*R bytes, starting anywhere in a block, holds
//   m-1, m or m+1 points: every estimate of an 8 MiB site is within one point (6.25%), and
//   the mean is the truth. A Poisson sampler (tcmalloc's, jemalloc's) has a 25% standard
//   deviation here, so about 70% of its estimates are off by more than 10%.
// - Two sites alternating in runs of R/2 bytes (a pattern that repeats every R bytes, the
//   worst case for a sampler with a fixed interval, which would give one site all the
//   points) each get a binomial count: unbiased, 25% standard deviation for 4 MiB each,
//   below a Poisson sampler's 35%.
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "hakmem/hakmem.h"
#include "heap_record_view.hpp"

namespace {

constexpr std::size_t kR = 524288;                         // the default rate
constexpr std::size_t kSiteBytes = std::size_t{8} << 20;  // a site "over 4 MiB": 16 R
constexpr int kStreams = 96;                               // threads, one stream each

// The call sites, kept apart: noipa so that the compiler neither merges nor clones them
// (site_of tells A from B by the return address inside each).
volatile int g_calls[4];
#define HAKT_SITE(name, k)                               \
  HAKT_NOIPA void* name(std::size_t n) {                 \
    void* p = hak_malloc(n);                             \
    g_calls[k] = g_calls[k] + 1;                         \
    return p;                                            \
  }
HAKT_SITE(site, 0)
HAKT_SITE(site_a, 1)
HAKT_SITE(site_b, 2)
HAKT_SITE(prelude, 3)
#undef HAKT_SITE

struct Spread {
  double mean = 0, sd = 0, worst = 0;  // worst: the largest |estimate - truth|, in points
};

Spread spread(const std::vector<double>& est, double points) {
  Spread s;
  for (double e : est) {
    s.mean += e;
    s.worst = std::fmax(s.worst, std::fabs(e - 1) * points);
  }
  s.mean /= static_cast<double>(est.size());
  for (double e : est) s.sd += (e - s.mean) * (e - s.mean);
  s.sd = std::sqrt(s.sd / static_cast<double>(est.size() - 1));
  return s;
}

bool check_default_rate(const hakt::Record& rec) {
  hak_free(hak_malloc(16));  // start-up
  EXPECT_NE(rec.r, nullptr) << hakt::heap_path();
  if (!rec.r) return false;
  EXPECT_EQ(rec.r->header.sample_bytes, kR) << "the test is of the default rate";
  return rec.r->header.sample_bytes == kR;
}

// Each of kStreams threads in turn first holds a random number of bytes in `size` objects
// from another site (so that the site starts at a random place in a block), then holds
// kSiteBytes in objects of `size` bytes and reads what the record's total grew by; then it
// frees it all (its exit flushes its bins, which forgets their samples).
std::vector<double> run_estimates(std::size_t size) {
  hakt::Record rec;
  std::vector<double> est;
  std::mt19937_64 rng(17);
  for (int t = 0; t < kStreams; ++t) {
    std::size_t before = rng() % (2 * kR / size + 1);
    double e = 0;
    std::thread([&] {
      std::vector<void*> v, pre;
      v.reserve(kSiteBytes / size);  // beyond the slab classes: not in the site's stream
      pre.reserve(2 * kR / size + 1);
      for (std::size_t i = 0; i < before; ++i) pre.push_back(prelude(size));
      std::uint64_t live0 = rec.get(rec.r->header.live_bytes);
      for (std::size_t held = 0; held < kSiteBytes; held += size) v.push_back(site(size));
      std::uint64_t live1 = rec.get(rec.r->header.live_bytes);
      e = (static_cast<double>(live1) - static_cast<double>(live0)) / static_cast<double>(kSiteBytes);
      for (void* p : v) hak_free(p);
      for (void* p : pre) hak_free(p);
    }).join();
    est.push_back(e);
  }
  return est;
}

void check_run(std::size_t size) {
  hakt::Record rec;
  if (!check_default_rate(rec)) return;
  constexpr double kPoints = static_cast<double>(kSiteBytes) / kR;  // 16
  Spread s = spread(run_estimates(size), kPoints);
  std::printf("a run of %zu MiB in %zu B objects, %d streams: mean estimate %.4f of the truth, "
              "sd %.4f, worst %.2f points (%.1f%%)\n",
              kSiteBytes >> 20, size, kStreams, s.mean, s.sd, s.worst, 100 * s.worst / kPoints);
  // Every estimate within one point (6.25%), hence within the 10%.
  EXPECT_LE(s.worst, 1.0 + 1e-9);
  // Unbiased: a count of m-1, m or m+1 has a variance of at most 1/2 point^2.
  EXPECT_LT(std::fabs(s.mean - 1), 4 * std::sqrt(0.5) / kPoints / std::sqrt(double{kStreams}));
}

// Small objects in a slab class: sampled on the refill path (the bin bounds).
TEST(HeapAccuracy, RunOfSmallObjectsIsWithinOnePointAtTheDefaultRate) { check_run(1024); }

// Blocks beyond the slab classes, R/2 each.
TEST(HeapAccuracy, RunOfLargeBlocksIsWithinOnePointAtTheDefaultRate) { check_run(kR / 2); }

// Which of site_a and site_b a return address is in: the nearer function start below it.
int site_of(std::uint64_t ret) {
  auto a = reinterpret_cast<std::uintptr_t>(&site_a), b = reinterpret_cast<std::uintptr_t>(&site_b);
  bool in_a = ret > a && (ret < b || b < a);
  bool in_b = ret > b && (ret < a || a < b);
  if (in_a && in_b) return a > b ? 0 : 1;
  return in_a ? 0 : in_b ? 1 : -1;
}

// Live bytes of the stacks whose innermost frame is in site_a.
std::uint64_t live_of_a(const hakt::Record& rec) {
  std::uint64_t sum = 0;
  const hakmem_heap_record* r = rec.r;
  for (std::uint32_t i = 1; i < r->header.max_stacks; ++i) {
    const hakmem_heap_stack& st = r->stacks[i];
    if (std::atomic_ref<const std::uint32_t>(st.state).load(std::memory_order_acquire) != 2) continue;
    if (st.depth > 0 && site_of(st.frames[0]) == 0) sum += rec.get(st.live_bytes);
  }
  return sum;
}

// Sites A and B alternate in runs of R/2 bytes of 1 KiB objects, 8 runs of each per R*8.
TEST(HeapAccuracy, PatternRepeatingEveryBlockDoesNotAliasWithTheSampler) {
  hakt::Record rec;
  if (!check_default_rate(rec)) return;
  constexpr std::size_t kSize = 1024, kRun = kR / 2 / kSize, kRuns = kSiteBytes / (kR / 2);
  constexpr double kPointsA = static_cast<double>(kSiteBytes / 2) / kR;  // 8
  std::vector<double> est;
  std::mt19937_64 rng(23);
  for (int t = 0; t < kStreams; ++t) {
    std::size_t before = rng() % (kR / kSize);
    double e = 0;
    std::thread([&] {
      std::vector<void*> v, pre;
      v.reserve(kRun * kRuns);
      pre.reserve(kR / kSize);
      for (std::size_t i = 0; i < before; ++i) pre.push_back(prelude(kSize));
      std::uint64_t a0 = live_of_a(rec);
      for (std::size_t run = 0; run < kRuns; ++run) {
        for (std::size_t i = 0; i < kRun; ++i) v.push_back(run % 2 == 0 ? site_a(kSize) : site_b(kSize));
      }
      std::uint64_t a1 = live_of_a(rec);
      e = (static_cast<double>(a1) - static_cast<double>(a0)) / static_cast<double>(kSiteBytes / 2);
      for (void* p : v) hak_free(p);
      for (void* p : pre) hak_free(p);
    }).join();
    est.push_back(e);
  }
  Spread s = spread(est, kPointsA);
  // Each block of R bytes holds R/2 of A whatever the phase: a Bernoulli(1/2) per block.
  const double binomial = std::sqrt(kRuns / 2 * 0.25) / kPointsA;  // 0.25
  const double poisson = 1 / std::sqrt(kPointsA);                   // 0.354
  std::printf("site A of two alternating every R/2, %d streams: mean estimate %.4f of the truth, "
              "sd %.4f (binomial %.4f, Poisson %.4f)\n",
              kStreams, s.mean, s.sd, binomial, poisson);
  EXPECT_LT(std::fabs(s.mean - 1), 4 * binomial / std::sqrt(double{kStreams}));
  // A fixed-interval sampler would give A all 16 points or none (sd 1.0).
  EXPECT_LT(s.sd, 1.3 * binomial);
  EXPECT_LT(s.sd, poisson);
  EXPECT_GT(s.sd, 0.75 * binomial);
}

}  // namespace
