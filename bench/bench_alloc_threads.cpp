// bench_alloc, threaded part: cross-thread (producer/consumer) frees and thread scaling.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <thread>
#include <vector>

#include "common/rng.hpp"

namespace {

// Producer/consumer: the benchmark thread mallocs batches of 64 objects and hands them to
// a consumer thread through a bounded ring; the consumer reads and frees them (every free
// is remote). Items = objects; timing covers the whole pipeline.
constexpr size_t kBatch = 64;
constexpr size_t kRing = 32;  // batches in flight

struct Pipe {
  std::vector<void*> batches[kRing];
  alignas(64) std::atomic<uint64_t> head{0};
  alignas(64) std::atomic<uint64_t> tail{0};
  std::atomic<bool> done{false};
};

void consumer(Pipe& pipe, std::atomic<uint64_t>& sink) {
  uint64_t sum = 0;
  for (;;) {
    const uint64_t t = pipe.tail.load(std::memory_order_relaxed);
    if (pipe.head.load(std::memory_order_acquire) == t) {
      if (pipe.done.load(std::memory_order_acquire) &&
          pipe.head.load(std::memory_order_acquire) == t)
        break;
      std::this_thread::yield();
      continue;
    }
    for (void* p : pipe.batches[t % kRing]) {
      sum += *static_cast<unsigned char*>(p);
      std::free(p);
    }
    pipe.tail.store(t + 1, std::memory_order_release);
  }
  sink += sum;
}

void BM_ProducerConsumer(benchmark::State& state) {
  const size_t size = static_cast<size_t>(state.range(0));
  Pipe pipe;
  for (auto& b : pipe.batches) b.resize(kBatch);
  std::atomic<uint64_t> sink{0};
  std::thread cons(consumer, std::ref(pipe), std::ref(sink));
  for (auto _ : state) {
    const uint64_t h = pipe.head.load(std::memory_order_relaxed);
    while (h - pipe.tail.load(std::memory_order_acquire) >= kRing) std::this_thread::yield();
    for (void*& p : pipe.batches[h % kRing]) {
      p = std::malloc(size);
      if (p == nullptr) std::abort();
      static_cast<unsigned char*>(p)[0] = 1;
      static_cast<unsigned char*>(p)[size - 1] = 2;
    }
    pipe.head.store(h + 1, std::memory_order_release);
  }
  pipe.done.store(true, std::memory_order_release);
  cons.join();
  benchmark::DoNotOptimize(sink.load());
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kBatch));
}
BENCHMARK(BM_ProducerConsumer)->Arg(16)->Arg(64)->Arg(256)->Arg(4096)->UseRealTime();

// Thread scaling: every thread runs its own malloc/free churn (64 live objects, random
// replacement, sizes 16..range(0)); items = malloc+free pairs over all threads.
void BM_ThreadScaling(benchmark::State& state) {
  const size_t max_size = static_cast<size_t>(state.range(0));
  hakbench::Rng rng(static_cast<uint64_t>(state.thread_index()) + 1);
  void* live[64] = {};
  for (auto _ : state) {
    void*& slot = live[rng.below(64)];
    std::free(slot);
    const size_t size = rng.range(16, max_size);
    slot = std::malloc(size);
    if (slot == nullptr) std::abort();
    static_cast<unsigned char*>(slot)[0] = 1;
    benchmark::DoNotOptimize(slot);
  }
  for (void* p : live) std::free(p);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ThreadScaling)->Arg(128)->Arg(1024)->ThreadRange(1, 4)->UseRealTime();

}  // namespace
