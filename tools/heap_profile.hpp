// hakmem-stat heap: the sampled heap profile of a process (include/hakmem/heap_profile_record.h)
// read from its "<record>.heap", symbolised with elfutils' libdwfl, and shown as a table of
// call sites, folded stacks, a flame graph (SVG), a pprof profile, JSON, or a diff.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "hakmem/heap_profile_record.h"
#include "record.hpp"

namespace hakstat {

// One mapped copy of a heap record.
struct HeapSnapshot {
  std::string path;
  std::unique_ptr<hakmem_heap_record> rec;
  bool alive = false;  // the process still runs (symbols from /proc/<pid>/maps)
};
HeapSnapshot read_heap_file(const std::string& path);

struct Frame {
  std::uint64_t addr = 0;  // return address (0 for a synthetic frame)
  std::string function;    // demangled, or "module+0xoff" when unknown
  std::string file;        // source file, empty without debug info
  int line = 0;
  std::string module;      // path of the mapped object
};

// The estimated values of a stack, and of a whole profile: one list (kCountFields) for
// reading a record, merging profiles, and the JSON export and import.
struct Counts {
  std::uint64_t live_bytes = 0, live_objects = 0, alloc_bytes = 0, alloc_objects = 0;
  std::uint64_t samples = 0, live_samples = 0;
  Counts& operator+=(const Counts& o);
};
inline constexpr std::pair<const char*, std::uint64_t Counts::*> kCountFields[] = {
    {"live_bytes", &Counts::live_bytes},       {"live_objects", &Counts::live_objects},
    {"alloc_bytes", &Counts::alloc_bytes},     {"alloc_objects", &Counts::alloc_objects},
    {"samples", &Counts::samples},             {"live_samples", &Counts::live_samples}};
// From a record's stack entry or header (both name the fields alike).
template <class R>
Counts counts_of(const R& r) {
  Counts c;
  c.live_bytes = r.live_bytes;
  c.live_objects = r.live_objects;
  c.alloc_bytes = r.alloc_bytes;
  c.alloc_objects = r.alloc_objects;
  c.samples = r.samples;
  c.live_samples = r.live_samples;
  return c;
}

// A stack with its values (estimated), frames root first.
struct Site : Counts {
  std::vector<Frame> frames;  // root (main, _start) first, allocation site last
  std::string key() const;  // "root;...;leaf" function names: the folded-stack key
};

struct HeapProfile : Counts {
  long pid = 0;
  std::string comm;
  std::uint64_t sample_bytes = 0;
  std::uint64_t peak_bytes = 0;
  std::uint64_t dropped_stacks = 0, dropped_live = 0, nested_allocs = 0;
  std::uint64_t processes = 1;  // summed over a session
  std::vector<Site> sites;
};

// Symbolises the snapshot's stacks: from the live process's maps when it runs, else from the
// module table the record keeps.
HeapProfile symbolise(const HeapSnapshot& s);
// Adds b into a (stacks merged by their symbolised key).
void merge_into(HeapProfile& a, const HeapProfile& b);

enum class HeapOrder { kLiveBytes, kAllocObjects };
std::string render_heap_table(const HeapProfile& p, unsigned top, unsigned depth);
// value: "live" (estimated live bytes, default) or "alloc" (estimated bytes allocated).
std::string render_folded(const HeapProfile& p, bool alloc);
std::string render_flamegraph_svg(const HeapProfile& p, bool alloc, const std::string& title);
// gzipped profile.proto (pprof heap profile: alloc_objects, alloc_space, inuse_objects,
// inuse_space); heap_pprof.cpp.
std::string render_pprof(const HeapProfile& p);
nlohmann::ordered_json heap_to_json(const HeapProfile& p);
HeapProfile heap_from_json(const nlohmann::json& j);
// Growth per site from `before` to `now` (live bytes), largest first.
std::string render_heap_diff(const HeapProfile& before, const HeapProfile& now, unsigned top);

std::string human_bytes(std::uint64_t b);

}  // namespace hakstat
