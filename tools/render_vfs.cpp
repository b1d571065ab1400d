// The VFS pool section of show / watch, export --json ("vfs") and export --prometheus
// (hakmem_vfs_*), from include/hakmem/vfs_profile_record.h.
#include <fmt/format.h>

#include <algorithm>

#include "format_util.hpp"
#include "render.hpp"
#include "render_common.hpp"

namespace hakstat {
namespace {

using namespace fmtu;
using VfsCounters = hakmem_vfs_profile_counters;

const CounterField<VfsCounters> kVfsFields[] = {
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
  TableRows<VfsCounters> rows(out, c, prev ? &prev->rec.data.counters : nullptr, rates);
  auto line = [&](const std::string& l) { rows.line(l); };

  line(fmt::format("VFS pool: {}{}, record {} (version {}), {} refreshes",
                   liveness_name(v.liveness), v.torn ? " (snapshot torn)" : "", v.path, h.version,
                   grp(h.update_count)));
  if (h.reset_time_ns)
    line(fmt::format("  counters since the reset at {}", local_time(h.reset_time_ns)));
  line(fmt::format("{:<28}{:>16}{:>14}", "Pool writes and reads", "total", "rate/s"));
  rows.row("writes", &VfsCounters::writes, fmt::format("{} created their block", grp(c.write_misses)));
  rows.row("bytes written", &VfsCounters::write_bytes, bytes(static_cast<double>(c.write_bytes)));
  rows.row("block loads", &VfsCounters::loads,
      fmt::format("{} errors; {} blocks written whole, no load", grp(c.load_errors),
                  grp(c.full_chunk_writes)));
  rows.row("reads", &VfsCounters::reads,
      fmt::format("hit ratio {}",
                  pct(static_cast<double>(c.read_hits), static_cast<double>(c.reads))));
  rows.row("bytes read from blocks", &VfsCounters::read_bytes, bytes(static_cast<double>(c.read_bytes)));
  line("Flush and eviction");
  rows.row("file flushes", &VfsCounters::flush_calls, fmt::format("{} errors", grp(c.flush_errors)));
  rows.row("blocks flushed", &VfsCounters::blocks_flushed,
      bytes(static_cast<double>(c.blocks_flushed) * static_cast<double>(c.chunk_size)));
  rows.row("evictions", &VfsCounters::evictions, "clean blocks dropped for the budget");
  rows.row("over-budget allocations", &VfsCounters::over_budget_allocs, "");
  rows.row("truncated blocks", &VfsCounters::truncated_blocks, "");
  line(fmt::format("Blocks of {} (budget {})", bytes(static_cast<double>(c.chunk_size)),
                   bytes(static_cast<double>(c.budget_bytes))));
  rows.value("resident / dirty", fmt::format("{} / {}", grp(c.blocks_resident), grp(c.blocks_dirty)),
       bytes(static_cast<double>(c.blocks_resident) * static_cast<double>(c.chunk_size)) +
           " resident");
  rows.value("live / cached / peak",
       fmt::format("{} / {} / {}", grp(c.blocks_live), grp(c.blocks_cached), grp(c.peak_live)), "");
  rows.row("hak_block_alloc", &VfsCounters::hak_block_allocs, "");
  rows.row("hak_block_free", &VfsCounters::hak_block_frees, "");
  rows.row("reused from the cache", &VfsCounters::blocks_reused, "");
  locks_table(v.rec.data.locks, num_locks(h), "Pool locks", out);
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
  fields_to_json(kVfsFields, c, j);
  auto ratio = [](std::uint64_t num, std::uint64_t den) -> json {
    return den ? json(static_cast<double>(num) / static_cast<double>(den)) : json(nullptr);
  };
  j["derived"] = {{"read_hit_ratio", ratio(c.read_hits, c.reads)},
                  {"bytes_per_write", ratio(c.write_bytes, c.writes)},
                  {"dirty_bytes", c.blocks_dirty * c.chunk_size},
                  {"resident_bytes", c.blocks_resident * c.chunk_size}};
  j["locks"] = locks_to_json(v.rec.data.locks, num_locks(h));
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
  fields_to_prometheus(kVfsFields, d.counters, "hakmem_vfs", out);
  locks_to_prometheus(d.locks, num_locks(h), "hakmem_vfs_lock", "a VFS pool lock", out);
  return out;
}

}  // namespace hakstat
