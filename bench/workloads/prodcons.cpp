// prodcons: producer/consumer. `--pairs` pairs of threads; each producer mallocs objects,
// writes them and passes them in batches of `--batch` through a bounded single-producer /
// single-consumer ring to its consumer, which verifies and frees them. Every object is
// freed by a thread other than the one that allocated it (remote frees).
// One object = 2 ops (its malloc and its free).
#include <atomic>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "common/bench_common.hpp"

namespace {

struct Item {
  void* ptr;
  size_t size;
  uint64_t tag;
};

// Bounded SPSC ring of batches. Capacity is a power of two; spinning with yield keeps it
// usable on 2 cores where producer and consumer may share a CPU.
class Ring {
 public:
  explicit Ring(size_t capacity) : slots_(capacity), mask_(capacity - 1) {}
  void push(std::vector<Item>&& batch) {
    const size_t h = head_.load(std::memory_order_relaxed);
    while (h - tail_.load(std::memory_order_acquire) > mask_) std::this_thread::yield();
    slots_[h & mask_] = std::move(batch);
    head_.store(h + 1, std::memory_order_release);
  }
  std::vector<Item> pop() {
    const size_t t = tail_.load(std::memory_order_relaxed);
    while (head_.load(std::memory_order_acquire) == t) std::this_thread::yield();
    std::vector<Item> batch = std::move(slots_[t & mask_]);
    tail_.store(t + 1, std::memory_order_release);
    return batch;
  }

 private:
  std::vector<std::vector<Item>> slots_;
  size_t mask_;
  alignas(64) std::atomic<size_t> head_{0};
  alignas(64) std::atomic<size_t> tail_{0};
};

struct Pair {
  std::unique_ptr<Ring> ring;
  uint64_t checksum = 0;
  uint64_t bad = 0;
};

void produce(Pair& p, unsigned id, uint64_t items, size_t batch, const hakbench::SizeOptions& so) {
  hakbench::Rng rng(so.seed * 31337 + id);
  for (uint64_t done = 0; done < items;) {
    const uint64_t n = std::min<uint64_t>(batch, items - done);
    std::vector<Item> b;
    b.reserve(n);
    for (uint64_t i = 0; i < n; ++i) {
      const size_t size = rng.range(so.min_size, so.max_size);
      const uint64_t tag = rng.next();
      void* ptr = std::malloc(size);
      if (ptr == nullptr) std::abort();
      hakbench::touch(ptr, size, tag, so.mode());
      b.push_back(Item{ptr, size, tag});
    }
    p.ring->push(std::move(b));
    done += n;
  }
  p.ring->push({});  // end marker
}

void consume(Pair& p, const hakbench::SizeOptions& so) {
  for (;;) {
    std::vector<Item> b = p.ring->pop();
    if (b.empty()) return;
    for (const Item& it : b) {
      p.checksum += hakbench::verify(it.ptr, it.size, it.tag, p.bad, so.mode());
      std::free(it.ptr);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"prodcons: objects allocated by producers, freed by consumers"};
  hakbench::SizeOptions so;
  so.max_size = 256;
  so.add_to(app);
  unsigned pairs = 1;
  uint64_t items = 4'000'000;
  size_t batch = 256;
  size_t ring = 64;
  app.add_option("--pairs", pairs, "producer/consumer pairs")->capture_default_str();
  app.add_option("--items", items, "objects per producer")->capture_default_str();
  app.add_option("--batch", batch, "objects per hand-over")->capture_default_str();
  app.add_option("--ring", ring, "batches in flight per pair (power of two)")
      ->capture_default_str();
  HAKBENCH_PARSE(app, argc, argv);
  if (!so.valid() || pairs == 0 || batch == 0 || ring == 0 || (ring & (ring - 1)) != 0) {
    std::fprintf(stderr, "prodcons: bad sizes, pairs, batch or ring\n");
    return 1;
  }

  std::vector<Pair> ps(pairs);
  for (auto& p : ps) p.ring = std::make_unique<Ring>(ring);
  hakbench::Phase phase;
  phase.start();
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < pairs; ++i) {
    threads.emplace_back(consume, std::ref(ps[i]), std::cref(so));
    threads.emplace_back(produce, std::ref(ps[i]), i, items, batch, std::cref(so));
  }
  for (auto& t : threads) t.join();
  phase.stop();

  hakbench::Result r;
  r.workload = "prodcons";
  r.threads = pairs * 2;
  r.ops = uint64_t{pairs} * items * 2;
  r.set_phase(phase);
  for (const Pair& p : ps) {
    r.checksum += p.checksum;
    r.corrupt += p.bad;
  }
  r.add("batch", uint64_t{batch});
  r.add("max_size", uint64_t{so.max_size});
  return hakbench::print_result(r);
}
