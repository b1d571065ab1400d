// NUMA placement: a no-op on one node, real mbind calls under an injected multi-node topology
// on this (single-node) machine, checked with get_mempolicy(MPOL_F_ADDR); and the node of the
// calling thread under injected CPU-to-node maps.
#include <gtest/gtest.h>
#include <linux/mempolicy.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "superslab/numa.hpp"
#include "superslab/topology.hpp"
#include "util.hpp"

using hakmem::NumaMode;

namespace {

constexpr std::size_t kLen = std::size_t{2} << 20;  // one SuperSlab

struct Mapping {
  void* p = ::mmap(nullptr, kLen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ~Mapping() { ::munmap(p, kLen); }
};

struct Policy {
  int mode = -1;
  unsigned long mask[hakmem::kMaxNumaNodes / 64] = {};
};

// The policy of the range starting at p (the kernel reports the VMA's policy).
bool policy_of(void* p, Policy* out) {
  return ::syscall(SYS_get_mempolicy, &out->mode, out->mask,
                   static_cast<unsigned long>(hakmem::kMaxNumaNodes) + 1, p, MPOL_F_ADDR) == 0;
}

// Containers may forbid the NUMA syscalls (seccomp); then there is nothing to test.
bool numa_syscalls_allowed() {
  Policy pol;
  Mapping m;
  return policy_of(m.p, &pol) || (errno != ENOSYS && errno != EPERM);
}

void inject_nodes(int nodes) {
  hakmem::topology_inject(
      numat::make_topology(nodes, hakmem::kMaxCpus, [nodes](int c) { return c % nodes; }));
}

}  // namespace

TEST(NumaPlace, SingleNodeIsANoOp) {
  numat::InjectionGuard guard;
  ASSERT_EQ(hakmem::topology().nodes, 1);
  Mapping m;
  const auto calls = hakmem::numa_place_calls();
  EXPECT_TRUE(hakmem::numa_place(m.p, kLen, 0, NumaMode::kLocal));
  EXPECT_TRUE(hakmem::numa_place(m.p, kLen, 7, NumaMode::kLocal));  // not even looked at
  EXPECT_TRUE(hakmem::numa_place(m.p, kLen, 0, NumaMode::kInterleave));
  EXPECT_TRUE(hakmem::numa_place(nullptr, 0, -5, NumaMode::kOff));
  EXPECT_EQ(hakmem::numa_place_calls(), calls);
  Policy pol;
  if (policy_of(m.p, &pol)) {
    EXPECT_EQ(pol.mode, MPOL_DEFAULT);
  }
  // An injected single-node topology behaves the same.
  hakmem::topology_inject(numat::make_topology(1, 4, [](int) { return 0; }));
  EXPECT_TRUE(hakmem::numa_place(m.p, kLen, 3, NumaMode::kLocal));
  EXPECT_EQ(hakmem::numa_place_calls(), calls);
}

TEST(NumaPlace, OffDoesNothingOnTwoNodes) {
  numat::InjectionGuard guard;
  inject_nodes(2);
  Mapping m;
  const auto calls = hakmem::numa_place_calls();
  EXPECT_TRUE(hakmem::numa_place(m.p, kLen, 1, NumaMode::kOff));
  EXPECT_EQ(hakmem::numa_place_calls(), calls);
}

TEST(NumaPlace, TwoNodesBindsExistingNodeAndRefusesMissingOne) {
  if (!numa_syscalls_allowed()) GTEST_SKIP() << "get_mempolicy/mbind not permitted here";
  numat::InjectionGuard guard;
  inject_nodes(2);
  Mapping m;
  ASSERT_NE(m.p, MAP_FAILED);
  const auto calls = hakmem::numa_place_calls();
  const auto failures = hakmem::numa_place_failures();

  // Node 1 exists only in the injected topology: the kernel refuses, nothing changes.
  errno = 0;
  EXPECT_FALSE(hakmem::numa_place(m.p, kLen, 1, NumaMode::kLocal));
  EXPECT_EQ(errno, EINVAL);
  Policy pol;
  ASSERT_TRUE(policy_of(m.p, &pol));
  EXPECT_EQ(pol.mode, MPOL_DEFAULT);
  EXPECT_EQ(hakmem::numa_place_failures(), failures + 1);

  // Node 0 is real: preferred, and the memory is then usable as usual.
  EXPECT_TRUE(hakmem::numa_place(m.p, kLen, 0, NumaMode::kLocal));
  ASSERT_TRUE(policy_of(m.p, &pol));
  EXPECT_EQ(pol.mode, MPOL_PREFERRED);
  EXPECT_EQ(pol.mask[0], 1u);
  // The last page too: the policy covers the whole range, not its first page.
  Policy last;
  ASSERT_TRUE(policy_of(static_cast<char*>(m.p) + kLen - 4096, &last));
  EXPECT_EQ(last.mode, MPOL_PREFERRED);
  std::memset(m.p, 0xA5, kLen);
  EXPECT_EQ(static_cast<unsigned char*>(m.p)[kLen - 1], 0xA5);

  EXPECT_EQ(hakmem::numa_place_calls(), calls + 2);
  EXPECT_EQ(hakmem::numa_place_failures(), failures + 1);
}

TEST(NumaPlace, BadArgumentsFailWithoutASyscall) {
  numat::InjectionGuard guard;
  inject_nodes(2);
  Mapping m;
  const auto failures = hakmem::numa_place_failures();
  EXPECT_FALSE(hakmem::numa_place(static_cast<char*>(m.p) + 8, 4096, 0, NumaMode::kLocal));
  EXPECT_FALSE(hakmem::numa_place(m.p, 0, 0, NumaMode::kLocal));
  EXPECT_FALSE(hakmem::numa_place(m.p, kLen, hakmem::kMaxNumaNodes, NumaMode::kLocal));
  EXPECT_FALSE(hakmem::numa_place(m.p, kLen, -7, NumaMode::kLocal));
  EXPECT_EQ(hakmem::numa_place_failures(), failures + 4);
}

TEST(NumaPlace, InterleaveOverFourNodes) {
  if (!numa_syscalls_allowed()) GTEST_SKIP() << "get_mempolicy/mbind not permitted here";
  numat::InjectionGuard guard;
  inject_nodes(4);
  Mapping m;
  // The kernel keeps the nodes that have memory (here node 0) out of the four.
  EXPECT_TRUE(hakmem::numa_place(m.p, kLen, 3, NumaMode::kInterleave));
  Policy pol;
  ASSERT_TRUE(policy_of(m.p, &pol));
  EXPECT_EQ(pol.mode, MPOL_INTERLEAVE);
  EXPECT_EQ(pol.mask[0] & 1u, 1u);
  std::memset(m.p, 1, kLen);
}

TEST(NumaPlace, CurrentNodeFollowsTheInjectedMap) {
  if (!numa_syscalls_allowed()) GTEST_SKIP() << "get_mempolicy/mbind not permitted here";
  numat::InjectionGuard guard;
  // Every CPU on node 0, the only one with memory here, but two nodes in the topology.
  hakmem::topology_inject(numat::make_topology(2, hakmem::kMaxCpus, [](int) { return 0; }));
  Mapping m;
  EXPECT_TRUE(hakmem::numa_place(m.p, kLen, hakmem::kNumaCurrentNode, NumaMode::kLocal));
  Policy pol;
  ASSERT_TRUE(policy_of(m.p, &pol));
  EXPECT_EQ(pol.mode, MPOL_PREFERRED);
  EXPECT_EQ(pol.mask[0], 1u);
}

// numa_current_node maps the CPU the thread runs on through the injected cpu_to_node.
TEST(NumaCurrentNode, InjectedMaps) {
  numat::InjectionGuard guard;
  cpu_set_t saved;
  ASSERT_EQ(sched_getaffinity(0, sizeof(saved), &saved), 0);
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE && c < hakmem::kMaxCpus; ++c)
    if (CPU_ISSET(c, &saved)) cpus.push_back(c);
  ASSERT_FALSE(cpus.empty());

