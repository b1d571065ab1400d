#include "render.hpp"

#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "format_util.hpp"
#include "render_common.hpp"
#include "render_memory.hpp"

namespace hakstat {
namespace {

using namespace fmtu;

using Counters = hakmem_profile_counters;

const CounterField<Counters> kFields[] = {
#define HAKSTAT_FIELD_(name, kind, help) {#name, kind, help, &Counters::name},
    HAKMEM_PROFILE_COUNTERS(HAKSTAT_FIELD_)
#undef HAKSTAT_FIELD_
};

constexpr double kPage = 4096.0;

// Upper bound (ns) of the bucket holding quantile q.
double quantile_upper(const hakmem_profile_histogram& h, double q) {
  if (h.count == 0) return 0;
  std::uint64_t want = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(h.count)));
  if (want == 0) want = 1;
  std::uint64_t seen = 0;
  for (unsigned b = 0; b < HAKMEM_PROFILE_BUCKETS; ++b) {
    seen += h.buckets[b];
    if (seen >= want) return std::ldexp(1.0, static_cast<int>(b) + 1);
  }
  return static_cast<double>(h.max_ns);
}

unsigned num_locks(const hakmem_profile_header& h) {
  return std::min<unsigned>(h.num_locks, HAKMEM_PROFILE_MAX_LOCKS);
}
unsigned num_hists(const hakmem_profile_header& h) {
  return std::min<unsigned>(h.num_hists, HAKMEM_PROFILE_MAX_HISTS);
}
unsigned num_classes(const hakmem_profile_header& h) {
  return std::min<unsigned>(h.num_classes, HAKMEM_PROFILE_MAX_CLASSES);
}

}  // namespace

