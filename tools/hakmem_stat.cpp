// hakmem-stat: reads the live profile record of a process running with hakmem and
// HAKMEM_PROFILE=1 (see include/hakmem/profile_record.h and tools/README.md).
//
//   hakmem-stat show PID               human table: counts, rates, hit ratios, locks, latency
//   hakmem-stat watch PID              the same, refreshed (rates over each interval)
//   hakmem-stat export PID --json      one JSON object
//   hakmem-stat export PID --prometheus  text exposition format, hakmem_ prefix
//   hakmem-stat reset PID              zero the process's counters (gauges are kept)
//   hakmem-stat list                   records and whether their processes still run
//   hakmem-stat clean                  remove records of processes that are gone
//
// PID may also be the path of a record file. --path (or HAKMEM_PROFILE_PATH) says where
// records are, with the allocator's semantics: a directory, or a file name with %p.
// A process with a VFS pool (vfsd) also publishes "<record>.vfs": show, watch and export
// include it, reset resets it, clean removes it with its record.
#include <dirent.h>
#include <unistd.h>

#include <algorithm>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "hakmem/profile_session.h"
#include "heap_profile.hpp"
#include "record.hpp"
#include "render.hpp"

namespace {

using hakstat::Error;
using hakstat::Liveness;
using hakstat::RecordLocation;
using hakstat::Snapshot;

struct Target {
  std::string arg;  // a pid, or the path of a record file

  Snapshot read(const RecordLocation& loc) const {
    if (arg.find('/') != std::string::npos) return hakstat::read_snapshot_file(arg, std::nullopt);
    return hakstat::read_snapshot(loc, pid());
  }
  long pid() const {
    char* end = nullptr;
    long v = std::strtol(arg.c_str(), &end, 10);
    if (arg.empty() || *end != '\0' || v <= 0) {
      throw Error(fmt::format("'{}' is neither a process id nor a record path", arg));
    }
    return v;
  }
};

void write_out(const std::string& s) {
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
}

void cmd_watch(const RecordLocation& loc, const Target& t, double interval_s, unsigned count) {
  bool tty = ::isatty(STDOUT_FILENO) != 0;
  std::optional<Snapshot> prev;
  for (unsigned i = 0; count == 0 || i < count; ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::duration<double>(interval_s));
    Snapshot s = t.read(loc);
    std::string text = render_table(s, prev ? &*prev : nullptr);
    if (tty) {
      write_out("\x1b[H\x1b[2J" + text +
                fmt::format("\n(every {:.1f} s; Ctrl-C to quit)\n", interval_s));
    } else {
      write_out((i > 0 ? "\n" : "") + text);
    }
    if (s.liveness == Liveness::kDead || s.liveness == Liveness::kExited) {
      write_out(fmt::format("process {} has {}\n", s.rec.header.pid,
                            s.liveness == Liveness::kExited ? "exited" : "gone"));
      return;
    }
    prev = s;
  }
}

void cmd_list(const RecordLocation& loc, bool json) {
  nlohmann::ordered_json arr = nlohmann::ordered_json::array();
  std::string text = hakstat::render_list_header();
  for (const auto& e : loc.scan()) {
    try {
      Snapshot s = hakstat::read_snapshot_file(e.path, std::nullopt);
      if (json) {
        const auto& h = s.rec.header;
        arr.push_back({{"pid", h.pid},
                       {"state", hakstat::liveness_name(s.liveness)},
                       {"comm", std::string(h.comm, strnlen(h.comm, sizeof(h.comm)))},
                       {"path", s.path},
                       {"start_time_ns", h.start_time_ns},
                       {"updated_time_ns", h.updated_time_ns},
                       {"malloc_calls", s.rec.data.counters.malloc_calls},
                       {"vfs", s.vfs.has_value()}});
      } else {
        text += hakstat::render_list_row(s);
      }
    } catch (const Error& err) {
      bool alive = e.pid > 0 && hakstat::process_alive(e.pid, 0);
      if (json) {
        arr.push_back({{"pid", e.pid},
                       {"state", alive ? "unreadable" : "dead"},
                       {"path", e.path},
                       {"error", err.what()}});
      } else {
        text += fmt::format("{:>8}  {:<8}  {}\n", e.pid, alive ? "?" : "dead", err.what());
      }
    }
  }
  write_out(json ? arr.dump(2) + "\n" : text);
}

