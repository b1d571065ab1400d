// The heap profile's estimator at the default rate (issue 16's accuracy target), through
// libhakmem.a so that the sanitizer trees run it too. Environment (CMakeLists.txt):
// HAKMEM_HEAP_PROFILE=1 at the default mean interval R = 512 KiB, HAKMEM_HEAP_SEED fixed,
// so every run draws the same sample points and the checks below are deterministic.
//
// Why a distribution and not one 10% check: sampling is a Poisson process on bytes (as in
// tcmalloc and jemalloc). A site of B bytes in objects of s bytes is estimated from about
// B/R samples with a relative standard deviation of sqrt((1-p)/(p N)), p = 1 - exp(-s/R),
// N = B/s: about sqrt(R/B) for small objects, 25% for B = 8 MiB. No unbiased estimator of
// such a sample does better, so "within 10% for every site over 4 MiB" cannot hold run by
// run at this rate (PERF_NOTES.md). What must hold, and what these tests check over many
// independent sample streams (each thread draws its own), is that the estimator is
// unbiased (the mean of the estimates within 4 standard errors of the truth) and that its
// spread is the one sampling theory predicts. A biased weight (bytes not divided by the
// sampling probability, or R per sample for blocks comparable to R) or a sampler that
// skips or double-charges bytes fails the first; a countdown that is not memoryless (or
// not random) fails the second.
#include <cmath>
#include <cstdio>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "hakmem/hakmem.h"
#include "heap_record_view.hpp"

namespace {

constexpr std::size_t kSiteBytes = std::size_t{8} << 20;  // a site "over 4 MiB"
constexpr int kStreams = 96;                               // threads, one stream each

__attribute__((noinline)) void* site(std::size_t n) {
  void* p = hak_malloc(n);
  __asm__ volatile("" ::"r"(p) : "memory");
  return p;
}

struct Spread {
  double mean, sd, within_10pct;
};

// Each of kStreams threads in turn holds kSiteBytes in objects of `size` bytes, reads what
// the record estimates it holds, and frees it all again (its exit flushes its bins, which
// forgets their samples).
Spread estimate(std::size_t size) {
  hakt::Record rec;
  EXPECT_NE(rec.r, nullptr) << hakt::heap_path();
  if (!rec.r) return {0, 0, 0};
  std::vector<double> est;
  for (int t = 0; t < kStreams; ++t) {
    double e = 0;
    std::thread([&] {
      std::vector<void*> v;
      std::uint64_t live0 = rec.get(rec.r->header.live_bytes);
      for (std::size_t held = 0; held < kSiteBytes; held += size) v.push_back(site(size));
      std::uint64_t live1 = rec.get(rec.r->header.live_bytes);
      e = (static_cast<double>(live1) - static_cast<double>(live0)) / static_cast<double>(kSiteBytes);
      for (void* p : v) hak_free(p);
    }).join();
    est.push_back(e);
  }
  double sum = 0, sq = 0, close = 0;
  for (double e : est) {
    sum += e;
    close += std::fabs(e - 1) < 0.10;
  }
  double mean = sum / kStreams;
  for (double e : est) sq += (e - mean) * (e - mean);
  return {mean, std::sqrt(sq / (kStreams - 1)), close / kStreams};
}

double theory_sd(std::size_t size, double rate) {
  double p = 1 - std::exp(-static_cast<double>(size) / rate);
  double n = static_cast<double>(kSiteBytes / size);
  return std::sqrt((1 - p) / (p * n));
}

void check(std::size_t size) {
  hak_free(hak_malloc(16));  // start-up
  hakt::Record rec;
  ASSERT_NE(rec.r, nullptr);
  const double rate = static_cast<double>(rec.r->header.sample_bytes);
  ASSERT_EQ(rec.r->header.sample_bytes, 524288u) << "the test is of the default rate";
  Spread s = estimate(size);
  double sd = theory_sd(size, rate);
  std::printf("objects of %zu B, %d streams of %zu MiB: mean estimate %.4f of the truth, sd %.4f "
              "(theory %.4f), %.0f%% of streams within 10%%\n",
              size, kStreams, kSiteBytes >> 20, s.mean, s.sd, sd, 100 * s.within_10pct);
  // Unbiased: the mean of kStreams independent estimates is within 4 standard errors.
  EXPECT_LT(std::fabs(s.mean - 1), 4 * sd / std::sqrt(double{kStreams}));
  // The spread sampling theory predicts: with 95 degrees of freedom the sample sd lies
  // within [0.75, 1.3] of the true one with probability above 99.9%.
  EXPECT_GT(s.sd, 0.75 * sd);
  EXPECT_LT(s.sd, 1.3 * sd);
}

// Small objects in a slab class: sampled on the refill path (the bin bounds).
TEST(HeapAccuracy, SmallObjectsEstimateIsUnbiasedWithTheTheorysSpread) { check(1024); }

// Blocks beyond the slab classes, half of R each: the weight s / (1 - exp(-s/R)) matters
// (R per sample would under-estimate by 21%).
TEST(HeapAccuracy, LargeBlocksEstimateIsUnbiasedWithTheTheorysSpread) { check(262144); }

}  // namespace
