// fragmentation: memory return after a mass free. Phases:
//   1. alloc   malloc small objects ([--min-size, --max-size]) until --total-mb are live
//   2. free    free --free-pct percent of them, chosen at random (survivors pin pages)
//   3. idle    sample RSS every --sample-ms for --idle-seconds; each interval also does
//              --tick-ops malloc/free pairs, so allocators that purge lazily on activity
//              (jemalloc decay without a background thread) get their chance
//   4. reuse   malloc as many objects as were freed: is the freed memory reused?
//   5. end     free everything
// Prints an RSS_SERIES line (the idle samples), then the RESULT line with the RSS after
// each phase. ops = mallocs + frees of phases 1, 2, 4, 5; seconds excludes the idle phase.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "common/bench_common.hpp"

namespace {

struct Run {
  const hakbench::SizeOptions& so;
  std::vector<void*> ptrs;
  uint64_t checksum = 0;
  uint64_t bad = 0;
  uint64_t ops = 0;

  // Size and tag of object i (generation g) derive from the seed: no per-object metadata.
  size_t size_of(size_t i, uint64_t g) const {
    const uint64_t h = hakbench::splitmix64(so.seed ^ (i * 2 + g) * 0x9e3779b97f4a7c15ULL);
    return so.min_size + h % (so.max_size - so.min_size + 1);
  }
  uint64_t tag_of(size_t i, uint64_t g) const { return hakbench::splitmix64(i * 4 + g + so.seed); }

  void alloc(size_t i, uint64_t g) {
    const size_t size = size_of(i, g);
    ptrs[i] = std::malloc(size);
    if (ptrs[i] == nullptr) std::abort();
    hakbench::touch(ptrs[i], size, tag_of(i, g), so.mode());
    ++ops;
  }
  void release(size_t i, uint64_t g) {
    checksum += hakbench::verify(ptrs[i], size_of(i, g), tag_of(i, g), bad, so.mode());
    std::free(ptrs[i]);
    ptrs[i] = nullptr;
    ++ops;
  }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"fragmentation: allocate, free most at random, watch RSS, reuse"};
  hakbench::SizeOptions so;
  so.max_size = 256;
  so.add_to(app);
  uint64_t total_mb = 2048;
  unsigned free_pct = 90;
  double idle_seconds = 3.0;
  unsigned sample_ms = 100;
  unsigned tick_ops = 100;
  app.add_option("--total-mb", total_mb, "MiB of live objects after phase 1")->capture_default_str();
  app.add_option("--free-pct", free_pct, "percent freed in phase 2")->capture_default_str();
  app.add_option("--idle-seconds", idle_seconds, "length of the RSS sampling phase")
      ->capture_default_str();
  app.add_option("--sample-ms", sample_ms, "RSS sampling interval")->capture_default_str();
  app.add_option("--tick-ops", tick_ops, "malloc/free pairs per sample while idle")
      ->capture_default_str();
  HAKBENCH_PARSE(app, argc, argv);
  if (!so.valid() || free_pct > 100 || sample_ms == 0) {
    std::fprintf(stderr, "fragmentation: bad sizes, --free-pct or --sample-ms\n");
    return 1;
  }

  const uint64_t target = total_mb << 20;
  // Bookkeeping is sized from the mean object size (+5%), allocated and zero-filled before
  // the measured phases, so its faults and growth are not counted; rss_base_kb is its RSS.
  const size_t cap = target / ((so.min_size + so.max_size) / 2) * 21 / 20 + 4096;
  Run run{so, std::vector<void*>(cap, nullptr)};
  std::vector<char> freed(cap, 0);
  const uint64_t rss_base = hakbench::rss_kb();
  hakbench::Rng rng(so.seed);
  hakbench::Phase phase;
  double busy_seconds = 0;
  uint64_t busy_faults = 0;
  auto end_phase = [&] {
    phase.stop();
    busy_seconds += phase.seconds();
    busy_faults += phase.faults();
  };

  phase.start();  // 1. alloc
  size_t n = 0;
  for (uint64_t live = 0; live < target && n < cap; ++n) {
    run.alloc(n, 0);
    live += run.size_of(n, 0);
  }
  end_phase();
  const uint64_t rss_alloc = hakbench::rss_kb();

  phase.start();  // 2. free at random
  uint64_t live_bytes = 0;
  for (size_t i = 0; i < n; ++i) {
    if (rng.below(100) < free_pct) {
      run.release(i, 0);
      freed[i] = 1;
    } else {
      live_bytes += run.size_of(i, 0);
    }
  }
  end_phase();
  const uint64_t rss_free = hakbench::rss_kb();

  std::string series;  // 3. idle sampling: a fixed number of samples, on a fixed clock
  const unsigned samples = std::max(1u, static_cast<unsigned>(idle_seconds * 1000 / sample_ms + 0.5));
  const auto t0 = hakbench::Clock::now();
  for (unsigned s = 0;; ++s) {
    if (!series.empty()) series += ',';
    series += std::to_string(hakbench::rss_kb());
    if (s == samples) break;
    for (unsigned k = 0; k < tick_ops; ++k) {
      void* p = std::malloc(so.min_size);
      hakbench::touch(p, so.min_size, k);
      run.checksum += hakbench::verify(p, so.min_size, k, run.bad);
      std::free(p);
    }
    std::this_thread::sleep_until(t0 + std::chrono::milliseconds(uint64_t{sample_ms} * (s + 1)));
  }
  const uint64_t rss_idle = hakbench::rss_kb();

  phase.start();  // 4. reuse: refill the freed slots with new objects (generation 1)
  for (size_t i = 0; i < n; ++i)
    if (freed[i]) run.alloc(i, 1);
  end_phase();
  const uint64_t rss_reuse = hakbench::rss_kb();

  phase.start();  // 5. free everything
  for (size_t i = 0; i < n; ++i) run.release(i, freed[i] ? 1 : 0);
  end_phase();

  std::printf("RSS_SERIES workload=fragmentation interval_ms=%u rss_kb=%s\n", sample_ms,
              series.c_str());
  hakbench::Result r;
  r.workload = "fragmentation";
  r.ops = run.ops;
  r.seconds = busy_seconds;
  r.faults = busy_faults;
  r.checksum = run.checksum;
  r.corrupt = run.bad;
  r.add("objects", uint64_t{n});
  r.add("rss_after_alloc_kb", rss_alloc);
  r.add("rss_base_kb", rss_base);
  r.add("live_kb_after_free", live_bytes / 1024);
  r.add("rss_after_free_kb", rss_free);
  r.add("rss_idle_end_kb", rss_idle);
  r.add("rss_after_reuse_kb", rss_reuse);
  // Share of the heap's RSS (above the bookkeeping) given back by the end of the idle phase.
  const double heap = double(rss_alloc) - double(rss_base);
  const double returned = heap > 0 ? 100.0 * (double(rss_alloc) - double(rss_idle)) / heap : 0;
  r.add("returned_pct", returned);
  return hakbench::print_result(r);
}
