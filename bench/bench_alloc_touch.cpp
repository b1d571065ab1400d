// bench_alloc, first-touch part: the cost of writing memory the allocator just handed out,
// including the page faults when it is fresh. Counter faults = page faults per iteration.
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <cstdint>
#include <cstdlib>
#include <vector>

namespace {

uint64_t faults_now() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<uint64_t>(ru.ru_minflt + ru.ru_majflt);
}

// One large buffer: malloc(range(0)), write one byte per 4 KiB page, free.
// Whether the next iteration faults again depends on what free did with the pages.
void BM_FirstTouchLarge(benchmark::State& state) {
  const size_t size = static_cast<size_t>(state.range(0));
  const uint64_t f0 = faults_now();
  for (auto _ : state) {
    auto* p = static_cast<unsigned char*>(std::malloc(size));
    if (p == nullptr) std::abort();
    for (size_t off = 0; off < size; off += 4096) p[off] = 1;
    benchmark::DoNotOptimize(p);
    std::free(p);
  }
  state.counters["faults"] = benchmark::Counter(static_cast<double>(faults_now() - f0),
                                                benchmark::Counter::kAvgIterations);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(size));
}
BENCHMARK(BM_FirstTouchLarge)->Arg(256 << 10)->Arg(1 << 20)->Arg(8 << 20)->Arg(64 << 20);

// Many small objects: range(1) MiB of range(0)-byte objects allocated and written, then
// all freed. The first iteration grows the heap into fresh memory; later ones show
// whether the allocator kept it. Items = objects allocated.
void BM_FirstTouchSmall(benchmark::State& state) {
  const size_t size = static_cast<size_t>(state.range(0));
  const size_t n = (static_cast<size_t>(state.range(1)) << 20) / size;
  std::vector<void*> ptrs(n, nullptr);
  const uint64_t f0 = faults_now();
  for (auto _ : state) {
    for (size_t i = 0; i < n; ++i) {
      auto* p = static_cast<unsigned char*>(std::malloc(size));
      if (p == nullptr) std::abort();
      p[0] = static_cast<unsigned char>(i);
      p[size - 1] = 1;
      ptrs[i] = p;
    }
    benchmark::ClobberMemory();
    for (void* p : ptrs) std::free(p);
  }
  state.counters["faults"] = benchmark::Counter(static_cast<double>(faults_now() - f0),
                                                benchmark::Counter::kAvgIterations);
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(n));
}
BENCHMARK(BM_FirstTouchSmall)->Args({64, 64})->Args({1024, 64})->Unit(benchmark::kMillisecond);

}  // namespace
