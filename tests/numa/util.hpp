// Helpers for the NUMA/topology tests: building injected topologies, and the state of the
// process before any test ran (recorded by main.cpp).
#pragma once

#include <dlfcn.h>

#include "superslab/topology.hpp"

namespace numat {

// True when libhwloc was already mapped when main() started: it must not be, since nothing
// links it and nothing may load it before topology_load()/topology_detect(kHwloc).
extern bool g_hwloc_mapped_at_start;

inline bool hwloc_mapped() {
  void* h = ::dlopen("libhwloc.so.15", RTLD_LAZY | RTLD_NOLOAD);
  if (h) ::dlclose(h);  // drops the reference RTLD_NOLOAD took
  return h != nullptr;
}

// `nodes` nodes with ids 0..nodes-1, `cpus` CPUs; CPU c on node map(c). node_mask left
// empty on purpose: topology_inject fills it from `nodes`.
template <class Map>
hakmem::Topology make_topology(int nodes, int cpus, Map map) {
  hakmem::Topology t{};
  t.nodes = nodes;
  t.cpus = cpus;
  t.cores = cpus;
  for (auto& w : t.node_mask) w = 0;
  for (int c = 0; c < hakmem::kMaxCpus; ++c) t.cpu_to_node[c] = c < cpus ? map(c) : 0;
  return t;
}

// Puts back the topology the process had (tests inject; they must not leak it).
struct InjectionGuard {
  ~InjectionGuard() { hakmem::topology_reset_injection(); }
};

}  // namespace numat
