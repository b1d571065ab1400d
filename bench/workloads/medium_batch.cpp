// medium_batch: batches of medium objects, each written whole. Every round a thread mallocs
// objects of random sizes in [--min-size, --max-size] until it holds --round-mb, writes
// every byte, reads a word per page back, then frees them all. --threads N runs N threads
// at once, each its own batches (the span allocator and the medium caches shared by them).
// ops = mallocs + frees. The issue-12 batches: 4-64 KiB and 64 KiB-1 MiB.
#include <cstdlib>
#include <thread>
#include <vector>

#include "common/bench_common.hpp"

namespace {

struct Out {
  uint64_t ops = 0, sum = 0, bad = 0;
};

// What touch(Full) wrote, read back sparsely: the tag's words at both ends and the fill
// byte once per page (a full read would make the workload a memory-bandwidth test).
uint64_t check(const void* ptr, size_t size, uint64_t tag, uint64_t& bad) {
  const auto* p = static_cast<const unsigned char*>(ptr);
  uint64_t sum = hakbench::detail::get(p, size, 0, tag, bad);
  sum += hakbench::detail::get(p, size, size - 8, tag, bad);
  const unsigned char f = hakbench::fill_byte(tag);
  for (size_t off = hakbench::kPage; off + 8 < size - 8; off += hakbench::kPage) {
    bad += p[off] != f;
    sum += p[off];
  }
  return sum;
}

void run(unsigned id, size_t lo, size_t hi, size_t round_bytes, unsigned rounds, uint64_t seed,
         Out& out) {
  hakbench::Rng rng(seed * 7919 + id);
  struct Obj {
    void* p;
    size_t size;
    uint64_t tag;
  };
  std::vector<Obj> objs;
  objs.reserve(round_bytes / lo + 1);
  for (unsigned r = 0; r < rounds; ++r) {
    size_t held = 0;
    objs.clear();
    while (held < round_bytes) {
      Obj o{nullptr, rng.range(lo, hi), rng.next()};
      o.p = std::malloc(o.size);
      if (!o.p) std::abort();
      hakbench::touch(o.p, o.size, o.tag, hakbench::TouchMode::Full);
      held += o.size;
      objs.push_back(o);
    }
    for (const Obj& o : objs) {
      out.sum += check(o.p, o.size, o.tag, out.bad);
      std::free(o.p);
    }
    out.ops += 2 * objs.size();
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"medium_batch: rounds of medium mallocs, written whole, then freed"};
  size_t lo = 4096, hi = 65536, round_mb = 64;
  unsigned rounds = 8, threads = 1;
  uint64_t seed = 42;
  app.add_option("--min-size", lo, "smallest object")->capture_default_str();
  app.add_option("--max-size", hi, "largest object")->capture_default_str();
  app.add_option("--round-mb", round_mb, "MiB held per thread before each round's frees")
      ->capture_default_str();
  app.add_option("--rounds", rounds, "rounds per thread")->capture_default_str();
  app.add_option("--threads", threads, "threads at once")->capture_default_str();
  app.add_option("--seed", seed, "random seed")->capture_default_str();
  HAKBENCH_PARSE(app, argc, argv);
  if (lo < 64 || lo > hi || threads == 0) {
    std::fprintf(stderr, "medium_batch: bad sizes or threads\n");
    return 1;
  }
  std::vector<Out> outs(threads);
  hakbench::Phase phase;
  phase.start();
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back(run, t, lo, hi, round_mb << 20, rounds, seed, std::ref(outs[t]));
  for (auto& th : pool) th.join();
  phase.stop();
  hakbench::Result r;
  r.workload = "medium_batch";
  r.threads = threads;
  r.set_phase(phase);
  for (const Out& o : outs) {
    r.ops += o.ops;
    r.checksum += o.sum;
    r.corrupt += o.bad;
  }
  r.add("min_size", uint64_t{lo});
  r.add("max_size", uint64_t{hi});
  return hakbench::print_result(r);
}
