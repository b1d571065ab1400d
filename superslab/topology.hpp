// Machine topology (NUMA nodes, CPUs, cores, cache sizes) for sizing caches and reserves
// and for NUMA placement of SuperSlabs.
//
// Why it looks like this: hwloc and libnuma call malloc, and libhakmem.so is preloaded into
// every program, so they are never linked. topology_load() dlopen()s hwloc once, after
// hakmem's bootstrap, outside any malloc call path; without hwloc it parses /sys with
// open/read. Until then (and in programs that never load it) the topology is one node, which
// is exactly what a single-node machine needs: NUMA then costs nothing.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hakmem {

inline constexpr int kMaxCpus = 1024;
inline constexpr int kMaxNumaNodes = 256;  // node ids, not node count: ids may be sparse

// Where a Topology came from (diagnostics and tests).
enum class TopologySource : int { kDefault = 0, kHwloc = 1, kSysfs = 2, kInjected = 3 };

// Fixed size, no pointers: it is copied, published and injected without allocation.
struct Topology {
  int nodes = 1;  // NUMA nodes (online), >= 1
  int cpus = 1;   // online CPUs
  // OS node id of each CPU id (what mbind and get_mempolicy use). CPUs the topology does not
  // know map to the lowest node, so any CPU id < kMaxCpus can be looked up unchecked.
  int cpu_to_node[kMaxCpus] = {};
  std::size_t l2_bytes = 0;  // one L2 instance (of the first CPU); 0 = unknown
  std::size_t l3_bytes = 0;  // one L3 instance; 0 = unknown or absent
  int cores = 1;             // physical cores (a core's hyperthreads count once)
  // Bit n set = node id n exists (ids can be sparse, e.g. 0 and 2). Interleaving uses it.
  std::uint64_t node_mask[kMaxNumaNodes / 64] = {1};
  TopologySource source = TopologySource::kDefault;

  bool has_node(int n) const {
    return n >= 0 && n < kMaxNumaNodes && ((node_mask[n / 64] >> (n % 64)) & 1u);
  }
};

// The current topology: the single-node default until topology_load() (or an injection)
// publishes another. The reference stays valid; its contents change only when a later
// topology_inject() reuses the buffer (tests only), so callers on slow paths may keep it.
const Topology& topology();

// Reads the real topology once and publishes it. Call after bootstrap, never with an
// allocator lock held: hwloc allocates. Idempotent and thread-safe (the first call's `prefer`
// wins); a recursive or concurrent call returns at once, keeping the previous topology.
//   kDefault: /sys (no allocation, ~0.2 ms); if it shows more than one node, hwloc through
//             dlopen replaces that answer (the /sys one stays if hwloc is missing or fails).
//             A single-node machine never loads hwloc: it would cost 6-18 ms and map ~20
//             libraries for a moment (hwloc's plugins) to learn the same thing.
//   kHwloc:   hwloc whatever the node count (the /sys answer stays if it fails).
//   kSysfs:   /sys only (forces the fallback).
void topology_load(TopologySource prefer = TopologySource::kDefault);

// Start-up's cheap form: reads only the online node list and calls topology_load() when
// there is more than one node. On one node the default topology is already right, and the
// ~15 sysfs reads of a full load would be paid by every short process for nothing.
void topology_load_if_multinode();

// The topology topology_load() found, whether or not it is current; nullptr before.
const Topology* topology_loaded();

// Replaces the current topology (tests; an injected one is never overwritten by a later
// topology_load()). If `t.node_mask` is all zero, nodes 0..t.nodes-1 are assumed; `nodes` is
// recomputed from the mask and `source` becomes kInjected.
void topology_inject(const Topology& t);
// Ends injection: the loaded topology (or the single-node default) is current again.
void topology_reset_injection();

// Detects without publishing or caching, from one source: kHwloc (false if libhwloc cannot be
// dlopen'ed or its ABI differs), kSysfs (always usable; a machine without
// /sys/devices/system/node is one node). Used by topology_load() and to compare the two.
bool topology_detect(Topology* out, TopologySource source);

// Node of a CPU id under the current topology (the lowest node for an unknown CPU).
int topology_node_of_cpu(int cpu);

namespace topology_detail {
// Parses a kernel CPU/node list ("0-3,8,10-11\n") into a bitmap of `max_bits` bits (bits
// beyond it are dropped). Returns the number of bits set, or -1 on a malformed list.
int parse_list(const char* s, std::size_t n, std::uint64_t* bits, int max_bits);
// "1024K", "32M", "512" (bytes) -> bytes; 0 if malformed.
std::size_t parse_size(const char* s, std::size_t n);
}  // namespace topology_detail

}  // namespace hakmem