  for (int nodes : {2, 4}) {
    // CPU c on node (c + 1) % nodes: never the kernel's own answer (node 0) for every CPU,
    // so a result taken from getcpu's node instead of the map would show.
    hakmem::topology_inject(numat::make_topology(nodes, hakmem::kMaxCpus,
                                                 [nodes](int c) { return (c + 1) % nodes; }));
    for (int c : cpus) {
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(c, &one);
      ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
      ASSERT_EQ(sched_getcpu(), c);
      EXPECT_EQ(hakmem::numa_current_node(), (c + 1) % nodes) << "cpu " << c;
    }
  }
  ASSERT_EQ(sched_setaffinity(0, sizeof(saved), &saved), 0);
}

TEST(NumaCurrentNode, SingleNodeIsZeroWithoutLookingAtTheMap) {
  numat::InjectionGuard guard;
  EXPECT_EQ(hakmem::numa_current_node(), 0);
  // A single-node topology returns 0 before any CPU lookup, even with a nonsense map.
  hakmem::topology_inject(numat::make_topology(1, 4, [](int) { return 5; }));
  EXPECT_EQ(hakmem::numa_current_node(), 0);
}

TEST(NumaMode, ParseAndName) {
  NumaMode m = NumaMode::kOff;
  EXPECT_TRUE(hakmem::numa_mode_parse("local", &m));
  EXPECT_EQ(m, NumaMode::kLocal);
  EXPECT_TRUE(hakmem::numa_mode_parse("interleave", &m));
  EXPECT_EQ(m, NumaMode::kInterleave);
  EXPECT_TRUE(hakmem::numa_mode_parse("off", &m));
  EXPECT_EQ(m, NumaMode::kOff);
  EXPECT_FALSE(hakmem::numa_mode_parse("sideways", &m));
  EXPECT_FALSE(hakmem::numa_mode_parse(nullptr, &m));
  EXPECT_STREQ(hakmem::numa_mode_name(NumaMode::kInterleave), "interleave");
}
