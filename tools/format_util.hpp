// Number, byte, time and rate formatting shared by the views of both records
// (render.cpp: the allocator's, render_vfs.cpp: the VFS pool's).
#pragma once

#include <cstdint>
#include <string>

#include "hakmem/profile_record.h"

namespace hakstat::fmtu {

std::string grp(std::uint64_t v);         // 1,234,567
std::string bytes(double b);              // 12.3 MiB
std::string dur(double ns);               // 850 ns, 1.2 us, 3.40 ms, 2.00 s
std::string uptime(double ns);            // 42.0 ms, 3m05s, 1h02m03s
std::string pct(double num, double den);  // 12.34%, or "-" when den is 0
std::string rate_str(double r);           // "-" for NaN
std::string local_time(std::uint64_t ns);
std::string iso_utc(std::uint64_t ns);  // 2026-11-29T12:00:00.000Z
std::string safe_name(const char* s, std::size_t n);
double since_ns(std::uint64_t later, std::uint64_t earlier);
// Seconds the counters cover: from the start (or last reset) to the last refresh.
double counted_seconds(const hakmem_profile_header& h);

// Prometheus text format pieces.
std::string label_escape(const std::string& v);
void metric_head(std::string& out, const std::string& name, const char* type,
                 const std::string& help);
std::string unix_s(std::uint64_t ns);  // Unix time in seconds, millisecond precision
std::string num(double v);

// Rates: per second since start/reset, or since the previous snapshot (watch) when both
// cover the same reset period.
class Rates {
 public:
  Rates(const hakmem_profile_header& cur, const hakmem_profile_header* prev);
  double of(std::uint64_t now, std::uint64_t before) const;  // before: the previous value
  bool windowed() const { return windowed_; }

 private:
  bool windowed_ = false;
  double seconds_ = 0;
};

}  // namespace hakstat::fmtu