int cmd_clean(const RecordLocation& loc, bool dry_run) {
  unsigned removed = 0, kept = 0;
  for (const auto& e : loc.scan()) {
    long pid = e.pid;
    std::uint64_t ticks = 0;
    std::string why;
    try {
      Snapshot s = hakstat::read_snapshot_file(e.path, std::nullopt);
      pid = s.rec.header.pid;
      ticks = s.rec.header.start_ticks;
      why = s.rec.header.state == HAKMEM_PROFILE_STATE_EXITED ? "exited" : "died without exiting";
    } catch (const Error& err) {
      why = "unreadable record";
    }
    if (pid > 0 && hakstat::process_alive(pid, ticks)) {
      ++kept;
      continue;
    }
    if (dry_run) {
      write_out(fmt::format("would remove {} (pid {}: {})\n", e.path, pid, why));
      ++removed;
      continue;
    }
    if (::unlink(e.path.c_str()) != 0) {
      std::fprintf(stderr, "hakmem-stat: cannot remove %s: %s\n", e.path.c_str(),
                   std::strerror(errno));
      continue;
    }
    write_out(fmt::format("removed {} (pid {}: {})\n", e.path, pid, why));
    ++removed;
    // The VFS pool record beside it (vfsd) goes with it.
    std::string vfs = e.path + HAKMEM_VFS_PROFILE_SUFFIX;
    if (::unlink(vfs.c_str()) == 0) write_out(fmt::format("removed {}\n", vfs));
  }
  // VFS pool records left without their allocator record, of processes that are gone.
  for (const auto& e : loc.scan(true)) {
    std::string main_path =
        e.path.substr(0, e.path.size() - std::strlen(HAKMEM_VFS_PROFILE_SUFFIX));
    if (::access(main_path.c_str(), F_OK) == 0) continue;  // handled with its record above
    if (e.pid > 0 && hakstat::process_alive(e.pid, 0)) {
      ++kept;
      continue;
    }
    if (dry_run) {
      write_out(fmt::format("would remove {} (pid {}: gone)\n", e.path, e.pid));
    } else if (::unlink(e.path.c_str()) == 0) {
      write_out(fmt::format("removed {} (pid {}: gone)\n", e.path, e.pid));
    } else {
      continue;
    }
    ++removed;
  }
  write_out(fmt::format("{} record(s) {}, {} of running processes kept\n", removed,
                        dry_run ? "to remove" : "removed", kept));
  return 0;
}

struct HeapArgs {
  bool folded = false, alloc = false, json = false;
  std::string svg, pprof, diff;
  unsigned top = 10, depth = 4;
};

void write_file(const std::string& path, const std::string& data) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw Error(fmt::format("cannot write {}: {}", path, std::strerror(errno)));
  std::fwrite(data.data(), 1, data.size(), f);
  if (std::fclose(f) != 0) throw Error(fmt::format("cannot write {}", path));
}

std::string heap_path_of(const RecordLocation& loc, const Target& t) {
  if (t.arg.find('/') != std::string::npos) {
    const std::string suffix = HAKMEM_HEAP_SUFFIX;
    bool has = t.arg.size() >= suffix.size() &&
               t.arg.compare(t.arg.size() - suffix.size(), suffix.size(), suffix) == 0;
    return has ? t.arg : t.arg + suffix;
  }
  return loc.path_for(t.pid()) + HAKMEM_HEAP_SUFFIX;
}

void cmd_heap_show(const hakstat::HeapProfile& p, const HeapArgs& a, const std::string& title) {
  if (!a.svg.empty()) write_file(a.svg, hakstat::render_flamegraph_svg(p, a.alloc, title));
  if (!a.pprof.empty()) write_file(a.pprof, hakstat::render_pprof(p));
  if (!a.diff.empty()) {
    std::FILE* f = std::fopen(a.diff.c_str(), "rb");
    if (!f) throw Error(fmt::format("cannot read {}: {}", a.diff, std::strerror(errno)));
    std::string text;
    char buf[65536];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) text.append(buf, n);
    std::fclose(f);
    hakstat::HeapProfile before = hakstat::heap_from_json(nlohmann::json::parse(text));
    write_out(hakstat::render_heap_diff(before, p, a.top));
    return;
  }
  if (a.json) {
    write_out(hakstat::heap_to_json(p).dump(2) + "\n");
  } else if (a.folded) {
    write_out(hakstat::render_folded(p, a.alloc));
  } else if (a.svg.empty() && a.pprof.empty()) {
    write_out(hakstat::render_heap_table(p, a.top, a.depth));
  }
}

// A session: its aggregate (exited processes) plus its running members.
struct SessionView {
  std::optional<Snapshot> sum;
  std::uint64_t folded = 0, running = 0;
};

