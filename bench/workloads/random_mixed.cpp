// random_mixed: the classic slot-churn benchmark. Each thread owns `--slots` slots; every
// iteration picks a random slot and frees its object if occupied, otherwise mallocs one of a
// random size in [--min-size, --max-size] and writes it. One iteration = one op.
// --threads N runs N independent threads (no sharing), ops are summed over threads.
// steady_faults_per_1m counts only the second half of each thread's iterations.
#include <cstdlib>
#include <thread>
#include <vector>

#include "common/bench_common.hpp"

namespace {

struct Slot {
  void* ptr = nullptr;
  size_t size = 0;
  uint64_t tag = 0;
};

struct ThreadOut {
  uint64_t checksum = 0;
  uint64_t bad = 0;
  uint64_t ops = 0;
  uint64_t steady_faults = 0;  // faults of this thread during the second half (warm heap)
};

void run_thread(unsigned id, size_t nslots, uint64_t iterations, const hakbench::SizeOptions& so,
                ThreadOut& out) {
  hakbench::Rng rng(so.seed * 1000003 + id);
  const auto mode = so.mode();
  std::vector<Slot> slots(nslots);
  uint64_t sum = 0, bad = 0;
  uint64_t faults_at_half = 0;
  for (uint64_t i = 0; i < iterations; ++i) {
    if (i == iterations / 2) faults_at_half = hakbench::thread_faults();
    Slot& s = slots[rng.below(nslots)];
    if (s.ptr != nullptr) {
      sum += hakbench::verify(s.ptr, s.size, s.tag, bad, mode);
      std::free(s.ptr);
      s.ptr = nullptr;
    } else {
      s.size = rng.range(so.min_size, so.max_size);
      s.tag = rng.next();
      s.ptr = std::malloc(s.size);
      if (s.ptr == nullptr) std::abort();
      hakbench::touch(s.ptr, s.size, s.tag, mode);
    }
  }
  const uint64_t steady_faults = hakbench::thread_faults() - faults_at_half;
  // Drain: freeing the survivors is part of the run, but not counted as ops.
  for (Slot& s : slots) {
    if (s.ptr == nullptr) continue;
    sum += hakbench::verify(s.ptr, s.size, s.tag, bad, mode);
    std::free(s.ptr);
  }
  out = ThreadOut{sum, bad, iterations, steady_faults};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"random_mixed: free-if-occupied-else-malloc over a slot array"};
  hakbench::SizeOptions so;
  so.add_to(app);
  size_t slots = 8192;
  uint64_t iterations = 10'000'000;
  unsigned threads = 1;
  app.add_option("--slots", slots, "slots per thread")->capture_default_str();
  app.add_option("--iterations", iterations, "iterations per thread")->capture_default_str();
  app.add_option("--threads", threads, "independent threads")->capture_default_str();
  HAKBENCH_PARSE(app, argc, argv);
  if (!so.valid() || slots == 0 || threads == 0) {
    std::fprintf(stderr, "random_mixed: bad sizes, slots or threads\n");
    return 1;
  }

  std::vector<ThreadOut> outs(threads);
  hakbench::Phase phase;
  phase.start();
  if (threads == 1) {
    run_thread(0, slots, iterations, so, outs[0]);
  } else {
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t)
      pool.emplace_back(run_thread, t, slots, iterations, std::cref(so), std::ref(outs[t]));
    for (auto& th : pool) th.join();
  }
  phase.stop();

  hakbench::Result r;
  r.workload = "random_mixed";
  r.threads = threads;
  r.set_phase(phase);
  uint64_t steady_faults = 0;
  for (const auto& o : outs) {
    steady_faults += o.steady_faults;
    r.ops += o.ops;
    r.checksum += o.checksum;
    r.corrupt += o.bad;
  }
  r.add("min_size", uint64_t{so.min_size});
  r.add("max_size", uint64_t{so.max_size});
  r.add("slots", uint64_t{slots});
  // Steady state: faults in the second half of the iterations (the heap is warm by then),
  // per million of those iterations.
  r.add("steady_faults_per_1m", 1e6 * double(steady_faults) / (double(r.ops) / 2.0));
  return hakbench::print_result(r);
}
