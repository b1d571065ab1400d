// NUMA placement of SuperSlabs: each is placed on the node of the thread that takes it
// (HAKMEM_NUMA=local), spread over all nodes (interleave), or left to the kernel (off).
//
// On one node every entry point returns after one load of the cached topology: no syscall,
// no counter, nothing to pay. Placement uses the raw mbind syscall rather than libnuma, so it
// needs no library, never allocates and never prints (libnuma reports errors on stderr).
#pragma once

#include <cstddef>
#include <cstdint>

#include "superslab/topology.hpp"

namespace hakmem {

enum class NumaMode { kLocal, kInterleave, kOff };

// Pass as `node` to numa_place to mean "the calling thread's node".
inline constexpr int kNumaCurrentNode = -1;

// Node of the CPU the calling thread runs on, mapped through the cached topology's
// cpu_to_node (so an injected topology is honoured). On a single node: 0, after one load of
// the topology pointer and no CPU lookup; otherwise one sched_getcpu (glibc reads it from
// rseq or the vDSO: no syscall).
int numa_current_node();

// Sets the memory policy of a fresh range [p, p+len) (page-aligned p) before it is populated:
// kLocal prefers `node` (MPOL_PREFERRED: a full node spills to others instead of triggering
// the OOM killer, which MPOL_BIND would), kInterleave spreads pages over all nodes of the
// topology (`node` ignored). Pages already faulted keep their place: call between mmap and
// populate. Returns true, doing nothing, when the topology has one node or mode is kOff.
// Returns false (errno from the kernel, or EINVAL) when the kernel refuses, e.g. a node that
// does not exist or has no memory; the range is then untouched and still usable.
bool numa_place(void* p, std::size_t len, int node, NumaMode mode);

// Calls to numa_place that reached the kernel (multi-node, mode not kOff), and how many of
// them failed. Relaxed counters for the stats API.
std::uint64_t numa_place_calls();
std::uint64_t numa_place_failures();

// HAKMEM_NUMA values: "local", "interleave", "off" (also "0"/"1"). false if unrecognised.
bool numa_mode_parse(const char* s, NumaMode* out);
const char* numa_mode_name(NumaMode m);

}  // namespace hakmem
