// The machine-parsable result line every whole-program workload prints last:
//   RESULT workload=NAME threads=T ops=N seconds=S ns_per_op=X ops_per_sec=Y faults=F
//          faults_per_1m=G peak_rss_kb=P final_rss_kb=R checksum=0x... corrupt=C [extra...]
// (one line, space separated key=value pairs, no spaces inside values).
// scripts/compare parses it; bench/README.md documents it.
#pragma once

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "measure.hpp"

namespace hakbench {

struct Result {
  std::string workload;
  unsigned threads = 1;
  uint64_t ops = 0;        // operations in the measured phase (mallocs + frees unless noted)
  double seconds = 0;      // wall time of the measured phase
  uint64_t faults = 0;     // page faults in the measured phase
  uint64_t checksum = 0;   // sum of the data read back (allocator independent)
  uint64_t corrupt = 0;    // words read back that differed from what was written
  std::vector<std::pair<std::string, std::string>> extra;  // workload-specific keys

  void add(const std::string& key, const std::string& value) { extra.emplace_back(key, value); }
  void add(const std::string& key, uint64_t value) { add(key, std::to_string(value)); }
  void add(const std::string& key, double value) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.6g", value);
    add(key, std::string(buf));
  }
  void set_phase(const Phase& phase) {
    seconds = phase.seconds();
    faults = phase.faults();
  }
};

// Prints the RESULT line to stdout and returns the process exit code (2 if corrupt).
inline int print_result(const Result& r) {
  const double ns_per_op = r.ops ? r.seconds * 1e9 / static_cast<double>(r.ops) : 0.0;
  const double ops_per_sec = r.seconds > 0 ? static_cast<double>(r.ops) / r.seconds : 0.0;
  const double faults_per_1m =
      r.ops ? static_cast<double>(r.faults) * 1e6 / static_cast<double>(r.ops) : 0.0;
  std::printf("RESULT workload=%s threads=%u ops=%" PRIu64 " seconds=%.6f ns_per_op=%.3f"
              " ops_per_sec=%.1f faults=%" PRIu64 " faults_per_1m=%.1f peak_rss_kb=%" PRIu64
              " final_rss_kb=%" PRIu64 " checksum=0x%016" PRIx64 " corrupt=%" PRIu64,
              r.workload.c_str(), r.threads, r.ops, r.seconds, ns_per_op, ops_per_sec, r.faults,
              faults_per_1m, peak_rss_kb(), rss_kb(), r.checksum, r.corrupt);
  for (const auto& [key, value] : r.extra) std::printf(" %s=%s", key.c_str(), value.c_str());
  std::printf("\n");
  std::fflush(stdout);
  if (r.corrupt != 0) {
    std::fprintf(stderr, "%s: %" PRIu64 " corrupt words read back\n", r.workload.c_str(),
                 r.corrupt);
    return 2;
  }
  return 0;
}

}  // namespace hakbench