SessionView read_session(const RecordLocation& loc, const std::string& name) {
  if (!hakmem_session_name_ok(name.c_str())) throw Error(fmt::format("bad session name '{}'", name));
  std::uint64_t id = hakmem_session_id(name.c_str());
  SessionView v;
  std::string agg = loc.session_path(name);
  if (::access(agg.c_str(), F_OK) == 0) {
    v.sum = hakstat::read_snapshot_file(agg, std::nullopt);
    v.folded = v.sum->rec.header.reserved[HAKMEM_SESSION_FOLDED_SLOT];
  }
  for (const auto& e : loc.scan()) {
    Snapshot s;
    try {
      s = hakstat::read_snapshot_file(e.path, std::nullopt);
    } catch (const Error&) {
      continue;
    }
    if (s.rec.header.reserved[0] != id) continue;
    if (s.liveness != Liveness::kRunning && s.liveness != Liveness::kStale) continue;
    ++v.running;
    if (!v.sum) {
      v.sum = s;
      continue;
    }
    hakmem_profile_data_add(&v.sum->rec.data, &s.rec.data);
  }
  if (!v.sum) throw Error(fmt::format("no session '{}' in {} (no aggregate, no running member)", name, loc.dir()));
  v.sum->rec.header.pid = 0;
  std::memcpy(v.sum->rec.header.comm, "session", 8);
  // The memory breakdown is one process's at one moment: it does not add up over a session.
  v.sum->rec.data.memory.flags = 0;
  v.sum->rss.reset();
  return v;
}

