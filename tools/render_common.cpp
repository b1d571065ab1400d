#include "render_common.hpp"

namespace hakstat {

using namespace fmtu;

void locks_table(const hakmem_profile_lock* locks, unsigned n, const char* title, std::string& out) {
  out += fmt::format("{:<20}{:>14}{:>12}{:>11}{:>13}{:>16}\n", title, "acquisitions", "contended",
                     "contended", "wait total", "wait/contended");
  for (unsigned i = 0; i < n; ++i) {
    const hakmem_profile_lock& l = locks[i];
    out += fmt::format("  {:<18}{:>14}{:>12}{:>11}{:>13}{:>16}\n", safe_name(l.name, sizeof(l.name)),
                       grp(l.acquisitions), grp(l.contended),
                       pct(static_cast<double>(l.contended), static_cast<double>(l.acquisitions)),
                       dur(static_cast<double>(l.wait_ns)),
                       l.contended ? dur(static_cast<double>(l.wait_ns) / static_cast<double>(l.contended))
                                   : "-");
  }
}

nlohmann::ordered_json locks_to_json(const hakmem_profile_lock* locks, unsigned n) {
  nlohmann::ordered_json a = nlohmann::ordered_json::array();
  for (unsigned i = 0; i < n; ++i) {
    const hakmem_profile_lock& l = locks[i];
    a.push_back({{"name", safe_name(l.name, sizeof(l.name))},
                 {"acquisitions", l.acquisitions},
                 {"contended", l.contended},
                 {"wait_ns", l.wait_ns}});
  }
  return a;
}

void locks_to_prometheus(const hakmem_profile_lock* locks, unsigned n, const char* prefix,
                         const char* what, std::string& out) {
  struct Metric {
    const char* suffix;
    std::string help;
    double (*value)(const hakmem_profile_lock&);
  };
  const Metric metrics[] = {
      {"acquisitions_total", fmt::format("Acquisitions of {}.", what),
       [](const hakmem_profile_lock& l) { return static_cast<double>(l.acquisitions); }},
      {"contended_total", "Acquisitions that found the lock held (contended), a subset of acquisitions.",
       [](const hakmem_profile_lock& l) { return static_cast<double>(l.contended); }},
      {"wait_seconds_total", "Time spent waiting in contended acquisitions.",
       [](const hakmem_profile_lock& l) { return static_cast<double>(l.wait_ns) / 1e9; }},
  };
  for (const Metric& m : metrics) {
    const std::string name = fmt::format("{}_{}", prefix, m.suffix);
    metric_head(out, name, "counter", m.help);
    for (unsigned i = 0; i < n; ++i) {
      out += fmt::format("{}{{lock=\"{}\"}} {}\n", name,
                         label_escape(safe_name(locks[i].name, HAKMEM_PROFILE_NAME_LEN)),
                         num(m.value(locks[i])));
    }
  }
}

}  // namespace hakstat
