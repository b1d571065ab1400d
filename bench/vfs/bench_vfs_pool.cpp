// bench_vfs_pool: the VFS pool against a faithful model of the profiled design.
//
// N writer threads do 4-128 KiB writes at random offsets of many files (split into chunk
// writes, like vfsd does), R reader threads read 4-64 KiB at random, and a flusher makes all
// dirty blocks clean every --flush-ms (so blocks cycle clean -> dirty, as in a daemon that
// flushes on fsync/close). Phases alternate pool / baseline, --reps times; each phase warms
// up, then measures for --seconds. Reported per phase: writes/s, MB/s, minor page faults per
// 1,000 writes (getrusage), lock acquisitions and contended acquisitions per write, and an
// estimate of futex calls per write (2 per contended acquisition: one wait, one wake).
// For real futex counts: bench/vfs/futex_count.sh (perf tracepoint and strace -c -f).
// Last line: speedup_vs_baseline=X faults_per_1k_writes=Y (pool's median figures).
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <CLI/CLI.hpp>

#include "baseline_pool.h"
#include "vfs_pool/vfs_pool.h"

using namespace hakmem::vfs;

namespace {

struct Options {
  int threads = 2;
  int readers = 1;
  double seconds = 3;
  double warmup = 1;
  int reps = 3;
  int chunk_kb = 128;
  int files = 64;
  int file_mb = 2;
  int budget_mb = 256;
  int flush_ms = 50;
  bool keep_tmpfs_pages = false;  // baseline ablation (see tmpfs_store.h)
  std::string only;  // "", "pool" or "baseline"
};

// Clean content of every file: windows into one random buffer.
struct Source {
  std::vector<std::byte> pattern;
  Source() : pattern(4u << 20) {
    std::mt19937_64 rng(42);
    for (auto& b : pattern) b = static_cast<std::byte>(rng());
  }
  void fill(std::uint64_t file, std::uint64_t pos, std::byte* dst, std::size_t n) const {
    const std::size_t off = (mix64(file) + pos) % (pattern.size() - n);
    std::memcpy(dst, pattern.data() + off, n);
  }
  static int load(void* ctx, FileId f, std::uint64_t chunk, std::byte* b, std::size_t n) {
    static_cast<const Source*>(ctx)->fill(f, chunk * n, b, n);
    return 0;
  }
};

struct alignas(64) ThreadCount {
  std::atomic<std::uint64_t> ops{0};
  std::atomic<std::uint64_t> bytes{0};
  std::uint64_t checksum = 0;
};

struct Result {
  double secs = 0;
  std::uint64_t writes = 0, write_bytes = 0, reads = 0, flushes = 0;
  long minflt = 0, nvcsw = 0;
  double cpu_s = 0;  // user + system CPU time of the whole process during the phase
  LockStats index, other;
  std::uint64_t checksum = 0;
  std::uint64_t total_writes = 0;  // the whole phase, warm-up included (for external counters)
  double writes_per_s() const { return writes / secs; }
  double mb_per_s() const { return write_bytes / secs / 1e6; }
  double faults_per_1k() const { return writes ? 1000.0 * minflt / writes : 0; }
  double locks_per_write() const { return writes ? double(index.acquisitions + other.acquisitions) / writes : 0; }
  double contended_per_write() const { return writes ? double(index.contended + other.contended) / writes : 0; }
  double est_futex_per_write() const { return 2 * contended_per_write(); }
  double cpu_us_per_write() const { return writes ? cpu_s * 1e6 / writes : 0; }
  double writes_per_cpu_s() const { return cpu_s > 0 ? writes / cpu_s : 0; }
  double wait_us_per_write() const { return writes ? (index.wait_ns + other.wait_ns) / 1e3 / writes : 0; }
  double index_wait_us_per_write() const { return writes ? index.wait_ns / 1e3 / writes : 0; }
};

struct Snapshot {
  std::uint64_t writes = 0, bytes = 0, reads = 0, flushes = 0;
  rusage ru{};
  PoolStats st;
};

template <class Pool>
Result run_phase(const Options& o, const Source& src) {
  PoolConfig cfg;
  cfg.chunk_size = std::size_t(o.chunk_kb) << 10;
  cfg.budget_bytes = std::size_t(o.budget_mb) << 20;
  auto owner = [&] {
    if constexpr (std::is_same_v<Pool, baseline::BaselinePool>)
      return std::make_unique<Pool>(cfg, baseline::BaselineOptions{o.keep_tmpfs_pages});
    else
      return std::make_unique<Pool>(cfg);
  }();
  Pool& pool = *owner;
  const std::size_t cs = cfg.chunk_size;
  const std::uint64_t file_size = std::uint64_t(o.file_mb) << 20;
  const Loader loader{&Source::load, const_cast<Source*>(&src)};
  std::atomic<bool> stop{false};
  std::vector<ThreadCount> wc(o.threads), rc(std::max(o.readers, 1));
  std::atomic<std::uint64_t> flushes{0};
  std::vector<std::thread> ts;

  for (int t = 0; t < o.threads; ++t) {
    ts.emplace_back([&, t] {
      std::mt19937_64 rng(1000 + t);
      std::vector<std::byte> buf(128 << 10);
      for (auto& b : buf) b = static_cast<std::byte>(rng());
      std::uint64_t n = 0, bytes = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        const std::uint64_t file = 1 + rng() % o.files;
        const std::size_t len = (1 + rng() % 32) * 4096;  // 4..128 KiB
        std::uint64_t pos = rng() % (file_size - len);
        buf[0] = static_cast<std::byte>(n);
        std::size_t done = 0;
        while (done < len) {
          const std::uint64_t chunk = (pos + done) / cs;
          const std::size_t in = (pos + done) % cs;
          const std::size_t k = std::min(cs - in, len - done);
          if (pool.write_at(file, chunk, in, buf.data() + done, k, loader) != 0) std::abort();
          done += k;
        }
        ++n;
        bytes += len;
        wc[t].ops.store(n, std::memory_order_relaxed);
        wc[t].bytes.store(bytes, std::memory_order_relaxed);
      }
    });
  }
  for (int t = 0; t < o.readers; ++t) {
    ts.emplace_back([&, t] {
      std::mt19937_64 rng(2000 + t);
      std::vector<std::byte> buf(64 << 10);
      std::uint64_t n = 0, sum = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        const std::uint64_t file = 1 + rng() % o.files;
        const std::size_t len = (1 + rng() % 16) * 4096;
        const std::uint64_t pos = rng() % (file_size - len);
        std::size_t done = 0;
        while (done < len) {
          const std::uint64_t chunk = (pos + done) / cs;
          const std::size_t in = (pos + done) % cs;
          const std::size_t k = std::min(cs - in, len - done);
          if (!pool.read_at(file, chunk, in, buf.data() + done, k)) src.fill(file, pos + done, buf.data() + done, k);
          done += k;
        }
        for (std::size_t i = 0; i < len; i += 4096) sum += static_cast<std::uint8_t>(buf[i]);
        rc[t].ops.store(++n, std::memory_order_relaxed);
      }
      rc[t].checksum = sum;
    });
  }
  std::uint64_t flush_sum = 0;
  if (o.flush_ms > 0) {
    ts.emplace_back([&] {
      // The sink reads one byte per 4 KiB, standing in for the pwrite of a real flush.
      FlushSink sink{[](void* ctx, std::uint64_t, const std::byte* b, std::size_t n) {
                       auto* s = static_cast<std::uint64_t*>(ctx);
                       for (std::size_t i = 0; i < n; i += 4096) *s += static_cast<std::uint8_t>(b[i]);
                       return 0;
                     },
                     &flush_sum};
      while (!stop.load(std::memory_order_relaxed)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(o.flush_ms));
        for (int f = 1; f <= o.files; ++f) pool.flush_file(f, sink);
        flushes.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }

  auto snap = [&] {
    Snapshot s;
    for (auto& c : wc) {
      s.writes += c.ops.load(std::memory_order_relaxed);
      s.bytes += c.bytes.load(std::memory_order_relaxed);
    }
    for (auto& c : rc) s.reads += c.ops.load(std::memory_order_relaxed);
    s.flushes = flushes.load();
    getrusage(RUSAGE_SELF, &s.ru);
    s.st = pool.stats();
    return s;
  };
  std::this_thread::sleep_for(std::chrono::duration<double>(o.warmup));
  const auto t0 = std::chrono::steady_clock::now();
  const Snapshot a = snap();
  std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
  const Snapshot b = snap();
  const auto t1 = std::chrono::steady_clock::now();
  stop = true;
  for (auto& t : ts) t.join();

  Result r;
  r.secs = std::chrono::duration<double>(t1 - t0).count();
  r.writes = b.writes - a.writes;
  r.write_bytes = b.bytes - a.bytes;
  r.reads = b.reads - a.reads;
  r.flushes = b.flushes - a.flushes;
  r.minflt = b.ru.ru_minflt - a.ru.ru_minflt;
  r.nvcsw = b.ru.ru_nvcsw - a.ru.ru_nvcsw;
  auto secs = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  r.cpu_s = secs(b.ru.ru_utime) + secs(b.ru.ru_stime) - secs(a.ru.ru_utime) - secs(a.ru.ru_stime);
  r.index = {b.st.shard_locks.acquisitions - a.st.shard_locks.acquisitions,
             b.st.shard_locks.contended - a.st.shard_locks.contended,
             b.st.shard_locks.wait_ns - a.st.shard_locks.wait_ns};
  r.other = {b.st.other_locks.acquisitions - a.st.other_locks.acquisitions,
             b.st.other_locks.contended - a.st.other_locks.contended,
             b.st.other_locks.wait_ns - a.st.other_locks.wait_ns};
  for (auto& c : wc) r.total_writes += c.ops.load();
  r.checksum = flush_sum;
  for (auto& c : rc) r.checksum += c.checksum;
  return r;
}

void print(const char* name, int rep, const Result& r) {
  std::printf("%-8s rep=%d writes=%llu writes/s=%.0f MB/s=%.0f reads/s=%.0f flushes=%llu "
              "faults_per_1k_writes=%.2f locks_per_write=%.2f contended_per_write=%.4f "
              "est_futex_per_write=%.4f wait_us_per_write=%.3f (index %.3f) vol_ctxsw=%ld cpu_us_per_write=%.2f total_writes=%llu checksum=%llu\n",
              name, rep, (unsigned long long)r.writes, r.writes_per_s(), r.write_bytes / r.secs / 1e6,
              r.reads / r.secs, (unsigned long long)r.flushes, r.faults_per_1k(), r.locks_per_write(),
              r.contended_per_write(), r.est_futex_per_write(), r.wait_us_per_write(), r.index_wait_us_per_write(), r.nvcsw,
              r.cpu_us_per_write(), (unsigned long long)r.total_writes, (unsigned long long)r.checksum);
  std::fflush(stdout);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double spread(const std::vector<double>& v) {
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  const double m = median(v);
  return m > 0 ? (*hi - *lo) / m : 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"VFS pool vs the profiled design"};
  app.add_option("--threads", o.threads, "writer threads")->check(CLI::Range(1, 64));
  app.add_option("--readers", o.readers, "reader threads")->check(CLI::Range(0, 64));
  app.add_option("--seconds", o.seconds, "measured seconds per phase")->check(CLI::PositiveNumber);
  app.add_option("--warmup", o.warmup, "unmeasured seconds before each phase")->check(CLI::NonNegativeNumber);
  app.add_option("--reps", o.reps, "repetitions (pool and baseline alternate)")->check(CLI::Range(1, 100));
  app.add_option("--chunk-kb", o.chunk_kb, "chunk size in KiB (64..1024, power of two)");
  app.add_option("--files", o.files, "files")->check(CLI::Range(1, 1 << 20));
  app.add_option("--file-mb", o.file_mb, "size of each file in MiB")->check(CLI::Range(1, 1024));
  app.add_option("--budget-mb", o.budget_mb, "pool memory budget in MiB")->check(CLI::Range(1, 1 << 20));
  app.add_option("--flush-ms", o.flush_ms, "flush every file every N ms (0: never)")->check(CLI::Range(0, 100000));
  app.add_flag("--baseline-keep-tmpfs-pages", o.keep_tmpfs_pages,
               "ablation: the baseline keeps its dirty blocks' tmpfs pages instead of freeing them at flush");
  app.add_option("--only", o.only, "run only one side")->check(CLI::IsMember({"pool", "baseline"}));
  CLI11_PARSE(app, argc, argv);

  std::printf("bench_vfs_pool threads=%d readers=%d seconds=%.1f warmup=%.1f reps=%d chunk_kb=%d files=%d "
              "file_mb=%d budget_mb=%d flush_ms=%d baseline_keep_tmpfs_pages=%d\n",
              o.threads, o.readers, o.seconds, o.warmup, o.reps, o.chunk_kb, o.files, o.file_mb,
              o.budget_mb, o.flush_ms, o.keep_tmpfs_pages ? 1 : 0);
  std::fflush(stdout);
  const Source src;
  std::vector<Result> pool, base;
  for (int rep = 1; rep <= o.reps; ++rep) {
    if (o.only != "baseline") {
      pool.push_back(run_phase<BlockPool>(o, src));
      print("pool", rep, pool.back());
    }
    if (o.only != "pool") {
      base.push_back(run_phase<baseline::BaselinePool>(o, src));
      print("baseline", rep, base.back());
    }
  }
  auto col = [](const std::vector<Result>& v, double (Result::*f)() const) {
    std::vector<double> out;
    for (const auto& r : v) out.push_back((r.*f)());
    return out;
  };
  auto summary = [&](const char* name, const std::vector<Result>& v) {
    if (v.empty()) return;
    const auto w = col(v, &Result::writes_per_s);
    const auto c = col(v, &Result::cpu_us_per_write);
    std::printf("summary %-8s median_writes/s=%.0f spread=%.2f median_MB/s=%.0f median_cpu_us_per_write=%.2f cpu_spread=%.2f "
                "median_faults_per_1k_writes=%.2f "
                "median_contended_per_write=%.4f median_est_futex_per_write=%.4f median_locks_per_write=%.2f\n",
                name, median(w), spread(w), median(col(v, &Result::mb_per_s)), median(c), spread(c),
                median(col(v, &Result::faults_per_1k)),
                median(col(v, &Result::contended_per_write)), median(col(v, &Result::est_futex_per_write)),
                median(col(v, &Result::locks_per_write)));
  };
  summary("pool", pool);
  summary("baseline", base);
  const double speedup = (!pool.empty() && !base.empty())
                             ? median(col(pool, &Result::writes_per_s)) / median(col(base, &Result::writes_per_s))
                             : 0;
  if (!pool.empty() && !base.empty()) {
    const double pm = median(col(pool, &Result::mb_per_s)), bm = median(col(base, &Result::mb_per_s));
    std::printf("write_bytes_per_s pool=%.0f baseline=%.0f ratio=%.2f\n", pm * 1e6, bm * 1e6, bm > 0 ? pm / bm : 0);
  }
  if (!pool.empty() && !base.empty())
    std::printf("cpu_efficiency_vs_baseline=%.2f (baseline CPU per write / pool CPU per write)\n",
                median(col(base, &Result::cpu_us_per_write)) / median(col(pool, &Result::cpu_us_per_write)));
  const double faults = pool.empty() ? median(col(base, &Result::faults_per_1k)) : median(col(pool, &Result::faults_per_1k));
  std::printf("speedup_vs_baseline=%.2f faults_per_1k_writes=%.2f\n", speedup, faults);
  return 0;
}
