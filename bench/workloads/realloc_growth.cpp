// realloc_growth: --strings strings, each grown by exact-size realloc (len + 1..256 bytes,
// plus its terminator) until it reaches its target length (random in [--min-len,
// --max-len]); the strings are grown in turn, a step each, as a program appending to many
// buffers does. Every byte is checked at the end. Then every string is freed, the program
// idles --idle-ms (longer than hakmem's purge delay) and reports rss_after_free_kb.
// usable_at_peak_kb sums malloc_usable_size over the strings at the end of the growth:
// what the allocator hands the strings (their internal waste included), against which
// rss_at_peak_kb shows what the rest of its memory costs. ops = reallocs.
#include <malloc.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "common/bench_common.hpp"

int main(int argc, char** argv) {
  CLI::App app{"realloc_growth: many strings grown by exact-size realloc"};
  size_t strings = 10000, min_len = 1024, max_len = 65536;
  unsigned idle_ms = 1200;
  uint64_t seed = 42;
  app.add_option("--strings", strings, "strings grown")->capture_default_str();
  app.add_option("--min-len", min_len, "shortest target length")->capture_default_str();
  app.add_option("--max-len", max_len, "longest target length")->capture_default_str();
  app.add_option("--idle-ms", idle_ms, "idle time after the frees")->capture_default_str();
  app.add_option("--seed", seed, "random seed")->capture_default_str();
  HAKBENCH_PARSE(app, argc, argv);
  if (strings == 0 || min_len == 0 || min_len > max_len) {
    std::fprintf(stderr, "realloc_growth: bad strings or lengths\n");
    return 1;
  }
  hakbench::Rng rng(seed);
  std::vector<char*> s(strings, nullptr);
  std::vector<size_t> len(strings, 0), target(strings);
  for (auto& t : target) t = rng.range(min_len, max_len);
  auto fill = [](size_t i) { return static_cast<char>('a' + i % 26); };

  hakbench::Phase phase;
  phase.start();
  uint64_t reallocs = 0;
  for (bool active = true; active;) {
    active = false;
    for (size_t i = 0; i < strings; ++i) {
      if (len[i] >= target[i]) continue;
      active = true;
      size_t add = rng.range(1, 256);
      char* q = static_cast<char*>(std::realloc(s[i], len[i] + add + 1));
      if (!q) std::abort();
      std::memset(q + len[i], fill(i), add);
      len[i] += add;
      q[len[i]] = 0;
      s[i] = q;
      ++reallocs;
    }
  }
  phase.stop();
  hakbench::Result r;
  r.workload = "realloc_growth";
  r.set_phase(phase);
  r.ops = reallocs;
  const uint64_t peak = hakbench::peak_rss_kb();
  uint64_t usable = 0;
  for (size_t i = 0; i < strings; ++i) usable += malloc_usable_size(s[i]);
  for (size_t i = 0; i < strings; ++i) {
    for (size_t k = 0; k < len[i]; ++k) r.corrupt += s[i][k] != fill(i);
    r.corrupt += s[i][len[i]] != 0;
    r.checksum += len[i];
    std::free(s[i]);
  }
  s.clear();
  usleep(idle_ms * 1000u);
  // One call after the idle time: allocators that return memory only on a call get one.
  std::free(std::malloc(100000));
  r.add("rss_at_peak_kb", peak);
  r.add("usable_at_peak_kb", usable / 1024);
  r.add("rss_after_free_kb", hakbench::rss_kb());
  return hakbench::print_result(r);
}
