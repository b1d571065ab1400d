// fault_storm: an application that allocates, fills and frees a large buffer in a loop
// (1-8 MiB by default). Every round mallocs a buffer of random size, writes one word in
// every 4 KiB page (or every byte with --full-touch), reads it back and frees it. An
// allocator that returns such buffers to the OS on free and maps them again makes every
// round fault every page; one that keeps them warm faults only in the first round.
// The first round is a warm-up reported separately. ops = pages touched in the measured
// rounds, so faults_per_1m is faults per million pages touched (1,000,000 = every page
// faulted every round) and ns_per_op is ns per page; faults_per_round and us_per_round
// give the same per round.
#include <cstdlib>

#include "common/bench_common.hpp"

int main(int argc, char** argv) {
  CLI::App app{"fault_storm: allocate, touch and free large buffers in a loop"};
  uint64_t rounds = 200;
  double min_mb = 1, max_mb = 8;
  uint64_t seed = 42;
  bool full_touch = false;
  app.add_option("--rounds", rounds, "rounds including the warm-up round")->capture_default_str();
  app.add_option("--min-mb", min_mb, "smallest buffer in MiB")->capture_default_str();
  app.add_option("--max-mb", max_mb, "largest buffer in MiB")->capture_default_str();
  app.add_option("--seed", seed, "random seed")->capture_default_str();
  app.add_flag("--full-touch", full_touch, "write every byte (default: one word per page)");
  HAKBENCH_PARSE(app, argc, argv);
  if (rounds < 2 || min_mb <= 0 || max_mb < min_mb) {
    std::fprintf(stderr, "fault_storm: need --rounds >= 2 and 0 < --min-mb <= --max-mb\n");
    return 1;
  }
  const auto mode = full_touch ? hakbench::TouchMode::Full : hakbench::TouchMode::Sparse;
  const size_t lo = static_cast<size_t>(min_mb * 1048576), hi = static_cast<size_t>(max_mb * 1048576);
  hakbench::Rng rng(seed);
  uint64_t checksum = 0, bad = 0, pages = 0;

  auto round = [&] {
    const size_t size = rng.range(lo, hi);
    const uint64_t tag = rng.next();
    void* p = std::malloc(size);
    if (p == nullptr) std::abort();
    hakbench::touch(p, size, tag, mode);
    checksum += hakbench::verify(p, size, tag, bad, mode);
    std::free(p);
    pages += (size + hakbench::kPage - 1) / hakbench::kPage;
  };

  hakbench::Phase warm;
  warm.start();
  round();
  warm.stop();
  pages = 0;
  hakbench::Phase phase;
  phase.start();
  for (uint64_t i = 1; i < rounds; ++i) round();
  phase.stop();

  hakbench::Result r;
  r.workload = "fault_storm";
  r.ops = pages;
  r.set_phase(phase);
  r.checksum = checksum;
  r.corrupt = bad;
  r.add("first_round_faults", warm.faults());
  r.add("first_round_us", warm.seconds() * 1e6);
  r.add("faults_per_round", double(phase.faults()) / double(rounds - 1));
  r.add("pages_per_round", double(pages) / double(rounds - 1));
  r.add("us_per_round", phase.seconds() * 1e6 / double(rounds - 1));
  return hakbench::print_result(r);
}