std::string render_table(const Snapshot& s, const Snapshot* prev) {
  const hakmem_profile_header& h = s.rec.header;
  const Counters& c = s.rec.data.counters;
  Rates rates(h, prev ? &prev->rec.header : nullptr);
  std::string out;
  auto line = [&](const std::string& l) { out += l + '\n'; };

  line(fmt::format("hakmem profile of pid {} ({}): {}{}", h.pid, safe_name(h.comm, sizeof(h.comm)),
                   liveness_name(s.liveness),
                   s.torn ? ", snapshot torn (writer died mid-update)" : ""));
  line(fmt::format("  record {} (version {}), refreshed every {} ms, {} refreshes, last {} ago",
                   s.path, h.version, h.interval_ms, grp(h.update_count),
                   dur(since_ns(s.read_time_ns, h.updated_time_ns))));
  line(fmt::format("  started {}, up {}", local_time(h.start_time_ns),
                   uptime(since_ns(h.updated_time_ns, h.start_time_ns))));
  if (h.reset_time_ns) {
    line(fmt::format("  counters since the reset at {} ({} before the last refresh)",
                     local_time(h.reset_time_ns),
                     dur(since_ns(h.updated_time_ns, h.reset_time_ns))));
  }
  line(rates.windowed() ? "  rates: per second over the last interval"
                        : "  rates: per second averaged since start or reset");
  line("");

  TableRows<Counters> rows(out, c, prev ? &prev->rec.data.counters : nullptr, rates);

  // Each call is counted once, under the entry point the program called.
  line(fmt::format("{:<28}{:>16}{:>14}", "Calls", "total", "rate/s"));
  rows.row("malloc", &Counters::malloc_calls, "any size");
  rows.row("free", &Counters::free_calls, "any size");
  rows.row("calloc", &Counters::calloc_calls, "");
  rows.row("realloc", &Counters::realloc_calls, "");
  rows.row("aligned", &Counters::aligned_calls, "posix_memalign, aligned_alloc, memalign, valloc");
  rows.row("new", &Counters::new_calls, "every form");
  rows.row("delete", &Counters::delete_calls, "every form");
  line("Bytes");
  rows.row("requested", &Counters::bytes_requested,
      bytes(static_cast<double>(c.bytes_requested)) + "; not malloc/new <= 32 KiB");
  rows.row("served", &Counters::bytes_served,
      c.bytes_requested
          ? fmt::format("{}; {:.3f} per byte requested", bytes(static_cast<double>(c.bytes_served)),
                        static_cast<double>(c.bytes_served) /
                            static_cast<double>(c.bytes_requested))
          : "");
  line("Thread cache");
  rows.row("objects handed out", &Counters::cache_allocs, "<= 32 KiB, every entry point");
  rows.row("objects taken back", &Counters::cache_frees, "");
  rows.row("refills", &Counters::refills,
      c.refills
          ? fmt::format("1 per {:.1f} objects; hit ratio {}",
                        static_cast<double>(c.cache_allocs) / static_cast<double>(c.refills),
                        pct(static_cast<double>(c.cache_allocs) - static_cast<double>(c.refills),
                            static_cast<double>(c.cache_allocs)))
          : "");
  rows.row("flushes", &Counters::flushes,
      c.flushes ? fmt::format("free hit ratio {}", pct(static_cast<double>(c.cache_frees) -
                                                           static_cast<double>(c.flushes),
                                                       static_cast<double>(c.cache_frees)))
                : "");
  rows.row("remote frees", &Counters::remote_frees,
      c.remote_batches
          ? fmt::format("{:.1f} objects per batch",
                        static_cast<double>(c.remote_frees) / static_cast<double>(c.remote_batches))
          : "");
  rows.row("remote batches", &Counters::remote_batches, "atomic pushes");
  line("SuperSlabs (2 MiB)");
  rows.row("mapped from the OS", &Counters::superslabs_mapped, "");
  rows.value("in use / reserve", fmt::format("{} / {}", c.superslabs_in_use, c.superslabs_reserved),
       "reserve: empty, kept warm");
  rows.value("purged / orphaned", fmt::format("{} / {}", c.superslabs_purged, c.superslabs_orphaned), "");
  rows.row("purge rounds", &Counters::purge_rounds, "");
  line("Memory");
  rows.value("mapped now", bytes(static_cast<double>(c.bytes_mapped)), "");
  rows.row("bytes populated", &Counters::bytes_populated,
      fmt::format("{} pre-faulted = {} page faults avoided",
                  bytes(static_cast<double>(c.bytes_populated)),
                  grp(static_cast<std::uint64_t>(static_cast<double>(c.bytes_populated) / kPage))));
  rows.row("bytes purged (DONTNEED)", &Counters::bytes_purged,
      bytes(static_cast<double>(c.bytes_purged)));
  rows.row("bytes purged (FREE)", &Counters::bytes_purged_lazy,
      bytes(static_cast<double>(c.bytes_purged_lazy)));
  rows.row("mmap calls", &Counters::mmap_calls, "");
  rows.row("munmap calls", &Counters::munmap_calls, "");
  rows.row("madvise calls", &Counters::madvise_calls, "");
  rows.row("huge pages (THP)", &Counters::hugepages_thp, "SuperSlabs advised MADV_HUGEPAGE");
  rows.row("huge pages (hugetlb)", &Counters::hugepages_hugetlb, "");
  rows.row("page faults, slow paths", &Counters::page_faults_slow_path,
      c.refills ? fmt::format("{:.2f} per refill", static_cast<double>(c.page_faults_slow_path) /
                                                       static_cast<double>(c.refills))
                : "");
  line("Huge objects");
  rows.row("allocated", &Counters::large_allocs, "");
  rows.row("cache hits", &Counters::large_cache_hits,
      fmt::format("hit ratio {}",
                  pct(static_cast<double>(c.large_cache_hits),
                      static_cast<double>(c.large_cache_hits + c.large_cache_misses))));
  rows.row("cache misses", &Counters::large_cache_misses, "");
  rows.value("cached / live",
       fmt::format("{} / {}", bytes(static_cast<double>(c.large_cached_bytes)),
                   bytes(static_cast<double>(c.large_live_bytes))),
       "");
  line("Errors and threads");
  rows.row("invalid frees", &Counters::invalid_frees, "");
  rows.row("double frees", &Counters::double_frees, "");
  rows.row("threads created", &Counters::threads_created, "");
  rows.row("threads exited", &Counters::threads_exited, "");
  line("");

  render_memory_table(s, out);
  line("");

  locks_table(s.rec.data.locks, num_locks(h), "Locks", out);
  line("");

  line(fmt::format("{:<20}{:>12}{:>11}{:>11}{:>11}{:>11}{:>12}", "Slow-path latency", "count",
                   "mean", "p50 <=", "p99 <=", "max", "total"));
  for (unsigned i = 0; i < num_hists(h); ++i) {
    const hakmem_profile_histogram& hg = s.rec.data.hists[i];
    double mean = hg.count ? static_cast<double>(hg.sum_ns) / static_cast<double>(hg.count) : 0;
    line(fmt::format(
        "  {:<18}{:>12}{:>11}{:>11}{:>11}{:>11}{:>12}", safe_name(hg.name, sizeof(hg.name)),
        grp(hg.count), hg.count ? dur(mean) : "-", hg.count ? dur(quantile_upper(hg, 0.5)) : "-",
        hg.count ? dur(quantile_upper(hg, 0.99)) : "-",
        hg.count ? dur(static_cast<double>(hg.max_ns)) : "-", dur(static_cast<double>(hg.sum_ns))));
  }
  line("");

  // With a memory breakdown, each class's bytes too (free: inside slabs and their tails).
  const hakmem_profile_memory& mem = s.rec.data.memory;
  const bool with_mem = (mem.flags & HAKMEM_PROFILE_MEMORY_VALID) != 0;
  line(fmt::format("{:<20}{:>8}{:>14}{:>14}{}", "Size classes", "size", "refills", "flushes",
                   with_mem ? memory_class_header() : ""));
  unsigned shown = 0;
  for (unsigned i = 0; i < num_classes(h); ++i) {
    std::uint64_t r = s.rec.data.class_refills[i], f = s.rec.data.class_flushes[i];
    if (r == 0 && f == 0 && !(with_mem && memory_class_any(mem, i))) continue;
    line(fmt::format("  class {:<12}{:>8}{:>14}{:>14}{}", i, s.rec.data.class_size[i], grp(r),
                     grp(f), memory_class_columns(mem, i)));
    ++shown;
  }
  if (shown == 0) line("  (no refills or flushes yet)");
  if (s.vfs) {
    line("");
    out += render_vfs_table(*s.vfs, prev && prev->vfs ? &*prev->vfs : nullptr);
  }
  return out;
}

