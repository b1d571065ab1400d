// The parts of the three views that the allocator's record (render.cpp) and the VFS pool's
// (render_vfs.cpp) share: their counter tables (generated from the records' X-macros), the
// "label / total / rate" rows of the table view, and the lock statistics in all three views.
#pragma once

#include <cstdint>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "format_util.hpp"
#include "hakmem/profile_record.h"

namespace hakstat {

// One counter or gauge of a record: name, kind ('c' counter, 'g' gauge), help, member.
template <class Counters>
struct CounterField {
  const char* name;
  char kind;
  const char* help;
  std::uint64_t Counters::*member;
};

// "counters" and "gauges" objects of the JSON view.
template <class Counters, std::size_t N>
void fields_to_json(const CounterField<Counters> (&fields)[N], const Counters& c,
                    nlohmann::ordered_json& j) {
  nlohmann::ordered_json counters = nlohmann::ordered_json::object();
  nlohmann::ordered_json gauges = nlohmann::ordered_json::object();
  for (const CounterField<Counters>& f : fields) (f.kind == 'c' ? counters : gauges)[f.name] = c.*f.member;
  j["counters"] = counters;
  j["gauges"] = gauges;
}

// One Prometheus metric per field: PREFIX_name_total (counter) or PREFIX_name (gauge).
template <class Counters, std::size_t N>
void fields_to_prometheus(const CounterField<Counters> (&fields)[N], const Counters& c,
                          const char* prefix, std::string& out) {
  for (const CounterField<Counters>& f : fields) {
    const std::string name = fmt::format("{}_{}{}", prefix, f.name, f.kind == 'c' ? "_total" : "");
    fmtu::metric_head(out, name, f.kind == 'c' ? "counter" : "gauge", std::string(f.help) + ".");
    out += fmt::format("{} {}\n", name, c.*f.member);
  }
}

// Rows of the table view: a counter with its rate (since start/reset, or since prev), or a
// value without one.
template <class Counters>
class TableRows {
 public:
  TableRows(std::string& out, const Counters& c, const Counters* prev, const fmtu::Rates& rates)
      : out_(out), c_(c), prev_(prev), rates_(rates) {}
  void line(const std::string& l) { out_ += l + '\n'; }
  void row(const std::string& label, std::uint64_t Counters::*m, const std::string& note) {
    const std::uint64_t before = prev_ ? prev_->*m : 0;
    line(fmt::format("  {:<26}{:>16}{:>14}  {}", label, fmtu::grp(c_.*m),
                     fmtu::rate_str(rates_.of(c_.*m, before)), note));
  }
  void value(const std::string& label, const std::string& v, const std::string& note) {
    line(fmt::format("  {:<26}{:>16}{:>14}  {}", label, v, "", note));
  }

 private:
  std::string& out_;
  const Counters& c_;
  const Counters* prev_;
  const fmtu::Rates& rates_;
};

// Locks: acquisitions, contended acquisitions and waiting kept apart (an idle waiter and a
// contended lock look alike in a futex trace).
void locks_table(const hakmem_profile_lock* locks, unsigned n, const char* title, std::string& out);
nlohmann::ordered_json locks_to_json(const hakmem_profile_lock* locks, unsigned n);
// PREFIX_acquisitions_total, PREFIX_contended_total, PREFIX_wait_seconds_total, each with a
// lock="name" label; `what` completes the first help text ("Acquisitions of <what>.").
void locks_to_prometheus(const hakmem_profile_lock* locks, unsigned n, const char* prefix,
                         const char* what, std::string& out);

}  // namespace hakstat
