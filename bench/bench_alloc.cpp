// bench_alloc: Google Benchmark micro-benchmarks of the malloc API, single-threaded part.
// The threaded part (cross-thread frees, thread scaling) is in bench_alloc_threads.cpp and
// first-touch cost in bench_alloc_touch.cpp; all three link into one binary, bench_alloc.
// The binary does not link hakmem: run it under any allocator with LD_PRELOAD.
//   build/bench/bench_alloc --benchmark_filter=MallocFree --benchmark_format=json
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <vector>

#include "common/rng.hpp"

namespace {

// Writes the first and last byte (and one per page in between), as a program would.
inline void write_object(void* p, size_t size) {
  auto* c = static_cast<unsigned char*>(p);
  for (size_t off = 0; off < size; off += 4096) c[off] = static_cast<unsigned char>(off);
  c[size - 1] = 1;
  benchmark::DoNotOptimize(c);
}

inline void* must(void* p) {
  if (p == nullptr) std::abort();
  return p;
}

void size_classes(benchmark::internal::Benchmark* b) {
  for (int64_t s : {16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 2048, 4096,
                    8192, 16384, 32768})
    b->Arg(s);
  // Medium classes (thread-cached spans, issue 12): both ends of each doubling, then spans
  // beyond the cache and huge blocks.
  for (int64_t s : {32769, 36864, 49152, 65536, 98304, 131072, 196608, 262144}) b->Arg(s);
  for (int64_t s : {262145, 1 << 20, 4 << 20}) b->Arg(s);
}

// One malloc + write + free per iteration: the fast path of both sides.
void BM_MallocFree(benchmark::State& state) {
  const size_t size = static_cast<size_t>(state.range(0));
  for (auto _ : state) {
    void* p = must(std::malloc(size));
    write_object(p, size);
    std::free(p);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MallocFree)->Apply(size_classes);

// Batch of `count` objects allocated, then freed in LIFO / FIFO / random order.
enum class Order { Lifo, Fifo, Random };

template <Order order>
void BM_Batch(benchmark::State& state) {
  const size_t size = static_cast<size_t>(state.range(0));
  const size_t count = static_cast<size_t>(state.range(1));
  std::vector<void*> ptrs(count);
  std::vector<size_t> perm(count);
  std::iota(perm.begin(), perm.end(), size_t{0});
  hakbench::Rng rng(7);
  for (size_t i = count; i > 1; --i) std::swap(perm[i - 1], perm[rng.below(i)]);
  for (auto _ : state) {
    for (size_t i = 0; i < count; ++i) {
      ptrs[i] = must(std::malloc(size));
      write_object(ptrs[i], size);
    }
    if constexpr (order == Order::Lifo) {
      for (size_t i = count; i > 0; --i) std::free(ptrs[i - 1]);
    } else if constexpr (order == Order::Fifo) {
      for (size_t i = 0; i < count; ++i) std::free(ptrs[i]);
    } else {
      for (size_t i = 0; i < count; ++i) std::free(ptrs[perm[i]]);
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(count));
}
void batch_args(benchmark::internal::Benchmark* b) {
  for (int64_t s : {16, 64, 256, 1024, 4096})
    for (int64_t n : {64, 4096}) b->Args({s, n});
  // Medium batches: 64 blocks (within a thread's medium cache) and 1024 (beyond it).
  for (int64_t s : {40960, 65536, 131072, 262144})
    for (int64_t n : {64, 1024}) b->Args({s, n});
}
BENCHMARK(BM_Batch<Order::Lifo>)->Name("BM_BatchLIFO")->Apply(batch_args);
BENCHMARK(BM_Batch<Order::Fifo>)->Name("BM_BatchFIFO")->Apply(batch_args);
BENCHMARK(BM_Batch<Order::Random>)->Name("BM_BatchRandom")->Apply(batch_args);

// realloc growth: a buffer grown step by step (vector/string-like) from 16 bytes to
// range(0) bytes, by range(1) percent per step, writing the new tail each time.
void BM_ReallocGrow(benchmark::State& state) {
  const size_t limit = static_cast<size_t>(state.range(0));
  const size_t pct = static_cast<size_t>(state.range(1));
  int64_t steps = 0;
  for (auto _ : state) {
    size_t size = 16;
    auto* p = static_cast<unsigned char*>(must(std::malloc(size)));
    p[0] = 1;
    while (size < limit) {
      const size_t next = std::min(limit, size + std::max<size_t>(16, size * pct / 100));
      p = static_cast<unsigned char*>(must(std::realloc(p, next)));
      p[next - 1] = static_cast<unsigned char>(next);
      size = next;
      ++steps;
    }
    benchmark::DoNotOptimize(p[0]);
    std::free(p);
  }
  state.SetItemsProcessed(steps);  // items = realloc calls
}
BENCHMARK(BM_ReallocGrow)->Args({4096, 10})->Args({65536, 50})->Args({1 << 20, 100})->Args({16 << 20, 100});

// calloc: allocation plus zeroing (or the allocator knowing the memory is already zero).
void BM_Calloc(benchmark::State& state) {
  const size_t size = static_cast<size_t>(state.range(0));
  for (auto _ : state) {
    auto* p = static_cast<unsigned char*>(must(std::calloc(1, size)));
    benchmark::DoNotOptimize(p[size / 2]);
    write_object(p, size);
    std::free(p);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Calloc)->Arg(16)->Arg(256)->Arg(4096)->Arg(65536)->Arg(1 << 20);

// Aligned allocation: posix_memalign and aligned_alloc, args = {alignment, size}.
void BM_PosixMemalign(benchmark::State& state) {
  const size_t align = static_cast<size_t>(state.range(0));
  const size_t size = static_cast<size_t>(state.range(1));
  for (auto _ : state) {
    void* p = nullptr;
    if (posix_memalign(&p, align, size) != 0) std::abort();
    write_object(p, size);
    std::free(p);
  }
  state.SetItemsProcessed(state.iterations());
}
void BM_AlignedAlloc(benchmark::State& state) {
  const size_t align = static_cast<size_t>(state.range(0));
  const size_t size = static_cast<size_t>(state.range(1));
  for (auto _ : state) {
    void* p = must(std::aligned_alloc(align, size));
    write_object(p, size);
    std::free(p);
  }
  state.SetItemsProcessed(state.iterations());
}
void align_args(benchmark::internal::Benchmark* b) {
  for (int64_t a : {16, 64, 4096}) b->Args({a, 64})->Args({a, 4096});
  b->Args({2 << 20, 2 << 20});
}
BENCHMARK(BM_PosixMemalign)->Apply(align_args);
BENCHMARK(BM_AlignedAlloc)->Apply(align_args);

}  // namespace

BENCHMARK_MAIN();
