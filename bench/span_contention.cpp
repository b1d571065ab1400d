// span_contention [GROW_MB=1000] [BLOCK_KB=512]: one thread takes GROW_MB of fresh BLOCK_KB
// blocks (medium spans: new SuperSlabs, pre-faulted) while another allocates and frees
// 48 KiB blocks (spans too). Prints how many pairs the second thread completed meanwhile
// and its latency percentiles: an allocator that pre-faults under a lock shared by all
// medium allocations stalls the second thread for the whole populate (PERF_NOTES.md,
// "span lock"). Run it under LD_PRELOAD for each allocator.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

namespace {
double now_ns() {
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

int main(int argc, char** argv) {
  const std::size_t grow_mb = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 1000;
  const std::size_t block = (argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 512) << 10;
  const std::size_t blocks = (grow_mb << 20) / block;
  std::vector<char*> kept(blocks);
  std::vector<double> lat;
  lat.reserve(8 << 20);
  std::atomic<bool> stop{false};
  std::free(std::malloc(48 << 10));  // the measuring thread's first span is not counted
  const double t0 = now_ns();
  std::thread grower([&] {
    for (std::size_t i = 0; i < blocks; ++i) {
      kept[i] = static_cast<char*>(std::malloc(block));
      kept[i][0] = 1;
    }
    stop.store(true);
  });
  while (!stop.load(std::memory_order_relaxed) && lat.size() < lat.capacity()) {
    const double a = now_ns();
    char* p = static_cast<char*>(std::malloc(48 << 10));
    p[0] = 1;
    std::free(p);
    lat.push_back(now_ns() - a);
  }
  grower.join();
  const double t1 = now_ns();
  for (char* p : kept) std::free(p);
  if (lat.empty()) lat.push_back(0);
  std::sort(lat.begin(), lat.end());
  const auto pct = [&](double q) { return lat[std::min(lat.size() - 1, static_cast<std::size_t>(q * lat.size()))]; };
  std::printf("grow %zu MB in %zu KiB blocks: %.0f ms; meanwhile %zu 48 KiB malloc+free pairs, "
              "p50 %.0f ns p99 %.0f ns p99.9 %.0f ns max %.2f ms\n",
              grow_mb, block >> 10, (t1 - t0) / 1e6, lat.size(), pct(0.5), pct(0.99), pct(0.999),
              lat.back() / 1e6);
  return 0;
}
