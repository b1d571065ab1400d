// Reading and symbolising a heap record (see heap_profile.hpp).
#include <cxxabi.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "heap_profile.hpp"

namespace hakstat {

HeapSnapshot read_heap_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      throw Error(fmt::format("no heap profile at {}: is the process running with "
                              "HAKMEM_HEAP_PROFILE=1 (and the same HAKMEM_PROFILE_PATH)?", path));
    }
    throw Error(fmt::format("cannot open {}: {}", path, std::strerror(errno)));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || static_cast<std::size_t>(st.st_size) < sizeof(hakmem_heap_record)) {
    ::close(fd);
    throw Error(fmt::format("{} is not a hakmem heap profile record (size)", path));
  }
  void* mem = ::mmap(nullptr, sizeof(hakmem_heap_record), PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (mem == MAP_FAILED) throw Error(fmt::format("cannot map {}", path));
  auto* live = static_cast<hakmem_heap_record*>(mem);
  std::uint64_t magic = std::atomic_ref<std::uint64_t>(live->header.magic).load(std::memory_order_acquire);
  if (magic != HAKMEM_HEAP_MAGIC || live->header.version != HAKMEM_HEAP_VERSION ||
      live->header.record_size != sizeof(hakmem_heap_record)) {
    ::munmap(mem, sizeof(hakmem_heap_record));
    throw Error(fmt::format("{} is not a hakmem heap profile record of version {}", path,
                            HAKMEM_HEAP_VERSION));
  }
  HeapSnapshot s;
  s.path = path;
  s.rec = std::make_unique<hakmem_heap_record>();
  // Counters are atomic words and published frames never change (heap_profile_record.h): a
  // plain copy gives untorn values; only entries being written (state 1) are skipped later.
  std::memcpy(s.rec.get(), live, sizeof(hakmem_heap_record));
  ::munmap(mem, sizeof(hakmem_heap_record));
  s.alive = s.rec->header.state != HAKMEM_HEAP_STATE_EXITED &&
            process_alive(static_cast<long>(s.rec->header.pid), s.rec->header.start_ticks);
  return s;
}

namespace {

std::string demangle(const char* name) {
  int status = 0;
  char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  if (status != 0 || !d) return name;
  std::string out(d);
  std::free(d);
  return out;
}

std::string base_name(const std::string& p) {
  auto i = p.rfind('/');
  return i == std::string::npos ? p : p.substr(i + 1);
}

class Symboliser {
 public:
  explicit Symboliser(const HeapSnapshot& s) {
    static char* debuginfo_path = nullptr;
    if (s.alive) {
      callbacks_.find_elf = dwfl_linux_proc_find_elf;
      callbacks_.find_debuginfo = dwfl_standard_find_debuginfo;
      callbacks_.debuginfo_path = &debuginfo_path;
      dwfl_ = dwfl_begin(&callbacks_);
      dwfl_report_begin(dwfl_);
      if (dwfl_linux_proc_report(dwfl_, static_cast<pid_t>(s.rec->header.pid)) == 0) {
        dwfl_report_end(dwfl_, nullptr, nullptr);
        return;
      }
      dwfl_end(dwfl_);  // gone meanwhile: the module table below
    }
    callbacks_.find_elf = dwfl_build_id_find_elf;
    callbacks_.find_debuginfo = dwfl_standard_find_debuginfo;
    callbacks_.section_address = dwfl_offline_section_address;
    callbacks_.debuginfo_path = &debuginfo_path;
    dwfl_ = dwfl_begin(&callbacks_);
    dwfl_report_begin(dwfl_);
    const auto& h = s.rec->header;
    for (std::uint64_t i = 0; i < h.modules_used && i < HAKMEM_HEAP_MAX_MODULES; ++i) {
      const hakmem_heap_module& m = s.rec->modules[i];
      if (m.state != 2 || m.path[0] == '\0') continue;
      std::string path(m.path, strnlen(m.path, sizeof(m.path)));
      dwfl_report_elf(dwfl_, base_name(path).c_str(), path.c_str(), -1, m.bias, false);
    }
    dwfl_report_end(dwfl_, nullptr, nullptr);
  }
  ~Symboliser() {
    if (dwfl_) dwfl_end(dwfl_);
  }
  Symboliser(const Symboliser&) = delete;
  Symboliser& operator=(const Symboliser&) = delete;

