// /proc/PID/status's resident-set lines, for the "Where the memory is" section: the
// allocator's breakdown beside what the kernel counts, so the unexplained part shows.
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include <fmt/format.h>

#include "record.hpp"

namespace hakstat {

std::optional<ProcRss> read_proc_rss(long pid) {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  if (!in) return std::nullopt;
  ProcRss r;
  bool any = false;
  std::string line;
  // "VmRSS:\t   1234 kB"
  auto field = [&](const char* name, std::uint64_t* out) {
    std::size_t n = std::strlen(name);
    if (line.compare(0, n, name) != 0 || line.size() <= n || line[n] != ':') return;
    *out = std::strtoull(line.c_str() + n + 1, nullptr, 10) * 1024;
    any = true;
  };
  while (std::getline(in, line)) {
    field("VmRSS", &r.vm_rss);
    field("RssAnon", &r.rss_anon);
    field("RssFile", &r.rss_file);
    field("RssShmem", &r.rss_shmem);
  }
  if (!any) return std::nullopt;
  return r;
}

}  // namespace hakstat
