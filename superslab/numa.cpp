// NUMA placement through the raw mbind syscall: no libnuma (it allocates and reports errors
// on stderr), no allocation, and on a single node nothing at all.
#include "superslab/numa.hpp"

#include <linux/mempolicy.h>  // MPOL_* constants (kernel UAPI; no library needed)

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "platform/platform.hpp"
#include "superslab/os.hpp"

namespace hakmem {
namespace {

std::atomic<std::uint64_t> g_place_calls{0};
std::atomic<std::uint64_t> g_place_failures{0};

// The kernel's nodemask is an array of unsigned long; ours is uint64_t words of the same bits.
static_assert(sizeof(unsigned long) == sizeof(std::uint64_t), "LP64 only");
constexpr int kMaskWords = kMaxNumaNodes / 64;

bool fail(int err) {
  g_place_failures.fetch_add(1, std::memory_order_relaxed);
  errno = err;
  return false;
}

bool equals(const char* a, const char* b) { return std::strcmp(a, b) == 0; }

}  // namespace

int numa_current_node() {
  const Topology& t = topology();
  if (t.nodes <= 1) [[likely]] return 0;
  return topology_node_of_cpu(platform::ops().sched_getcpu());
}

bool numa_place(void* p, std::size_t len, int node, NumaMode mode) {
  const Topology& t = topology();
  if (mode == NumaMode::kOff || t.nodes <= 1) [[likely]] return true;
  g_place_calls.fetch_add(1, std::memory_order_relaxed);
  if (len == 0 || (reinterpret_cast<std::uintptr_t>(p) & (os::kPageSize - 1)) != 0)
    return fail(EINVAL);

  unsigned long mask[kMaskWords] = {};
  int policy;
  if (mode == NumaMode::kInterleave) {
    // The kernel intersects the mask with the nodes that have memory and are allowed by the
    // cpuset, so nodes without memory in the topology do no harm.
    std::memcpy(mask, t.node_mask, sizeof(mask));
    policy = MPOL_INTERLEAVE;
  } else {
    if (node == kNumaCurrentNode) node = numa_current_node();
    if (node < 0 || node >= kMaxNumaNodes) return fail(EINVAL);
    mask[node / 64] = 1ul << (node % 64);
    policy = MPOL_PREFERRED;
  }
  // maxnode is one more than the bits passed: the kernel reads maxnode - 1 bits (libnuma
  // passes size + 1 the same way). No MPOL_MF_MOVE: the range is fresh, nothing to migrate.
  long r = platform::ops().mbind(p, len, policy, mask,
                                 static_cast<unsigned long>(kMaxNumaNodes) + 1, 0u);
  if (r != 0) return fail(errno);
  return true;
}

std::uint64_t numa_place_calls() { return g_place_calls.load(std::memory_order_relaxed); }
std::uint64_t numa_place_failures() { return g_place_failures.load(std::memory_order_relaxed); }

bool numa_mode_parse(const char* s, NumaMode* out) {
  if (!s) return false;
  if (equals(s, "local") || equals(s, "1")) *out = NumaMode::kLocal;
  else if (equals(s, "interleave")) *out = NumaMode::kInterleave;
  else if (equals(s, "off") || equals(s, "0")) *out = NumaMode::kOff;
  else return false;
  return true;
}

const char* numa_mode_name(NumaMode m) {
  switch (m) {
    case NumaMode::kLocal: return "local";
    case NumaMode::kInterleave: return "interleave";
    case NumaMode::kOff: return "off";
  }
  return "?";
}

}  // namespace hakmem
