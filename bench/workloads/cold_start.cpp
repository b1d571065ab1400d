// cold_start: first touch of a fresh heap. At the very start of the process, malloc
// --mb MiB of --size-byte objects and write each one completely; this is what a program
// pays when its heap grows into memory the kernel has never mapped. ops = objects, so
// ns_per_op is ns per object; faults_per_1m is faults per million objects. The objects
// are then read back and freed (timed separately: free_seconds).
#include <cstdlib>
#include <vector>

#include "common/bench_common.hpp"

int main(int argc, char** argv) {
  CLI::App app{"cold_start: allocate and first-touch a large heap of small objects"};
  uint64_t mb = 256;
  size_t size = 64;
  uint64_t seed = 42;
  app.add_option("--mb", mb, "MiB of objects")->capture_default_str();
  app.add_option("--size", size, "object size in bytes")->capture_default_str();
  app.add_option("--seed", seed, "random seed")->capture_default_str();
  HAKBENCH_PARSE(app, argc, argv);
  if (size == 0 || mb == 0) {
    std::fprintf(stderr, "cold_start: --size and --mb must be positive\n");
    return 1;
  }
  const size_t n = (mb << 20) / size;
  std::vector<void*> ptrs(n, nullptr);  // zero-filled now, so its faults are not counted
  const auto mode = hakbench::TouchMode::Full;
  const uint64_t rss0 = hakbench::rss_kb();

  hakbench::Phase phase;
  phase.start();
  for (size_t i = 0; i < n; ++i) {
    void* p = std::malloc(size);
    if (p == nullptr) std::abort();
    hakbench::touch(p, size, seed + i, mode);
    ptrs[i] = p;
  }
  phase.stop();
  const uint64_t rss_full = hakbench::rss_kb();

  hakbench::Phase free_phase;
  uint64_t checksum = 0, bad = 0;
  free_phase.start();
  for (size_t i = 0; i < n; ++i) {
    checksum += hakbench::verify(ptrs[i], size, seed + i, bad, mode);
    std::free(ptrs[i]);
  }
  free_phase.stop();

  hakbench::Result r;
  r.workload = "cold_start";
  r.ops = n;
  r.set_phase(phase);
  r.checksum = checksum;
  r.corrupt = bad;
  r.add("object_size", uint64_t{size});
  r.add("heap_rss_kb", rss_full - rss0);
  r.add("overhead_pct", 100.0 * (double(rss_full - rss0) * 1024.0 - double(n * size)) / double(n * size));
  r.add("free_seconds", free_phase.seconds());
  return hakbench::print_result(r);
}
