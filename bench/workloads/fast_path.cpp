// fast_path: the allocator's fast paths alone, for instruction counts (scripts/instr-per-op)
// more than for time. One iteration is
//   --mode pair    p = malloc(--size); free(p);                     (one pair)
//   --mode batch   100 mallocs of sizes 16..1024 from a fixed table, then their 100 frees
//   --mode new     p = new char[--size]; delete[] p;                (one pair)
// The pointer escapes through an empty asm statement so the compiler can neither drop the
// pair nor keep the object in a register; nothing is written to the objects, so the loop
// measures the allocator and the call, not memory traffic.
#include <cstdlib>
#include <new>
#include <string>

#include "common/bench_common.hpp"

namespace {

constexpr unsigned kBatch = 100;

inline void escape(void* p) { asm volatile("" : : "r"(p) : "memory"); }

uint64_t run_pair(uint64_t iterations, size_t size) {
  for (uint64_t i = 0; i < iterations; ++i) {
    void* p = std::malloc(size);
    escape(p);
    std::free(p);
  }
  return iterations;
}

uint64_t run_new(uint64_t iterations, size_t size) {
  for (uint64_t i = 0; i < iterations; ++i) {
    char* p = new char[size];
    escape(p);
    delete[] p;
  }
  return iterations;
}

uint64_t run_batch(uint64_t iterations, uint64_t seed) {
  size_t sizes[kBatch];
  hakbench::Rng rng(seed);
  for (auto& s : sizes) s = rng.range(16, 1024);
  void* ptrs[kBatch];
  for (uint64_t i = 0; i < iterations; ++i) {
    for (unsigned k = 0; k < kBatch; ++k) {
      ptrs[k] = std::malloc(sizes[k]);
      escape(ptrs[k]);
    }
    for (unsigned k = 0; k < kBatch; ++k) std::free(ptrs[k]);
  }
  return iterations * kBatch;  // ops: malloc+free pairs
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"fast_path: malloc/free (or new/delete) pairs with no other work"};
  std::string mode = "pair";
  size_t size = 64;
  uint64_t iterations = 10'000'000;
  uint64_t seed = 42;
  app.add_option("--mode", mode, "pair | batch | new")->capture_default_str();
  app.add_option("--size", size, "object size of pair and new")->capture_default_str();
  app.add_option("--iterations", iterations, "loop iterations")->capture_default_str();
  app.add_option("--seed", seed, "seed of the batch's size table")->capture_default_str();
  HAKBENCH_PARSE(app, argc, argv);

  hakbench::Phase phase;
  phase.start();
  uint64_t ops;
  if (mode == "pair") {
    ops = run_pair(iterations, size);
  } else if (mode == "batch") {
    ops = run_batch(iterations, seed);
  } else if (mode == "new") {
    ops = run_new(iterations, size);
  } else {
    std::fprintf(stderr, "fast_path: unknown --mode %s\n", mode.c_str());
    return 1;
  }
  phase.stop();

  hakbench::Result r;
  r.workload = "fast_path_" + mode;
  r.threads = 1;
  r.set_phase(phase);
  r.ops = ops;
  return hakbench::print_result(r);
}