nlohmann::ordered_json to_json(const Snapshot& s) {
  using json = nlohmann::ordered_json;
  const hakmem_profile_header& h = s.rec.header;
  const hakmem_profile_data& d = s.rec.data;
  const Counters& c = d.counters;
  json j;
  j["schema"] = "hakmem-profile";
  j["record_version"] = h.version;
  j["path"] = s.path;
  j["pid"] = h.pid;
  j["comm"] = safe_name(h.comm, sizeof(h.comm));
  j["state"] = liveness_name(s.liveness);
  j["torn"] = s.torn;
  j["start_time_ns"] = h.start_time_ns;
  j["start_time"] = iso_utc(h.start_time_ns);
  j["updated_time_ns"] = h.updated_time_ns;
  j["read_time_ns"] = s.read_time_ns;
  j["reset_time_ns"] = h.reset_time_ns;
  j["uptime_s"] = since_ns(h.updated_time_ns, h.start_time_ns) / 1e9;
  j["counted_s"] = counted_seconds(h);
  j["interval_ms"] = h.interval_ms;
  j["update_count"] = h.update_count;
  fields_to_json(kFields, c, j);
  auto ratio = [](double num, double den) -> json {
    return den > 0 ? json(num / den) : json(nullptr);
  };
  j["derived"] = {
      {"thread_cache_hit_ratio",
       ratio(static_cast<double>(c.cache_allocs) - static_cast<double>(c.refills),
             static_cast<double>(c.cache_allocs))},
      {"free_cache_hit_ratio",
       ratio(static_cast<double>(c.cache_frees) - static_cast<double>(c.flushes),
             static_cast<double>(c.cache_frees))},
      {"bytes_served_per_requested",
       ratio(static_cast<double>(c.bytes_served), static_cast<double>(c.bytes_requested))},
      {"large_cache_hit_ratio",
       ratio(static_cast<double>(c.large_cache_hits),
             static_cast<double>(c.large_cache_hits + c.large_cache_misses))},
      {"page_faults_avoided", c.bytes_populated / 4096},
      {"objects_per_remote_batch",
       ratio(static_cast<double>(c.remote_frees), static_cast<double>(c.remote_batches))},
  };
  json classes = json::array();
  for (unsigned i = 0; i < num_classes(h); ++i) {
    json cls = {{"class", i},
                {"size", d.class_size[i]},
                {"refills", d.class_refills[i]},
                {"flushes", d.class_flushes[i]}};
    memory_class_json(d.memory, i, cls);
    classes.push_back(cls);
  }
  j["classes"] = classes;
  j["memory"] = memory_to_json(s);
  j["locks"] = locks_to_json(d.locks, num_locks(h));
  json hists = json::array();
  for (unsigned i = 0; i < num_hists(h); ++i) {
    const hakmem_profile_histogram& hg = d.hists[i];
    hists.push_back(
        {{"name", safe_name(hg.name, sizeof(hg.name))},
         {"count", hg.count},
         {"sum_ns", hg.sum_ns},
         {"max_ns", hg.max_ns},
         {"buckets", std::vector<std::uint64_t>(hg.buckets, hg.buckets + HAKMEM_PROFILE_BUCKETS)}});
  }
  j["latency"] = hists;
  j["vfs"] = s.vfs ? vfs_to_json(*s.vfs) : json(nullptr);
  return j;
}