  Frame lookup(std::uint64_t ret) {
    auto it = cache_.find(ret);
    if (it != cache_.end()) return it->second;
    Frame f;
    f.addr = ret;
    std::uint64_t a = ret - 1;  // the call instruction, not the one after it
    Dwfl_Module* mod = dwfl_ ? dwfl_addrmodule(dwfl_, a) : nullptr;
    if (mod) {
      Dwarf_Addr start = 0;
      const char* mname = dwfl_module_info(mod, nullptr, &start, nullptr, nullptr, nullptr, nullptr, nullptr);
      f.module = mname ? mname : "";
      if (const char* sym = dwfl_module_addrname(mod, a)) f.function = demangle(sym);
      if (Dwfl_Line* line = dwfl_module_getsrc(mod, a)) {
        int lineno = 0;
        const char* file = dwfl_lineinfo(line, nullptr, &lineno, nullptr, nullptr, nullptr);
        if (file) f.file = file;
        f.line = lineno;
      }
      if (f.function.empty()) f.function = fmt::format("{}+{:#x}", base_name(f.module), a - start);
    } else {
      f.function = fmt::format("{:#x}", ret);
    }
    cache_.emplace(ret, f);
    return f;
  }

 private:
  Dwfl_Callbacks callbacks_{};
  Dwfl* dwfl_ = nullptr;
  std::map<std::uint64_t, Frame> cache_;
};

}  // namespace

std::string Site::key() const {
  std::string k;
  for (const Frame& f : frames) {
    if (!k.empty()) k += ';';
    k += f.function;
  }
  return k.empty() ? "[unknown]" : k;
}

HeapProfile symbolise(const HeapSnapshot& s) {
  const auto& h = s.rec->header;
  HeapProfile p;
  p.pid = static_cast<long>(h.pid);
  p.comm = std::string(h.comm, strnlen(h.comm, sizeof(h.comm)));
  p.sample_bytes = h.sample_bytes;
  static_cast<Counts&>(p) = counts_of(h);
  p.peak_bytes = h.peak_bytes;
  p.dropped_stacks = h.dropped_stacks;
  p.dropped_live = h.dropped_live;
  p.nested_allocs = h.nested_allocs;
  Symboliser sym(s);
  for (std::uint32_t i = 0; i < HAKMEM_HEAP_MAX_STACKS; ++i) {
    const hakmem_heap_stack& st = s.rec->stacks[i];
    if (st.state != 2 || st.samples == 0) continue;
    Site site;
    static_cast<Counts&>(site) = counts_of(st);
    unsigned depth = std::min<unsigned>(st.depth, HAKMEM_HEAP_MAX_DEPTH);
    for (unsigned k = depth; k-- > 0;) site.frames.push_back(sym.lookup(st.frames[k]));
    if (depth == 0) site.frames.push_back(Frame{0, "[stack table full]", "", 0, ""});
    p.sites.push_back(std::move(site));
  }
  return p;
}

Counts& Counts::operator+=(const Counts& o) {
  for (const auto& [name, field] : kCountFields) this->*field += o.*field;
  return *this;
}

void merge_into(HeapProfile& a, const HeapProfile& b) {
  a += b;
  a.peak_bytes += b.peak_bytes;  // a sum of peaks: an upper bound of the joint peak
  a.dropped_stacks += b.dropped_stacks;
  a.dropped_live += b.dropped_live;
  a.nested_allocs += b.nested_allocs;
  a.processes += b.processes;
  if (a.sample_bytes == 0) a.sample_bytes = b.sample_bytes;
  std::map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < a.sites.size(); ++i) index.emplace(a.sites[i].key(), i);
  for (const Site& s : b.sites) {
    auto it = index.find(s.key());
    if (it == index.end()) {
      index.emplace(s.key(), a.sites.size());
      a.sites.push_back(s);
      continue;
    }
    a.sites[it->second] += s;
  }
}

}  // namespace hakstat
