#include "format_util.hpp"

#include <fmt/format.h>
#include <time.h>

#include <cmath>
#include <cstring>
#include <ctime>

namespace hakstat::fmtu {

std::string grp(std::uint64_t v) {
  std::string digits = std::to_string(v);
  std::string out;
  int n = static_cast<int>(digits.size());
  for (int i = 0; i < n; ++i) {
    if (i > 0 && (n - i) % 3 == 0) out += ',';
    out += digits[static_cast<std::size_t>(i)];
  }
  return out;
}

std::string bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024.0 && u < 4) {
    b /= 1024.0;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f} B", b) : fmt::format("{:.1f} {}", b, units[u]);
}

std::string dur(double ns) {
  if (ns < 1000.0) return fmt::format("{:.0f} ns", ns);
  if (ns < 1e6) return fmt::format("{:.1f} us", ns / 1e3);
  if (ns < 1e9) return fmt::format("{:.2f} ms", ns / 1e6);
  return fmt::format("{:.2f} s", ns / 1e9);
}

std::string uptime(double ns) {
  double s = ns / 1e9;
  if (s < 60.0) return dur(ns);
  auto t = static_cast<std::uint64_t>(s);
  if (t < 3600) return fmt::format("{}m{:02d}s", t / 60, t % 60);
  return fmt::format("{}h{:02d}m{:02d}s", t / 3600, t / 60 % 60, t % 60);
}

std::string pct(double num, double den) {
  if (den <= 0) return "-";
  return fmt::format("{:.2f}%", 100.0 * num / den);
}

std::string rate_str(double r) {
  if (std::isnan(r)) return "-";
  if (r >= 100.0) return grp(static_cast<std::uint64_t>(std::llround(r)));
  return fmt::format("{:.1f}", r);
}

std::string local_time(std::uint64_t ns) {
  time_t t = static_cast<time_t>(ns / 1000000000ull);
  struct tm tm;
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string iso_utc(std::uint64_t ns) {
  if (ns == 0) return "";
  time_t t = static_cast<time_t>(ns / 1000000000ull);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03d}Z", buf, static_cast<int>(ns / 1000000ull % 1000));
}

std::string safe_name(const char* s, std::size_t n) { return std::string(s, strnlen(s, n)); }

double since_ns(std::uint64_t later, std::uint64_t earlier) {
  return later > earlier ? static_cast<double>(later - earlier) : 0.0;
}

double counted_seconds(const hakmem_profile_header& h) {
  std::uint64_t from = h.reset_time_ns ? h.reset_time_ns : h.start_time_ns;
  return since_ns(h.updated_time_ns, from) / 1e9;
}

std::string label_escape(const std::string& v) {
  std::string out;
  for (char ch : v) {
    if (ch == '\\')
      out += "\\\\";
    else if (ch == '"')
      out += "\\\"";
    else if (ch == '\n')
      out += "\\n";
    else
      out += ch;
  }
  return out;
}

void metric_head(std::string& out, const std::string& name, const char* type,
                 const std::string& help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

std::string unix_s(std::uint64_t ns) {
  return fmt::format("{}.{:03d}", ns / 1000000000ull, ns / 1000000ull % 1000);
}

std::string num(double v) {
  if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{:.0f}", v);
  return fmt::format("{:.9g}", v);
}

Rates::Rates(const hakmem_profile_header& cur, const hakmem_profile_header* prev) {
  if (prev && prev->reset_time_ns == cur.reset_time_ns) {
    windowed_ = true;
    seconds_ = since_ns(cur.updated_time_ns, prev->updated_time_ns) / 1e9;
  } else {
    seconds_ = counted_seconds(cur);  // no previous view, or a reset in between
  }
}

double Rates::of(std::uint64_t now, std::uint64_t before) const {
  if (seconds_ <= 0) return NAN;
  double delta = windowed_ ? (now > before ? static_cast<double>(now - before) : 0.0)
                           : static_cast<double>(now);
  return delta / seconds_;
}

}  // namespace hakstat::fmtu
