// larson: Larson-style server churn with thread hand-off. `--threads` chains run in
// parallel. Each chain owns an array of `--slots` live objects and runs `--epochs` epochs;
// every epoch is a *new* thread that inherits the array from the previous one, replaces
// `--ops-per-epoch` random objects (free the old one, malloc a new one of random size) and
// exits. Objects allocated by one thread are therefore freed by a later one, and threads
// come and go the way they do in a server's worker pool.
// One replacement = 2 ops (a free and a malloc).
#include <cstdlib>
#include <thread>
#include <vector>

#include "common/bench_common.hpp"

namespace {

struct Obj {
  void* ptr = nullptr;
  size_t size = 0;
  uint64_t tag = 0;
};

struct Chain {
  std::vector<Obj> objs;
  hakbench::Rng rng{0};
  uint64_t checksum = 0;
  uint64_t bad = 0;
};

void fill(Chain& c, const hakbench::SizeOptions& so) {
  for (Obj& o : c.objs) {
    o.size = c.rng.range(so.min_size, so.max_size);
    o.tag = c.rng.next();
    o.ptr = std::malloc(o.size);
    if (o.ptr == nullptr) std::abort();
    hakbench::touch(o.ptr, o.size, o.tag, so.mode());
  }
}

void epoch(Chain& c, uint64_t ops, const hakbench::SizeOptions& so) {
  const auto mode = so.mode();
  for (uint64_t i = 0; i < ops; ++i) {
    Obj& o = c.objs[c.rng.below(c.objs.size())];
    c.checksum += hakbench::verify(o.ptr, o.size, o.tag, c.bad, mode);
    std::free(o.ptr);
    o.size = c.rng.range(so.min_size, so.max_size);
    o.tag = c.rng.next();
    o.ptr = std::malloc(o.size);
    if (o.ptr == nullptr) std::abort();
    hakbench::touch(o.ptr, o.size, o.tag, mode);
  }
}

void drain(Chain& c, const hakbench::SizeOptions& so) {
  for (Obj& o : c.objs) {
    c.checksum += hakbench::verify(o.ptr, o.size, o.tag, c.bad, so.mode());
    std::free(o.ptr);
    o.ptr = nullptr;
  }
}

// Runs one chain: fill in its first thread, then one fresh thread per epoch.
void run_chain(Chain& c, uint64_t epochs, uint64_t ops, const hakbench::SizeOptions& so) {
  std::thread(fill, std::ref(c), std::cref(so)).join();
  for (uint64_t e = 0; e < epochs; ++e) std::thread(epoch, std::ref(c), ops, std::cref(so)).join();
  std::thread(drain, std::ref(c), std::cref(so)).join();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"larson: server-style churn, live objects handed from thread to thread"};
  hakbench::SizeOptions so;
  so.max_size = 128;
  so.add_to(app);
  unsigned threads = 2;
  size_t slots = 10000;
  uint64_t epochs = 50;
  uint64_t ops_per_epoch = 100000;
  app.add_option("--threads", threads, "parallel chains")->capture_default_str();
  app.add_option("--slots", slots, "live objects per chain")->capture_default_str();
  app.add_option("--epochs", epochs, "threads per chain (hand-offs)")->capture_default_str();
  app.add_option("--ops-per-epoch", ops_per_epoch, "replacements per thread")
      ->capture_default_str();
  HAKBENCH_PARSE(app, argc, argv);
  if (!so.valid() || slots == 0 || threads == 0) {
    std::fprintf(stderr, "larson: bad sizes, slots or threads\n");
    return 1;
  }

  std::vector<Chain> chains(threads);
  for (unsigned t = 0; t < threads; ++t) {
    chains[t].objs.resize(slots);
    chains[t].rng = hakbench::Rng(so.seed * 7919 + t);
  }
  hakbench::Phase phase;
  phase.start();
  std::vector<std::thread> drivers;
  for (unsigned t = 0; t < threads; ++t)
    drivers.emplace_back(run_chain, std::ref(chains[t]), epochs, ops_per_epoch, std::cref(so));
  for (auto& d : drivers) d.join();
  phase.stop();

  hakbench::Result r;
  r.workload = "larson";
  r.threads = threads;
  r.ops = uint64_t{threads} * epochs * ops_per_epoch * 2;
  r.set_phase(phase);
  for (const Chain& c : chains) {
    r.checksum += c.checksum;
    r.corrupt += c.bad;
  }
  r.add("slots", uint64_t{slots});
  r.add("epochs", epochs);
  r.add("max_size", uint64_t{so.max_size});
  return hakbench::print_result(r);
}