hakstat::HeapProfile read_heap_session(const RecordLocation& loc, const std::string& name) {
  if (!hakmem_session_name_ok(name.c_str())) throw Error(fmt::format("bad session name '{}'", name));
  std::uint64_t id = hakmem_session_id(name.c_str());
  std::optional<hakstat::HeapProfile> sum;
  std::string agg = loc.session_path(name) + HAKMEM_HEAP_SUFFIX;
  if (::access(agg.c_str(), F_OK) == 0) {
    hakstat::HeapSnapshot s = hakstat::read_heap_file(agg);
    sum = hakstat::symbolise(s);
    sum->processes = s.rec->header.reserved[HAKMEM_SESSION_FOLDED_SLOT];
  }
  // Running members: hakmem-<pid>.heap files of this session.
  if (DIR* d = ::opendir(loc.dir().c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      const std::string suffix = HAKMEM_HEAP_SUFFIX;
      if (n.rfind("hakmem-", 0) != 0 || n.size() <= 7 + suffix.size() ||
          n.compare(n.size() - suffix.size(), suffix.size(), suffix) != 0) {
        continue;
      }
      std::string digits = n.substr(7, n.size() - 7 - suffix.size());
      if (!std::all_of(digits.begin(), digits.end(), ::isdigit)) continue;
      std::string dir = loc.dir();
      if (dir.back() != '/') dir += '/';
      try {
        hakstat::HeapSnapshot s = hakstat::read_heap_file(dir + n);
        if (!s.alive || s.rec->header.reserved[0] != id) continue;
        hakstat::HeapProfile p = hakstat::symbolise(s);
        if (!sum) sum = std::move(p);
        else hakstat::merge_into(*sum, p);
      } catch (const Error&) {
      }
    }
    ::closedir(d);
  }
  if (!sum) throw Error(fmt::format("no heap profile of session '{}' in {}", name, loc.dir()));
  return *sum;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"hakmem-stat: live statistics of processes running with hakmem (HAKMEM_PROFILE=1)"};
  app.require_subcommand(1);
  std::string path_spec;
  if (const char* env = std::getenv("HAKMEM_PROFILE_PATH")) path_spec = env;
  app.add_option("--path", path_spec,
                 "where records are: a directory (default /dev/shm) or a file name with %p for "
                 "the pid (default: $HAKMEM_PROFILE_PATH)");

  Target target;
  auto* show = app.add_subcommand("show", "print the counters of a process as a table");
  std::string session;
  show->add_option("pid", target.arg, "process id, or the path of a record file");
  show->add_option("--session", session,
                   "a session's processes together: the exited (folded) and the running");

  auto* sess = app.add_subcommand("session", "profiling sessions of many processes");
  auto* sess_start = sess->add_subcommand("start", "print what to export to start a session");
  std::string sess_name;
  bool sess_heap = false;
  sess_start->add_option("name", sess_name, "session name (A-Z a-z 0-9 . _ -)")->required();
  sess_start->add_flag("--heap", sess_heap, "also turn the heap profile on");
  sess->require_subcommand(1);

  auto* watch = app.add_subcommand("watch", "show, refreshed; rates over each interval");
  double interval_s = 1.0;
  unsigned count = 0;
  watch->add_option("pid", target.arg, "process id, or the path of a record file")->required();
  watch->add_option("-i,--interval", interval_s, "seconds between refreshes")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  watch
      ->add_option("-n,--count", count,
                   "stop after this many refreshes (0: until the process exits)")
      ->capture_default_str();

  auto* exp = app.add_subcommand("export", "print the counters as JSON or Prometheus text");
  bool as_json = false, as_prom = false;
  exp->add_option("pid", target.arg, "process id, or the path of a record file")->required();
  auto* jf = exp->add_flag("--json", as_json, "one JSON object (fields: tools/README.md)");
  auto* pf = exp->add_flag("--prometheus", as_prom, "Prometheus text exposition format");
  jf->excludes(pf);

  auto* reset = app.add_subcommand("reset", "zero the counters of a running process");
  std::uint64_t timeout_ms = 0;
  reset->add_option("pid", target.arg, "process id")->required();
  reset->add_option("--timeout-ms", timeout_ms,
                    "how long to wait for the process to acknowledge (default: 5 refresh periods, "
                    "at least 2 s)");

  auto* list = app.add_subcommand("list", "list records and whether their processes run");
  bool list_json = false;
  list->add_flag("--json", list_json, "as a JSON array");

  auto* clean = app.add_subcommand("clean", "remove records left by processes that are gone");
  bool dry_run = false;
  clean->add_flag("-n,--dry-run", dry_run, "only say what would be removed");

  auto* heap = app.add_subcommand(
      "heap", "the sampled heap profile (HAKMEM_HEAP_PROFILE=1): call sites of live memory");
  HeapArgs ha;
  heap->add_option("pid", target.arg, "process id, or the path of a heap record");
  heap->add_option("--session", session, "a session's processes together");
  heap->add_flag("--folded", ha.folded, "folded stacks (flame-graph tools), live bytes");
  heap->add_flag("--alloc", ha.alloc, "folded/svg: bytes allocated instead of live bytes");
  heap->add_flag("--json", ha.json, "the profile as JSON (an export for --diff)");
  heap->add_option("--svg", ha.svg, "write a flame graph (SVG) to this file");
  heap->add_option("--pprof", ha.pprof, "write a gzipped pprof profile.proto to this file");
  heap->add_option("--diff", ha.diff, "growth since an earlier --json export");
  heap->add_option("--top", ha.top, "call sites shown")->capture_default_str();
  heap->add_option("--depth", ha.depth, "frames shown per call site")->capture_default_str();

  CLI11_PARSE(app, argc, argv);

  try {
    RecordLocation loc(path_spec);
    if (show->parsed()) {
      if (!session.empty()) {
        SessionView v = read_session(loc, session);
        write_out(fmt::format("session {}: {} exited process(es) folded, {} running\n", session,
                              v.folded, v.running) +
                  hakstat::render_table(*v.sum, nullptr));
      } else {
        if (target.arg.empty()) throw Error("show: give a PID or --session NAME");
        write_out(hakstat::render_table(target.read(loc), nullptr));
      }
    } else if (sess_start->parsed()) {
      if (!hakmem_session_name_ok(sess_name.c_str())) {
        throw Error(fmt::format("bad session name '{}' (1-64 of A-Z a-z 0-9 . _ -)", sess_name));
      }
      write_out(fmt::format("export HAKMEM_PROFILE=1 HAKMEM_PROFILE_SESSION={}{}\n", sess_name,
                            sess_heap ? " HAKMEM_HEAP_PROFILE=1" : ""));
    } else if (watch->parsed()) {
      cmd_watch(loc, target, interval_s, count);
    } else if (exp->parsed()) {
      if (!as_json && !as_prom) throw Error("export: say --json or --prometheus");
      Snapshot s = target.read(loc);
      write_out(as_json ? hakstat::to_json(s).dump(2) + "\n" : hakstat::to_prometheus(s));
    } else if (reset->parsed()) {
      hakstat::request_reset(loc, target.pid(), timeout_ms);
      write_out(fmt::format("counters of process {} reset\n", target.pid()));
    } else if (list->parsed()) {
      cmd_list(loc, list_json);
    } else if (clean->parsed()) {
      return cmd_clean(loc, dry_run);
    } else if (heap->parsed() && !session.empty()) {
      hakstat::HeapProfile p = read_heap_session(loc, session);
      cmd_heap_show(p, ha, fmt::format("hakmem heap profile: session {} ({} processes), {} live at exit or now",
                                       session, p.processes, hakstat::human_bytes(p.live_bytes)));
    } else if (heap->parsed()) {
      if (target.arg.empty()) throw Error("heap: give a PID or --session NAME");
      hakstat::HeapSnapshot snap = hakstat::read_heap_file(heap_path_of(loc, target));
      hakstat::HeapProfile p = hakstat::symbolise(snap);
      cmd_heap_show(p, ha, fmt::format("hakmem heap profile: pid {} ({}), {} live", p.pid, p.comm,
                                       hakstat::human_bytes(p.live_bytes)));
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "hakmem-stat: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hakmem-stat: %s\n", e.what());
    return 1;
  }
  return 0;
}