std::string to_prometheus(const Snapshot& s) {
  const hakmem_profile_header& h = s.rec.header;
  const hakmem_profile_data& d = s.rec.data;
  std::string out;
  metric_head(out, "hakmem_info", "gauge", "Profiled process (value 1).");
  out += fmt::format("hakmem_info{{pid=\"{}\",comm=\"{}\",record_version=\"{}\",state=\"{}\"}} 1\n",
                     h.pid, label_escape(safe_name(h.comm, sizeof(h.comm))), h.version,
                     liveness_name(s.liveness));
  metric_head(out, "hakmem_start_time_seconds", "gauge", "Start of profiling, Unix time.");
  out += fmt::format("hakmem_start_time_seconds {}\n", unix_s(h.start_time_ns));
  metric_head(out, "hakmem_last_update_time_seconds", "gauge",
              "Last refresh of the record, Unix time.");
  out += fmt::format("hakmem_last_update_time_seconds {}\n", unix_s(h.updated_time_ns));
  metric_head(out, "hakmem_reset_time_seconds", "gauge",
              "Last counter reset, Unix time (0: never).");
  out += fmt::format("hakmem_reset_time_seconds {}\n", unix_s(h.reset_time_ns));

  fields_to_prometheus(kFields, d.counters, "hakmem", out);

  const unsigned nc = num_classes(h);
  metric_head(out, "hakmem_class_refills_total", "counter", "Thread-cache refills per size class.");
  for (unsigned i = 0; i < nc; ++i) {
    out += fmt::format("hakmem_class_refills_total{{class=\"{}\",size=\"{}\"}} {}\n", i,
                       d.class_size[i], d.class_refills[i]);
  }
  metric_head(out, "hakmem_class_flushes_total", "counter", "Thread-cache flushes per size class.");
  for (unsigned i = 0; i < nc; ++i) {
    out += fmt::format("hakmem_class_flushes_total{{class=\"{}\",size=\"{}\"}} {}\n", i,
                       d.class_size[i], d.class_flushes[i]);
  }

  memory_to_prometheus(s, out);

  locks_to_prometheus(d.locks, num_locks(h), "hakmem_lock", "an internal lock", out);

  const unsigned nh = num_hists(h);
  metric_head(out, "hakmem_latency_seconds", "histogram",
              "Latency of allocator slow paths (op: refill, superslab_acquire, purge).");
  for (unsigned i = 0; i < nh; ++i) {
    const hakmem_profile_histogram& hg = d.hists[i];
    std::string op = label_escape(safe_name(hg.name, sizeof(hg.name)));
    std::uint64_t cumulative = 0;
    for (unsigned b = 0; b + 1 < HAKMEM_PROFILE_BUCKETS; ++b) {
      cumulative += hg.buckets[b];
      out += fmt::format("hakmem_latency_seconds_bucket{{op=\"{}\",le=\"{}\"}} {}\n", op,
                         num(std::ldexp(1.0, static_cast<int>(b) + 1) / 1e9), cumulative);
    }
    out += fmt::format("hakmem_latency_seconds_bucket{{op=\"{}\",le=\"+Inf\"}} {}\n", op, hg.count);
    out += fmt::format("hakmem_latency_seconds_sum{{op=\"{}\"}} {}\n", op,
                       num(static_cast<double>(hg.sum_ns) / 1e9));
    out += fmt::format("hakmem_latency_seconds_count{{op=\"{}\"}} {}\n", op, hg.count);
  }
  metric_head(out, "hakmem_latency_max_seconds", "gauge",
              "Slowest slow-path call since start or reset.");
  for (unsigned i = 0; i < nh; ++i) {
    const hakmem_profile_histogram& hg = d.hists[i];
    out += fmt::format("hakmem_latency_max_seconds{{op=\"{}\"}} {}\n",
                       label_escape(safe_name(hg.name, sizeof(hg.name))),
                       num(static_cast<double>(hg.max_ns) / 1e9));
  }
  if (s.vfs) out += vfs_to_prometheus(*s.vfs);
  return out;
}

std::string render_list_header() {
  return fmt::format("{:>8}  {:<8}  {:<16}{:>12}  {:>16}{:>16}  {}\n", "PID", "STATE", "COMM",
                     "UPTIME", "UPDATED", "MALLOC CALLS", "RECORD (+ VFS POOL)");
}

std::string render_list_row(const Snapshot& s) {
  const hakmem_profile_header& h = s.rec.header;
  return fmt::format("{:>8}  {:<8}  {:<16}{:>12}  {:>16}{:>16}  {}\n", h.pid,
                     liveness_name(s.liveness), safe_name(h.comm, sizeof(h.comm)),
                     uptime(since_ns(h.updated_time_ns, h.start_time_ns)),
                     dur(since_ns(s.read_time_ns, h.updated_time_ns)) + " ago",
                     grp(s.rec.data.counters.malloc_calls),
                     s.path + (s.vfs ? " (+ .vfs)" : ""));
}

}  // namespace hakstat
