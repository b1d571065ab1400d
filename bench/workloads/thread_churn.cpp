// thread_churn: many short-lived threads that each allocate. Threads are created in waves
// of --concurrent and joined; each mallocs --allocs objects ([--min-size, --max-size]),
// writes them, frees 7 of every 8 itself and hands the 8th to the main thread, which frees
// it after the join (memory of a thread that has exited). Measures per-thread set-up and
// tear-down cost of the allocator's thread caches, and (final_rss_kb) whether exited
// threads' caches leak. ops = mallocs + frees.
#include <cstdlib>
#include <thread>
#include <vector>

#include "common/bench_common.hpp"

namespace {

struct Obj {
  void* ptr;
  size_t size;
  uint64_t tag;
};

struct Worker {
  std::vector<Obj> handed;  // reserved before the thread starts
  uint64_t checksum = 0;
  uint64_t bad = 0;
};

void work(Worker& w, uint64_t index, uint64_t allocs, const hakbench::SizeOptions& so) {
  hakbench::Rng rng(so.seed * 65537 + index);
  std::vector<Obj> mine;
  mine.reserve(allocs);
  for (uint64_t i = 0; i < allocs; ++i) {
    const size_t size = rng.range(so.min_size, so.max_size);
    const uint64_t tag = rng.next();
    void* p = std::malloc(size);
    if (p == nullptr) std::abort();
    hakbench::touch(p, size, tag, so.mode());
    if (i % 8 == 7) {
      w.handed.push_back(Obj{p, size, tag});
    } else {
      mine.push_back(Obj{p, size, tag});
    }
  }
  for (const Obj& o : mine) {
    w.checksum += hakbench::verify(o.ptr, o.size, o.tag, w.bad, so.mode());
    std::free(o.ptr);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"thread_churn: create/join many threads that each allocate"};
  hakbench::SizeOptions so;
  so.max_size = 512;
  so.add_to(app);
  uint64_t total = 2000;
  unsigned concurrent = 2;
  uint64_t allocs = 1000;
  app.add_option("--threads-total", total, "threads created in all")->capture_default_str();
  app.add_option("--concurrent", concurrent, "threads alive at once (one wave)")
      ->capture_default_str();
  app.add_option("--allocs", allocs, "mallocs per thread")->capture_default_str();
  HAKBENCH_PARSE(app, argc, argv);
  if (!so.valid() || concurrent == 0 || total == 0) {
    std::fprintf(stderr, "thread_churn: bad sizes, --concurrent or --threads-total\n");
    return 1;
  }

  std::vector<Worker> workers(concurrent);
  for (auto& w : workers) w.handed.reserve(allocs / 8 + 1);
  uint64_t checksum = 0, bad = 0;
  hakbench::Phase phase;
  phase.start();
  for (uint64_t started = 0; started < total;) {
    const unsigned wave = static_cast<unsigned>(std::min<uint64_t>(concurrent, total - started));
    std::vector<std::thread> threads;
    threads.reserve(wave);
    for (unsigned k = 0; k < wave; ++k)
      threads.emplace_back(work, std::ref(workers[k]), started + k, allocs, std::cref(so));
    for (auto& t : threads) t.join();
    for (unsigned k = 0; k < wave; ++k) {
      Worker& w = workers[k];
      for (const Obj& o : w.handed) {
        checksum += hakbench::verify(o.ptr, o.size, o.tag, bad, so.mode());
        std::free(o.ptr);
      }
      w.handed.clear();
      checksum += w.checksum;
      bad += w.bad;
      w.checksum = w.bad = 0;
    }
    started += wave;
  }
  phase.stop();

  hakbench::Result r;
  r.workload = "thread_churn";
  r.threads = concurrent;
  r.ops = total * allocs * 2;
  r.set_phase(phase);
  r.checksum = checksum;
  r.corrupt = bad;
  r.add("threads_total", total);
  r.add("us_per_thread", phase.seconds() * 1e6 / double(total));
  return hakbench::print_result(r);
}
