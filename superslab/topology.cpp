// Topology detection: hwloc through dlopen (never linked: libhakmem.so is preloaded into
// programs that never use NUMA, and hwloc allocates), else /sys read through the platform
// layer into stack buffers (no malloc, no stdio, so it is safe wherever the allocator may run).
#include "superslab/topology.hpp"

#include <dlfcn.h>

#include <atomic>
#include <cstring>

#include "platform/file_read.hpp"

#if __has_include(<hwloc.h>)
#include <hwloc.h>  // types and constants only: every function is reached through dlsym
#define HAKMEM_HAVE_HWLOC_HEADER 1
#else
#define HAKMEM_HAVE_HWLOC_HEADER 0
#endif

namespace hakmem {
namespace {

// Publication. Readers load one pointer; writers (load once, injections in tests) fill a
// buffer no reader has been given yet, then swing the pointer with release ordering.
constinit Topology g_default{};
constinit Topology g_loaded{};
constinit Topology g_injected[2]{};
std::atomic<const Topology*> g_current{&g_default};
std::atomic_flag g_write_lock = ATOMIC_FLAG_INIT;
bool g_was_injected = false;  // under g_write_lock

enum : int { kIdle = 0, kLoading = 1, kLoaded = 2 };
std::atomic<int> g_load_state{kIdle};

void lock_writers() {
  while (g_write_lock.test_and_set(std::memory_order_acquire)) {
    // Writers are a load at start-up and test injections: contention is never long.
  }
}
void unlock_writers() { g_write_lock.clear(std::memory_order_release); }

int lowest_bit(const std::uint64_t* bits, int words) {
  for (int w = 0; w < words; ++w)
    if (bits[w]) return w * 64 + __builtin_ctzll(bits[w]);
  return -1;
}

int count_bits(const std::uint64_t* bits, int words) {
  int n = 0;
  for (int w = 0; w < words; ++w) n += __builtin_popcountll(bits[w]);
  return n;
}

constexpr int kNodeWords = kMaxNumaNodes / 64;
constexpr int kCpuWords = kMaxCpus / 64;

// Every CPU the source did not place goes to the lowest node, so lookups need no check.
void fill_cpus_with_lowest_node(Topology* t) {
  int first = lowest_bit(t->node_mask, kNodeWords);
  for (int& n : t->cpu_to_node) n = first < 0 ? 0 : first;
}

// ---- /sys -------------------------------------------------------------------------------

// A path assembled on the stack (snprintf is stdio; kept out on purpose).
struct Path {
  char s[160];
  std::size_t n = 0;
  Path& add(const char* p) {
    while (*p && n + 1 < sizeof(s)) s[n++] = *p++;
    s[n] = '\0';
    return *this;
  }
  Path& add(unsigned v) {
    char d[12];
    int k = 0;
    do d[k++] = static_cast<char>('0' + v % 10); while ((v /= 10) && k < 12);
    while (k && n + 1 < sizeof(s)) s[n++] = d[--k];
    s[n] = '\0';
    return *this;
  }
};

using platform::read_small_file;

// Reads a list file into a bitmap; the number of bits set, or -1 when missing or malformed.
int read_list(const char* path, std::uint64_t* bits, int max_bits) {
  char buf[8192];  // a fully fragmented list of 1024 CPUs ("0,2,4,...") still fits
  std::memset(bits, 0, static_cast<std::size_t>(max_bits / 64) * 8);
  long n = read_small_file(path, buf, sizeof(buf));
  if (n < 0) return -1;
  return topology_detail::parse_list(buf, static_cast<std::size_t>(n), bits, max_bits);
}

bool detect_sysfs(Topology* t) {
  *t = Topology{};
  t->source = TopologySource::kSysfs;

  std::uint64_t online[kCpuWords];
  int cpus = read_list("/sys/devices/system/cpu/online", online, kMaxCpus);
  if (cpus <= 0) {  // no /sys (a chroot, say): one CPU we know nothing about
    std::memset(online, 0, sizeof(online));
    online[0] = 1;
    cpus = 1;
  }
  t->cpus = cpus;

  // A kernel without CONFIG_NUMA has no node directory: everything is node 0.
  std::uint64_t nodes[kNodeWords];
  int n_nodes = read_list("/sys/devices/system/node/online", nodes, kMaxNumaNodes);
  if (n_nodes > 0) {
    std::memcpy(t->node_mask, nodes, sizeof(nodes));
    t->nodes = n_nodes;
  }
  fill_cpus_with_lowest_node(t);
  if (n_nodes > 0) {
    for (int node = 0; node < kMaxNumaNodes; ++node) {
      if (!t->has_node(node)) continue;
      std::uint64_t cpu_bits[kCpuWords];
      Path p;
      p.add("/sys/devices/system/node/node").add(static_cast<unsigned>(node)).add("/cpulist");
      if (read_list(p.s, cpu_bits, kMaxCpus) <= 0) continue;  // memory-only node
      for (int c = 0; c < kMaxCpus; ++c)
        if ((cpu_bits[c / 64] >> (c % 64)) & 1u) t->cpu_to_node[c] = node;
    }
  }

  // A core is counted at its lowest-numbered hyperthread.
  int cores = 0;
  for (int c = 0; c < kMaxCpus; ++c) {
    if (!((online[c / 64] >> (c % 64)) & 1u)) continue;
    std::uint64_t sib[kCpuWords];
    Path p;
    p.add("/sys/devices/system/cpu/cpu").add(static_cast<unsigned>(c))
        .add("/topology/thread_siblings_list");
    int first = read_list(p.s, sib, kMaxCpus) > 0 ? lowest_bit(sib, kCpuWords) : c;
    if (first == c || first < 0) ++cores;
  }
  t->cores = cores > 0 ? cores : cpus;

  // Cache sizes of the first online CPU; instruction caches are not what we size against.
  int c0 = lowest_bit(online, kCpuWords);
  for (unsigned idx = 0; idx < 32; ++idx) {
    char buf[64];
    Path base;
    base.add("/sys/devices/system/cpu/cpu").add(static_cast<unsigned>(c0)).add("/cache/index")
        .add(idx);
    Path p = base;
    if (read_small_file(p.add("/level").s, buf, sizeof(buf)) <= 0) break;
    int level = buf[0] - '0';
    p = base;
    if (read_small_file(p.add("/type").s, buf, sizeof(buf)) > 0 &&
        std::strncmp(buf, "Instruction", 11) == 0)
      continue;
    p = base;
    long n = read_small_file(p.add("/size").s, buf, sizeof(buf));
    std::size_t bytes = n > 0 ? topology_detail::parse_size(buf, static_cast<std::size_t>(n)) : 0;
    if (level == 2) t->l2_bytes = bytes;
    if (level == 3) t->l3_bytes = bytes;
  }
  return true;
}

// ---- hwloc ------------------------------------------------------------------------------

#if HAKMEM_HAVE_HWLOC_HEADER
struct Hwloc {
  decltype(&hwloc_get_api_version) get_api_version;
  decltype(&hwloc_topology_init) init;
  decltype(&hwloc_topology_set_flags) set_flags;
  decltype(&hwloc_topology_set_io_types_filter) set_io_filter;
  decltype(&hwloc_topology_load) load;
  decltype(&hwloc_topology_destroy) destroy;
  decltype(&hwloc_get_type_depth) type_depth;
  decltype(&hwloc_get_nbobjs_by_depth) nbobjs;
  decltype(&hwloc_get_obj_by_depth) obj;
  decltype(&hwloc_bitmap_next) bitmap_next;
};

template <class F>
bool sym(void* h, const char* name, F* out) {
  *out = reinterpret_cast<F>(::dlsym(h, name));
  return *out != nullptr;
}

int count_at(const Hwloc& api, hwloc_topology_t topo, hwloc_obj_type_t type) {
  int depth = api.type_depth(topo, type);
  return depth < 0 ? 0 : static_cast<int>(api.nbobjs(topo, depth));
}

std::size_t cache_size(const Hwloc& api, hwloc_topology_t topo, hwloc_obj_type_t type) {
  int depth = api.type_depth(topo, type);
  if (depth < 0) return 0;  // absent, or several depths (exotic): say unknown
  hwloc_obj_t o = api.obj(topo, depth, 0);
  return o && o->attr ? static_cast<std::size_t>(o->attr->cache.size) : 0;
}

void fill_from_hwloc(const Hwloc& api, hwloc_topology_t topo, Topology* t) {
  *t = Topology{};
  t->source = TopologySource::kHwloc;
  std::memset(t->node_mask, 0, sizeof(t->node_mask));
  int n_numa = static_cast<int>(api.nbobjs(topo, HWLOC_TYPE_DEPTH_NUMANODE));
  for (int i = 0; i < n_numa; ++i) {
    hwloc_obj_t o = api.obj(topo, HWLOC_TYPE_DEPTH_NUMANODE, static_cast<unsigned>(i));
    if (o && o->os_index < static_cast<unsigned>(kMaxNumaNodes))
      t->node_mask[o->os_index / 64] |= std::uint64_t{1} << (o->os_index % 64);
  }
  if (count_bits(t->node_mask, kNodeWords) == 0) t->node_mask[0] = 1;
  t->nodes = count_bits(t->node_mask, kNodeWords);
  fill_cpus_with_lowest_node(t);
  for (int i = 0; i < n_numa; ++i) {
    hwloc_obj_t o = api.obj(topo, HWLOC_TYPE_DEPTH_NUMANODE, static_cast<unsigned>(i));
    if (!o || !o->cpuset || o->os_index >= static_cast<unsigned>(kMaxNumaNodes)) continue;
    for (int c = api.bitmap_next(o->cpuset, -1); c >= 0 && c < kMaxCpus;
         c = api.bitmap_next(o->cpuset, c))
      t->cpu_to_node[c] = static_cast<int>(o->os_index);
  }
  int pus = count_at(api, topo, HWLOC_OBJ_PU);
  t->cpus = pus > 0 ? pus : 1;
  int cores = count_at(api, topo, HWLOC_OBJ_CORE);
  t->cores = cores > 0 ? cores : t->cpus;
  t->l2_bytes = cache_size(api, topo, HWLOC_OBJ_L2CACHE);
  t->l3_bytes = cache_size(api, topo, HWLOC_OBJ_L3CACHE);
}

bool detect_hwloc(Topology* t) {
  // RTLD_LOCAL: hwloc's symbols must not interpose on anything of the program's.
  void* h = ::dlopen("libhwloc.so.15", RTLD_NOW | RTLD_LOCAL);
  if (!h) return false;
  Hwloc api{};
  bool ok = sym(h, "hwloc_get_api_version", &api.get_api_version) &&
            sym(h, "hwloc_topology_init", &api.init) &&
            sym(h, "hwloc_topology_set_flags", &api.set_flags) &&
            sym(h, "hwloc_topology_load", &api.load) &&
            sym(h, "hwloc_topology_destroy", &api.destroy) &&
            sym(h, "hwloc_get_type_depth", &api.type_depth) &&
            sym(h, "hwloc_get_nbobjs_by_depth", &api.nbobjs) &&
            sym(h, "hwloc_get_obj_by_depth", &api.obj) &&
            sym(h, "hwloc_bitmap_next", &api.bitmap_next);
  sym(h, "hwloc_topology_set_io_types_filter", &api.set_io_filter);  // optional
  // The object layout we read comes from the header we compiled against: same major only.
  ok = ok && (api.get_api_version() >> 16) == (HWLOC_API_VERSION >> 16);
  hwloc_topology_t topo = nullptr;
  if (ok && api.init(&topo) != 0) ok = false;
  if (ok) {
    // The whole machine, like /sys/devices/system/cpu/online: the affinity mask can change
    // later, the node of a CPU does not.
    api.set_flags(topo, HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED);
    // No PCI/OS-device discovery: slow, and nothing here needs it.
    if (api.set_io_filter) api.set_io_filter(topo, HWLOC_TYPE_FILTER_KEEP_NONE);
    if (api.load(topo) == 0) fill_from_hwloc(api, topo, t);
    else ok = false;
    api.destroy(topo);
  }
  // We keep no pointer into hwloc: unload it (and libudev) so the process does not carry it.
  ::dlclose(h);
  return ok;
}
#else
bool detect_hwloc(Topology*) { return false; }
#endif

}  // namespace

namespace topology_detail {

int parse_list(const char* s, std::size_t n, std::uint64_t* bits, int max_bits) {
  std::size_t i = 0;
  int set = 0;
  auto number = [&](long* out) {
    if (i >= n || s[i] < '0' || s[i] > '9') return false;
    long v = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9' && v < (1L << 30)) v = v * 10 + (s[i++] - '0');
    *out = v;
    return true;
  };
  while (i < n && s[i] != '\0' && s[i] != '\n') {
    long lo = 0, hi = 0;
    if (!number(&lo)) return -1;
    hi = lo;
    if (i < n && s[i] == '-') {
      ++i;
      if (!number(&hi) || hi < lo) return -1;
    }
    for (long b = lo; b <= hi && b < max_bits; ++b) {
      std::uint64_t m = std::uint64_t{1} << (b % 64);
      if (!(bits[b / 64] & m)) ++set;
      bits[b / 64] |= m;
    }
    if (i < n && s[i] == ',') ++i;
    else if (i < n && s[i] != '\n' && s[i] != '\0') return -1;
  }
  return set;
}

std::size_t parse_size(const char* s, std::size_t n) {
  std::size_t i = 0, v = 0;
  if (n == 0 || s[0] < '0' || s[0] > '9') return 0;
  while (i < n && s[i] >= '0' && s[i] <= '9') v = v * 10 + static_cast<std::size_t>(s[i++] - '0');
  if (i < n && (s[i] == 'K' || s[i] == 'k')) v <<= 10;
  else if (i < n && (s[i] == 'M' || s[i] == 'm')) v <<= 20;
  else if (i < n && (s[i] == 'G' || s[i] == 'g')) v <<= 30;
  return v;
}

}  // namespace topology_detail

const Topology& topology() { return *g_current.load(std::memory_order_acquire); }

bool topology_detect(Topology* out, TopologySource source) {
  switch (source) {
    case TopologySource::kHwloc: return detect_hwloc(out);
    case TopologySource::kSysfs: return detect_sysfs(out);
    default: return false;
  }
}

void topology_load(TopologySource prefer) {
  // Once only. A call that finds a load under way returns at once: either it is recursion
  // (hwloc's own malloc reaching back here) or another thread, and both keep the default.
  if (g_load_state.load(std::memory_order_acquire) != kIdle) return;
  int expected = kIdle;
  if (!g_load_state.compare_exchange_strong(expected, kLoading, std::memory_order_acq_rel))
    return;
  // g_loaded is not visible to any reader until it is published below. /sys first: it costs
  // ~0.2 ms and no allocation, while dlopen'ing hwloc costs 6-18 ms here and maps ~20
  // libraries for a moment (its plugins pull in libxml2, ICU, OpenCL, X11, libpciaccess), for
  // the same answer on one node. So hwloc is asked only where NUMA matters, or when told to.
  detect_sysfs(&g_loaded);
  bool want_hwloc = prefer == TopologySource::kHwloc ||
                    (prefer == TopologySource::kDefault && g_loaded.nodes > 1);
  if (want_hwloc) {
    Topology from_hwloc;  // on the stack: keeps the /sys answer if hwloc is missing or fails
    if (detect_hwloc(&from_hwloc)) g_loaded = from_hwloc;
  }
  lock_writers();
  g_load_state.store(kLoaded, std::memory_order_release);
  if (!g_was_injected) g_current.store(&g_loaded, std::memory_order_release);
  unlock_writers();
}

void topology_load_if_multinode() {
  std::uint64_t nodes[kMaxNumaNodes / 64] = {};
  int n = read_list("/sys/devices/system/node/online", nodes, kMaxNumaNodes);
  if (n > 1) topology_load();
}

const Topology* topology_loaded() {
  return g_load_state.load(std::memory_order_acquire) == kLoaded ? &g_loaded : nullptr;
}

void topology_inject(const Topology& t) {
  lock_writers();
  const Topology* cur = g_current.load(std::memory_order_relaxed);
  Topology* slot = cur == &g_injected[0] ? &g_injected[1] : &g_injected[0];
  *slot = t;
  if (count_bits(slot->node_mask, kNodeWords) == 0) {
    for (int n = 0; n < t.nodes && n < kMaxNumaNodes; ++n)
      slot->node_mask[n / 64] |= std::uint64_t{1} << (n % 64);
    if (t.nodes < 1) slot->node_mask[0] = 1;
  }
  slot->nodes = count_bits(slot->node_mask, kNodeWords);
  slot->source = TopologySource::kInjected;
  g_was_injected = true;
  g_current.store(slot, std::memory_order_release);
  unlock_writers();
}

void topology_reset_injection() {
  lock_writers();
  g_was_injected = false;
  bool loaded = g_load_state.load(std::memory_order_acquire) == kLoaded;
  g_current.store(loaded ? &g_loaded : &g_default, std::memory_order_release);
  unlock_writers();
}

int topology_node_of_cpu(int cpu) {
  const Topology& t = topology();
  if (cpu >= 0 && cpu < kMaxCpus) return t.cpu_to_node[cpu];
  int first = lowest_bit(t.node_mask, kNodeWords);
  return first < 0 ? 0 : first;
}

}  // namespace hakmem
