// The VFS pool section of show / watch, export --json ("vfs") and export --prometheus
// (hakmem_vfs_*), from include/hakmem/vfs_profile_record.h.
#include <fmt/format.h>

#include <algorithm>

#include "format_util.hpp"
#include "render.hpp"

namespace hakstat {
namespace {

using namespace fmtu;
using VfsCounters = hakmem_vfs_profile_counters;

struct VfsField {
  const char* name;
  char kind;  // 'c' counter, 'g' gauge
  const char* help;
  std::uint64_t VfsCounters::*member;
};

const VfsField kVfsFields[] = {
#define HAKSTAT_VFS_FIELD_(name, kind, help) {#name, kind, help, &VfsCounters::name},
    HAKMEM_VFS_PROFILE_COUNTERS(HAKSTAT_VFS_FIELD_)
#undef HAKSTAT_VFS_FIELD_
};

unsigned num_locks(const hakmem_profile_header& h) {
  return std::min<unsigned>(h.num_locks, HAKMEM_VFS_PROFILE_MAX_LOCKS);
}

}  // namespace

std::string render_vfs_table(const VfsSnapshot& v, const VfsSnapshot* prev) {
  const hakmem_profile_header& h = v.rec.header;
  const VfsCounters& c = v.rec.data.counters;
  Rates rates(h, prev ? &prev->rec.header : nullptr);
  std::string out;
  auto line = [&](const std::string& l) { out += l + '\n'; };
  auto row = [&](const std::string& label, std::uint64_t VfsCounters::*m, const std::string& note) {
    std::uint64_t before = prev ? prev->rec.data.counters.*m : 0;
    line(fmt::format("  {:<26}{:>16}{:>14}  {}", label, grp(c.*m), rate_str(rates.of(c.*m, before)),
                     note));
  };
  auto vrow = [&](const std::string& label, const std::string& value, const std::string& note) {
    line(fmt::format("  {:<26}{:>16}{:>14}  {}", label, value, "", note));
  };

  line(fmt::format("VFS pool: {}{}, record {} (version {}), {} refreshes",
                   liveness_name(v.liveness), v.torn ? " (snapshot torn)" : "", v.path, h.version,
                   grp(h.update_count)));
  if (h.reset_time_ns)
    line(fmt::format("  counters since the reset at {}", local_time(h.reset_time_ns)));
  line(fmt::format("{:<28}{:>16}{:>14}", "Pool writes and reads", "total", "rate/s"));
  row("writes", &VfsCounters::writes, fmt::format("{} created their block", grp(c.write_misses)));
  row("bytes written", &VfsCounters::write_bytes, bytes(static_cast<double>(c.write_bytes)));
  row("block loads", &VfsCounters::loads,
      fmt::format("{} errors; {} blocks written whole, no load", grp(c.load_errors),
                  grp(c.full_chunk_writes)));
  row("reads", &VfsCounters::reads,
      fmt::format("hit ratio {}",
                  pct(static_cast<double>(c.read_hits), static_cast<double>(c.reads))));
  row("bytes read from blocks", &VfsCounters::read_bytes, bytes(static_cast<double>(c.read_bytes)));
  line("Flush and eviction");
  row("file flushes", &VfsCounters::flush_calls, fmt::format("{} errors", grp(c.flush_errors)));
  row("blocks flushed", &VfsCounters::blocks_flushed,
      bytes(static_cast<double>(c.blocks_flushed) * static_cast<double>(c.chunk_size)));
  row("evictions", &VfsCounters::evictions, "clean blocks dropped for the budget");
  row("over-budget allocations", &VfsCounters::over_budget_allocs, "");
  row("truncated blocks", &VfsCounters::truncated_blocks, "");
  line(fmt::format("Blocks of {} (budget {})", bytes(static_cast<double>(c.chunk_size)),
                   bytes(static_cast<double>(c.budget_bytes))));
  vrow("resident / dirty", fmt::format("{} / {}", grp(c.blocks_resident), grp(c.blocks_dirty)),
       bytes(static_cast<double>(c.blocks_resident) * static_cast<double>(c.chunk_size)) +
           " resident");
  vrow("live / cached / peak",
       fmt::format("{} / {} / {}", grp(c.blocks_live), grp(c.blocks_cached), grp(c.peak_live)), "");
  row("hak_block_alloc", &VfsCounters::hak_block_allocs, "");
  row("hak_block_free", &VfsCounters::hak_block_frees, "");
  row("reused from the cache", &VfsCounters::blocks_reused, "");
  line(fmt::format("{:<20}{:>14}{:>12}{:>11}{:>13}{:>16}", "Pool locks", "acquisitions",
                   "contended", "contended", "wait total", "wait/contended"));
  for (unsigned i = 0; i < num_locks(h); ++i) {
    const hakmem_profile_lock& l = v.rec.data.locks[i];
    line(fmt::format("  {:<18}{:>14}{:>12}{:>11}{:>13}{:>16}", safe_name(l.name, sizeof(l.name)),
                     grp(l.acquisitions), grp(l.contended),
                     pct(static_cast<double>(l.contended), static_cast<double>(l.acquisitions)),
                     dur(static_cast<double>(l.wait_ns)),
                     l.contended
                         ? dur(static_cast<double>(l.wait_ns) / static_cast<double>(l.contended))
                         : "-"));
  }
  return out;
}

nlohmann::ordered_json vfs_to_json(const VfsSnapshot& v) {
  using json = nlohmann::ordered_json;
  const hakmem_profile_header& h = v.rec.header;
  const VfsCounters& c = v.rec.data.counters;
  json j;
  j["schema"] = "hakmem-vfs-profile";
  j["record_version"] = h.version;
  j["path"] = v.path;
  j["state"] = liveness_name(v.liveness);
  j["torn"] = v.torn;
  j["start_time_ns"] = h.start_time_ns;
  j["updated_time_ns"] = h.updated_time_ns;
  j["reset_time_ns"] = h.reset_time_ns;
  j["counted_s"] = counted_seconds(h);
  j["interval_ms"] = h.interval_ms;
  j["update_count"] = h.update_count;
  json counters = json::object(), gauges = json::object();
  for (const VfsField& f : kVfsFields) (f.kind == 'c' ? counters : gauges)[f.name] = c.*f.member;
  j["counters"] = counters;
  j["gauges"] = gauges;
  auto ratio = [](std::uint64_t num, std::uint64_t den) -> json {
    return den ? json(static_cast<double>(num) / static_cast<double>(den)) : json(nullptr);
  };
  j["derived"] = {{"read_hit_ratio", ratio(c.read_hits, c.reads)},
                  {"bytes_per_write", ratio(c.write_bytes, c.writes)},
                  {"dirty_bytes", c.blocks_dirty * c.chunk_size},
                  {"resident_bytes", c.blocks_resident * c.chunk_size}};
  json locks = json::array();
  for (unsigned i = 0; i < num_locks(h); ++i) {
    const hakmem_profile_lock& l = v.rec.data.locks[i];
    locks.push_back({{"name", safe_name(l.name, sizeof(l.name))},
                     {"acquisitions", l.acquisitions},
                     {"contended", l.contended},
                     {"wait_ns", l.wait_ns}});
  }
  j["locks"] = locks;
  return j;
}

std::string vfs_to_prometheus(const VfsSnapshot& v) {
  const hakmem_profile_header& h = v.rec.header;
  const hakmem_vfs_profile_data& d = v.rec.data;
  std::string out;
  metric_head(out, "hakmem_vfs_info", "gauge", "VFS pool record of the process (value 1).");
  out += fmt::format("hakmem_vfs_info{{record_version=\"{}\",state=\"{}\"}} 1\n", h.version,
                     liveness_name(v.liveness));
  metric_head(out, "hakmem_vfs_last_update_time_seconds", "gauge",
              "Last refresh of the VFS pool record, Unix time.");
  out += fmt::format("hakmem_vfs_last_update_time_seconds {}\n", unix_s(h.updated_time_ns));
  for (const VfsField& f : kVfsFields) {
    std::string name = fmt::format("hakmem_vfs_{}{}", f.name, f.kind == 'c' ? "_total" : "");
    metric_head(out, name, f.kind == 'c' ? "counter" : "gauge", std::string(f.help) + ".");
    out += fmt::format("{} {}\n", name, d.counters.*f.member);
  }
  struct LockMetric {
    const char* name;
    const char* type;
    const char* help;
    double (*value)(const hakmem_profile_lock&);
  };
  const LockMetric metrics[] = {
      {"hakmem_vfs_lock_acquisitions_total", "counter", "Acquisitions of a VFS pool lock.",
       [](const hakmem_profile_lock& l) { return static_cast<double>(l.acquisitions); }},
      {"hakmem_vfs_lock_contended_total", "counter",
       "Acquisitions that found the lock held (contended), a subset of acquisitions.",
       [](const hakmem_profile_lock& l) { return static_cast<double>(l.contended); }},
      {"hakmem_vfs_lock_wait_seconds_total", "counter",
       "Time spent waiting in contended acquisitions.",
       [](const hakmem_profile_lock& l) { return static_cast<double>(l.wait_ns) / 1e9; }},
  };
  for (const LockMetric& m : metrics) {
    metric_head(out, m.name, m.type, m.help);
    for (unsigned i = 0; i < num_locks(h); ++i) {
      out += fmt::format("{}{{lock=\"{}\"}} {}\n", m.name,
                         label_escape(safe_name(d.locks[i].name, HAKMEM_PROFILE_NAME_LEN)),
                         num(m.value(d.locks[i])));
    }
  }
  return out;
}

}  // namespace hakstat
