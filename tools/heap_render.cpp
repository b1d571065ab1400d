// Text views of a heap profile: the call-site tables, folded stacks, JSON, and the diff.
#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "heap_profile.hpp"

namespace hakstat {

std::string human_bytes(std::uint64_t b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", b) : fmt::format("{:.1f} {}", v, units[u]);
}

namespace {

std::string frame_text(const Frame& f) {
  std::string s = f.function;
  if (!f.file.empty()) {
    auto slash = f.file.rfind('/');
    s += fmt::format(" ({}:{})", slash == std::string::npos ? f.file : f.file.substr(slash + 1), f.line);
  }
  return s;
}

void site_lines(std::string& out, const Site& s, unsigned depth) {
  unsigned shown = 0;
  for (auto it = s.frames.rbegin(); it != s.frames.rend() && shown < depth; ++it, ++shown) {
    out += fmt::format("      {} {}\n", shown == 0 ? "at" : "  ", frame_text(*it));
  }
}

double pct(std::uint64_t a, std::uint64_t total) {
  return total ? 100.0 * static_cast<double>(a) / static_cast<double>(total) : 0.0;
}

}  // namespace

std::string render_heap_table(const HeapProfile& p, unsigned top, unsigned depth) {
  std::string out;
  if (p.processes > 1) {
    out += fmt::format("heap profile of {} processes (sampled, one sample per {} on average)\n",
                       p.processes, human_bytes(p.sample_bytes));
  } else {
    out += fmt::format("heap profile of pid {} ({}), one sample per {} on average\n", p.pid,
                       p.comm, human_bytes(p.sample_bytes));
  }
  out += fmt::format("  live     {} in {} allocations (estimated; {} samples live)\n",
                     human_bytes(p.live_bytes), p.live_objects, p.live_samples);
  out += fmt::format("  peak     {}\n", human_bytes(p.peak_bytes));
  out += fmt::format("  total    {} in {} allocations ({} samples)\n", human_bytes(p.alloc_bytes),
                     p.alloc_objects, p.samples);
  if (p.dropped_stacks || p.dropped_live) {
    out += fmt::format("  dropped  {} samples without a stack entry, {} untracked until free\n",
                       p.dropped_stacks, p.dropped_live);
  }
  std::vector<const Site*> v;
  for (const Site& s : p.sites) v.push_back(&s);
  std::sort(v.begin(), v.end(), [](const Site* a, const Site* b) {
    return a->live_bytes != b->live_bytes ? a->live_bytes > b->live_bytes : a->key() < b->key();
  });
  out += "\ntop call sites by live bytes\n";
  out += fmt::format("  {:>4} {:>11} {:>6} {:>11} {:>8}\n", "#", "live", "%", "objects", "samples");
  unsigned rank = 0;
  for (const Site* s : v) {
    if (s->live_bytes == 0 || rank >= top) break;
    out += fmt::format("  {:>4} {:>11} {:>5.1f}% {:>11} {:>8}\n", ++rank, human_bytes(s->live_bytes),
                       pct(s->live_bytes, p.live_bytes), s->live_objects, s->live_samples);
    site_lines(out, *s, depth);
  }
  if (rank == 0) out += "  (no live samples)\n";
  std::sort(v.begin(), v.end(), [](const Site* a, const Site* b) {
    return a->alloc_objects != b->alloc_objects ? a->alloc_objects > b->alloc_objects : a->key() < b->key();
  });
  out += "\ntop call sites by allocations\n";
  out += fmt::format("  {:>4} {:>11} {:>6} {:>11} {:>8}\n", "#", "allocs", "%", "bytes", "samples");
  rank = 0;
  for (const Site* s : v) {
    if (rank >= top) break;
    out += fmt::format("  {:>4} {:>11} {:>5.1f}% {:>11} {:>8}\n", ++rank, s->alloc_objects,
                       pct(s->alloc_objects, p.alloc_objects), human_bytes(s->alloc_bytes), s->samples);
    site_lines(out, *s, depth);
  }
  return out;
}

std::string render_folded(const HeapProfile& p, bool alloc) {
  std::map<std::string, std::uint64_t> folded;
  for (const Site& s : p.sites) {
    std::uint64_t v = alloc ? s.alloc_bytes : s.live_bytes;
    if (v) folded[s.key()] += v;
  }
  std::string out;
  for (const auto& [k, v] : folded) out += fmt::format("{} {}\n", k, v);
  return out;
}

nlohmann::ordered_json heap_to_json(const HeapProfile& p) {
  nlohmann::ordered_json j;
  j["format"] = "hakmem-heap-profile";
  j["version"] = 1;
  j["pid"] = p.pid;
  j["comm"] = p.comm;
  j["processes"] = p.processes;
  j["sample_bytes"] = p.sample_bytes;
  for (const auto& [name, field] : kCountFields) j[name] = p.*field;
  j["peak_bytes"] = p.peak_bytes;
  j["dropped_stacks"] = p.dropped_stacks;
  j["dropped_live"] = p.dropped_live;
  j["nested_allocs"] = p.nested_allocs;
  auto sites = nlohmann::ordered_json::array();
  for (const Site& s : p.sites) {
    nlohmann::ordered_json js;
    for (const auto& [name, field] : kCountFields) js[name] = s.*field;
    auto frames = nlohmann::ordered_json::array();  // root first
    for (const Frame& f : s.frames) {
      frames.push_back({{"function", f.function}, {"file", f.file}, {"line", f.line},
                        {"module", f.module}, {"address", f.addr}});
    }
    js["frames"] = frames;
    sites.push_back(js);
  }
  j["sites"] = sites;
  return j;
}

HeapProfile heap_from_json(const nlohmann::json& j) {
  if (j.value("format", "") != "hakmem-heap-profile") {
    throw Error("not a hakmem heap profile export (hakmem-stat heap PID --json)");
  }
  HeapProfile p;
  p.pid = j.value("pid", 0L);
  p.comm = j.value("comm", "");
  p.processes = j.value("processes", 1ull);
  p.sample_bytes = j.value("sample_bytes", 0ull);
  for (const auto& [name, field] : kCountFields) p.*field = j.value(name, 0ull);
  p.peak_bytes = j.value("peak_bytes", 0ull);
  for (const auto& js : j.at("sites")) {
    Site s;
    for (const auto& [name, field] : kCountFields) s.*field = js.value(name, 0ull);
    for (const auto& jf : js.at("frames")) {
      s.frames.push_back(Frame{jf.value("address", 0ull), jf.value("function", ""),
                               jf.value("file", ""), jf.value("line", 0), jf.value("module", "")});
    }
    p.sites.push_back(std::move(s));
  }
  return p;
}

std::string render_heap_diff(const HeapProfile& before, const HeapProfile& now, unsigned top) {
  struct Row {
    const Site* site;
    std::int64_t was, is;
  };
  std::map<std::string, Row> rows;
  for (const Site& s : before.sites) {
    auto& r = rows.try_emplace(s.key(), Row{&s, 0, 0}).first->second;
    r.was += static_cast<std::int64_t>(s.live_bytes);
  }
  for (const Site& s : now.sites) {
    auto& r = rows.try_emplace(s.key(), Row{&s, 0, 0}).first->second;
    r.site = &s;
    r.is += static_cast<std::int64_t>(s.live_bytes);
  }
  std::vector<Row> v;
  for (auto& [k, r] : rows) {
    if (r.is != r.was) v.push_back(r);
  }
  std::sort(v.begin(), v.end(), [](const Row& a, const Row& b) {
    std::int64_t da = a.is - a.was, db = b.is - b.was;
    return da != db ? da > db : a.site->key() < b.site->key();
  });
  auto sbytes = [](std::int64_t d) {
    return fmt::format("{}{}", d < 0 ? '-' : '+', human_bytes(static_cast<std::uint64_t>(d < 0 ? -d : d)));
  };
  std::string out = fmt::format(
      "live bytes: {} -> {} ({})\n\ncall sites by growth\n  {:>4} {:>12} {:>11} {:>11}\n",
      human_bytes(before.live_bytes), human_bytes(now.live_bytes),
      sbytes(static_cast<std::int64_t>(now.live_bytes) - static_cast<std::int64_t>(before.live_bytes)),
      "#", "growth", "before", "now");
  unsigned rank = 0;
  for (const Row& r : v) {
    if (rank >= top) break;
    out += fmt::format("  {:>4} {:>12} {:>11} {:>11}\n", ++rank, sbytes(r.is - r.was),
                       human_bytes(static_cast<std::uint64_t>(r.was)),
                       human_bytes(static_cast<std::uint64_t>(r.is)));
    site_lines(out, *r.site, 3);
  }
  if (rank == 0) out += "  (no change)\n";
  return out;
}

}  // namespace hakstat
