#include "render_memory.hpp"

#include <fmt/format.h>

#include "format_util.hpp"

namespace hakstat {
namespace {

using namespace fmtu;
using Memory = hakmem_profile_memory;
using json = nlohmann::ordered_json;

// One row of the breakdown: its JSON/Prometheus key, the table's label and note, its value,
// and whether it is resident memory (in the sum) or not (purged: address space only).
struct Row {
  const char* key;
  const char* label;
  const char* note;
  std::uint64_t (*value)(const Memory&);
  bool resident;
};

std::uint64_t classes_sum(const Memory& m, std::uint64_t hakmem_profile_class_memory::*f) {
  std::uint64_t t = 0;
  for (const auto& c : m.classes) t += c.*f;
  return t;
}

const Row kRows[] = {
    {"small_live", "small objects live", "handed out, in no bin (or freed by another thread, "
     "not yet collected)", [](const Memory& m) { return classes_sum(m, &hakmem_profile_class_memory::live); }, true},
    {"small_bins", "small objects in bins", "thread caches, as each thread last published them",
     [](const Memory& m) { return classes_sum(m, &hakmem_profile_class_memory::bins); }, true},
    {"slab_free", "free inside slabs", "handed out once, back on the slabs' lists",
     [](const Memory& m) { return classes_sum(m, &hakmem_profile_class_memory::free); }, true},
    {"slab_tail", "slab tails", "pre-faulted past the bump pointer, never handed out",
     [](const Memory& m) { return classes_sum(m, &hakmem_profile_class_memory::tail); }, true},
    {"slab_free_units", "free units of SuperSlabs", "64 KiB units touched since their last purge",
     [](const Memory& m) { return m.slab_free_units; }, true},
    {"medium_live", "medium blocks live", "spans handed out (32 KiB - 1 MiB)",
     [](const Memory& m) { return m.medium_live; }, true},
    {"medium_cached", "medium blocks cached", "in the threads' medium caches",
     [](const Memory& m) { return m.medium_cached; }, true},
    {"span_free_resident", "free span pages", "dirty or pre-faulted",
     [](const Memory& m) { return m.span_free_resident; }, true},
    {"reserve_resident", "SuperSlab reserve", "empty SuperSlabs kept warm (units touched)",
     [](const Memory& m) { return m.reserve_resident; }, true},
    {"reserve_lazy", "SuperSlab reserve, MADV_FREE", "RSS counts it until the kernel needs it",
     [](const Memory& m) { return m.reserve_lazy; }, true},
    {"huge_live", "huge blocks live", "their mappings (pages never touched are not resident)",
     [](const Memory& m) { return m.huge_live; }, true},
    {"huge_cached", "huge blocks cached", "freed, kept mapped for reuse",
     [](const Memory& m) { return m.huge_cached; }, true},
    {"meta_superslabs", "metadata: SuperSlab headers", "8 KiB per SuperSlab mapped",
     [](const Memory& m) { return m.meta_superslabs; }, true},
    {"meta_heaps", "metadata: thread heaps", "bins' slots, lists, counters",
     [](const Memory& m) { return m.meta_heaps; }, true},
    {"slab_purged", "purged inside slabs", "not resident",
     [](const Memory& m) { return classes_sum(m, &hakmem_profile_class_memory::purged); }, false},
    {"span_free_purged", "purged span pages", "not resident",
     [](const Memory& m) { return m.span_free_purged; }, false},
    {"reserve_purged", "purged SuperSlabs", "not resident (address space kept)",
     [](const Memory& m) { return m.reserve_purged; }, false},
};

bool valid(const Memory& m) { return (m.flags & HAKMEM_PROFILE_MEMORY_VALID) != 0; }

std::string b(std::uint64_t v) { return bytes(static_cast<double>(v)); }

std::string tid_str(const hakmem_profile_heap& h) {
  if (h.flags & HAKMEM_PROFILE_HEAP_PARKED) return "parked";
  return h.tid > 0 ? std::to_string(h.tid) : "?";
}

}  // namespace

std::uint64_t memory_resident_sum(const Memory& m) {
  std::uint64_t t = 0;
  for (const Row& r : kRows) {
    if (r.resident) t += r.value(m);
  }
  return t;
}

void render_memory_table(const Snapshot& s, std::string& out) {
  const Memory& m = s.rec.data.memory;
  auto line = [&](const std::string& l) { out += l + '\n'; };
  if (!valid(m)) {
    line(s.rec.header.version < 3 ? "Where the memory is: not in a version 2 record"
                                  : "Where the memory is: not for a session (per process only)");
    return;
  }
  line(fmt::format("Where the memory is (taken {} before the last refresh in {}: {} SuperSlabs, "
                   "{} slabs, {} heaps)",
                   dur(since_ns(s.rec.header.updated_time_ns, m.updated_time_ns)),
                   dur(static_cast<double>(m.walk_ns)), grp(m.walked_superslabs),
                   grp(m.walked_slabs), grp(m.heaps_live)));
  for (const Row& r : kRows) {
    if (!r.resident) continue;
    line(fmt::format("  {:<30}{:>12}  {}", r.label, b(r.value(m)), r.note));
  }
  const std::uint64_t sum = memory_resident_sum(m);
  line(fmt::format("  {:<30}{:>12}  {}", "sum", b(sum), "what hakmem accounts for"));
  if (s.rss) {
    line(fmt::format("  {:<30}{:>12}  VmRSS {} (file {}, shmem {}), /proc/{}/status", "process RssAnon",
                     b(s.rss->rss_anon), b(s.rss->vm_rss), b(s.rss->rss_file), b(s.rss->rss_shmem),
                     s.rec.header.pid));
    const bool over = sum > s.rss->rss_anon;
    const std::string rest = fmt::format("{}{}", over ? "-" : "",
                                         b(over ? sum - s.rss->rss_anon : s.rss->rss_anon - sum));
    line(fmt::format("  {:<30}{:>12}  {}", "unexplained (RssAnon - sum)", rest,
                     "the program's own (stacks, libraries' data), the ownership registry; "
                     "negative: pages counted that were never touched"));
  } else {
    line(fmt::format("  {:<30}{:>12}  {}", "process RssAnon", "-", "process not running"));
  }
  for (const Row& r : kRows) {
    if (r.resident) continue;
    line(fmt::format("  {:<30}{:>12}  {}", r.label, b(r.value(m)), r.note));
  }
  line("");
  line(fmt::format("{:<18}{:>8}{:>11}{:>11}{:>11}{:>11}{:>11}{:>11}{:>11}",
                   fmt::format("Heaps ({} of {})", m.num_heaps, m.heaps_live), "tid", "SuperSl.",
                   "resident", "in use", "bins", "live", "free", "medium"));
  for (unsigned i = 0; i < m.num_heaps && i < HAKMEM_PROFILE_MAX_HEAPS; ++i) {
    const hakmem_profile_heap& h = m.heaps[i];
    line(fmt::format("  {:<16}{:>8}{:>11}{:>11}{:>11}{:>11}{:>11}{:>11}{:>11}", i, tid_str(h),
                     h.superslabs, b(h.resident), b(h.in_use), b(h.bins), b(h.live),
                     b(h.free + h.tail + h.free_units), b(h.medium_cached)));
  }
}

std::string memory_class_header() {
  return fmt::format("{:>11}{:>11}{:>11}{:>11}", "live", "bins", "free", "purged");
}

bool memory_class_any(const Memory& m, unsigned cls) {
  const hakmem_profile_class_memory& c = m.classes[cls];
  return c.live || c.bins || c.free || c.purged || c.tail;
}

std::string memory_class_columns(const Memory& m, unsigned cls) {
  if (!valid(m)) return "";
  const hakmem_profile_class_memory& c = m.classes[cls];
  return fmt::format("{:>11}{:>11}{:>11}{:>11}", b(c.live), b(c.bins), b(c.free + c.tail), b(c.purged));
}

void memory_class_json(const Memory& m, unsigned cls, json& c) {
  if (!valid(m)) return;
  const hakmem_profile_class_memory& k = m.classes[cls];
  c["live_bytes"] = k.live;
  c["bins_bytes"] = k.bins;
  c["free_bytes"] = k.free;
  c["tail_bytes"] = k.tail;
  c["purged_bytes"] = k.purged;
}

json memory_to_json(const Snapshot& s) {
  const Memory& m = s.rec.data.memory;
  if (!valid(m)) return json(nullptr);
  json j;
  j["updated_time_ns"] = m.updated_time_ns;
  j["walks"] = m.walks;
  j["walk_ns"] = m.walk_ns;
  j["walked_superslabs"] = m.walked_superslabs;
  j["walked_slabs"] = m.walked_slabs;
  j["heaps_live"] = m.heaps_live;
  j["orphan_superslabs"] = m.orphan_superslabs;
  json bytes = json::object();
  for (const Row& r : kRows) bytes[r.key] = r.value(m);
  j["bytes"] = bytes;
  const std::uint64_t sum = memory_resident_sum(m);
  j["resident_sum"] = sum;
  if (s.rss) {
    j["rss"] = {{"vm_rss", s.rss->vm_rss}, {"rss_anon", s.rss->rss_anon},
                {"rss_file", s.rss->rss_file}, {"rss_shmem", s.rss->rss_shmem},
                {"unexplained", static_cast<std::int64_t>(s.rss->rss_anon) - static_cast<std::int64_t>(sum)}};
  } else {
    j["rss"] = nullptr;
  }
  json heaps = json::array();
  for (unsigned i = 0; i < m.num_heaps && i < HAKMEM_PROFILE_MAX_HEAPS; ++i) {
    const hakmem_profile_heap& h = m.heaps[i];
    heaps.push_back({{"tid", h.tid}, {"parked", (h.flags & HAKMEM_PROFILE_HEAP_PARKED) != 0},
                     {"superslabs", h.superslabs}, {"resident", h.resident}, {"in_use", h.in_use},
                     {"bins", h.bins}, {"live", h.live}, {"free", h.free}, {"tail", h.tail},
                     {"free_units", h.free_units}, {"medium_cached", h.medium_cached}});
  }
  j["heaps"] = heaps;
  return j;
}

void memory_to_prometheus(const Snapshot& s, std::string& out) {
  const Memory& m = s.rec.data.memory;
  if (!valid(m)) return;
  metric_head(out, "hakmem_memory_bytes", "gauge",
              "Where the memory is, by the allocator's metadata (where: tools/README.md).");
  for (const Row& r : kRows) {
    out += fmt::format("hakmem_memory_bytes{{where=\"{}\",resident=\"{}\"}} {}\n", r.key,
                       r.resident ? "yes" : "no", r.value(m));
  }
  metric_head(out, "hakmem_memory_resident_sum_bytes", "gauge",
              "Sum of the resident parts of hakmem_memory_bytes.");
  out += fmt::format("hakmem_memory_resident_sum_bytes {}\n", memory_resident_sum(m));
  if (s.rss) {
    metric_head(out, "hakmem_process_rss_bytes", "gauge", "The process's resident set, /proc/PID/status.");
    out += fmt::format("hakmem_process_rss_bytes{{kind=\"vm_rss\"}} {}\n", s.rss->vm_rss);
    out += fmt::format("hakmem_process_rss_bytes{{kind=\"rss_anon\"}} {}\n", s.rss->rss_anon);
    out += fmt::format("hakmem_process_rss_bytes{{kind=\"rss_file\"}} {}\n", s.rss->rss_file);
    out += fmt::format("hakmem_process_rss_bytes{{kind=\"rss_shmem\"}} {}\n", s.rss->rss_shmem);
  }
  metric_head(out, "hakmem_class_memory_bytes", "gauge",
              "Small objects' memory per size class (state: live, bins, free, tail, purged).");
  const unsigned nc = std::min<unsigned>(s.rec.header.num_classes, HAKMEM_PROFILE_MAX_CLASSES);
  for (unsigned i = 0; i < nc; ++i) {
    const hakmem_profile_class_memory& c = m.classes[i];
    const std::pair<const char*, std::uint64_t> states[] = {
        {"live", c.live}, {"bins", c.bins}, {"free", c.free}, {"tail", c.tail}, {"purged", c.purged}};
    for (const auto& [state, v] : states) {
      out += fmt::format("hakmem_class_memory_bytes{{class=\"{}\",size=\"{}\",state=\"{}\"}} {}\n", i,
                         s.rec.data.class_size[i], state, v);
    }
  }
  metric_head(out, "hakmem_heap_resident_bytes", "gauge",
              "Resident bytes of the largest thread heaps (tid 0: unknown or parked).");
  for (unsigned i = 0; i < m.num_heaps && i < HAKMEM_PROFILE_MAX_HEAPS; ++i) {
    out += fmt::format("hakmem_heap_resident_bytes{{heap=\"{}\",tid=\"{}\"}} {}\n", i, m.heaps[i].tid,
                       m.heaps[i].resident);
  }
}

}  // namespace hakstat
