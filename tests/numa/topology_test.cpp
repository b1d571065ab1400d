// Topology: the list parsers, injected multi-node topologies, detection through hwloc
// (dlopen) against the /sys fallback, and topology_load() in fresh (forked) processes, since
// it runs once per process. This process itself never calls topology_load().
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <ostream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "superslab/numa.hpp"
#include "superslab/topology.hpp"
#include "tests/common/test_support.hpp"
#include "util.hpp"

using hakmem::kMaxCpus;
using hakmem::Topology;
using hakmem::TopologySource;

namespace {

int parse(const char* s, std::uint64_t* bits, int max_bits = 256) {
  std::memset(bits, 0, static_cast<std::size_t>(max_bits / 64) * 8);
  return hakmem::topology_detail::parse_list(s, std::strlen(s), bits, max_bits);
}

// Node directories in /sys, counted independently of the code under test.
int sysfs_node_dirs() {
  namespace fs = std::filesystem;
  std::error_code ec;
  int n = 0;
  const std::regex re("node[0-9]+");
  for (const auto& e : fs::directory_iterator("/sys/devices/system/node", ec))
    if (std::regex_match(e.path().filename().string(), re)) ++n;
  return n > 0 ? n : 1;
}

// A check inside a forked child: prints what failed and gives a distinct exit code.
#define CHILD_CHECK(cond, code)                                          \
  do {                                                                   \
    if (!(cond)) {                                                       \
      std::fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond);    \
      return code;                                                       \
    }                                                                    \
  } while (0)

bool same(const Topology& a, const Topology& b, std::string* why) {
  if (a.nodes != b.nodes) return *why = "nodes", false;
  if (a.cpus != b.cpus) return *why = "cpus", false;
  if (a.cores != b.cores) return *why = "cores", false;
  if (a.l2_bytes != b.l2_bytes) return *why = "l2_bytes", false;
  if (a.l3_bytes != b.l3_bytes) return *why = "l3_bytes", false;
  if (std::memcmp(a.node_mask, b.node_mask, sizeof(a.node_mask)) != 0)
    return *why = "node_mask", false;
  for (int c = 0; c < kMaxCpus; ++c)
    if (a.cpu_to_node[c] != b.cpu_to_node[c])
      return *why = "cpu_to_node[" + std::to_string(c) + "]", false;
  return true;
}

}  // namespace

namespace hakmem {
// Names the parameter in test names and ctest listings.
void PrintTo(TopologySource s, std::ostream* os) { *os << static_cast<int>(s); }
}  // namespace hakmem

// Under ctest's preloaded run, malloc must really be hakmem's, or that run proves nothing.
TEST(NumaPreload, MallocIsHakmemWhenExpected) {
  if (!std::getenv("NUMA_TEST_EXPECT_PRELOAD")) GTEST_SKIP() << "not the preloaded run";
  Dl_info info{};
  void* sym = ::dlsym(RTLD_DEFAULT, "malloc");
  ASSERT_NE(sym, nullptr);
  ASSERT_NE(::dladdr(sym, &info), 0);
  EXPECT_NE(std::strstr(info.dli_fname, "libhakmem"), nullptr) << info.dli_fname;
}

TEST(TopologyParse, Lists) {
  std::uint64_t b[4];
  EXPECT_EQ(parse("0\n", b), 1);
  EXPECT_EQ(b[0], 1u);
  EXPECT_EQ(parse("0-3,8,10-11\n", b), 7);
  EXPECT_EQ(b[0], 0xD0Fu);
  EXPECT_EQ(parse("64-65", b), 2);
  EXPECT_EQ(b[1], 3u);
  EXPECT_EQ(parse("\n", b), 0);  // a memory-only node has an empty cpulist
  EXPECT_EQ(parse("", b), 0);
  EXPECT_EQ(parse("250-300", b), 6);  // bits beyond the map are dropped, not overrun
  EXPECT_EQ(parse("3-1", b), -1);
  EXPECT_EQ(parse("a", b), -1);
  EXPECT_EQ(parse("1,,2", b), -1);
}

TEST(TopologyParse, Sizes) {
  using hakmem::topology_detail::parse_size;
  EXPECT_EQ(parse_size("1024K\n", 6), 1024u * 1024);
  EXPECT_EQ(parse_size("32M", 3), 32u << 20);
  EXPECT_EQ(parse_size("512", 3), 512u);
  EXPECT_EQ(parse_size("K", 1), 0u);
}

TEST(TopologyInject, TwoNodesBlocks) {
  numat::InjectionGuard guard;
  // Node 0 holds CPUs 0-7, node 1 CPUs 8-15 (the usual two-socket numbering).
  hakmem::topology_inject(numat::make_topology(2, 16, [](int c) { return c < 8 ? 0 : 1; }));
  const Topology& t = hakmem::topology();
  EXPECT_EQ(t.source, TopologySource::kInjected);
  EXPECT_EQ(t.nodes, 2);
  EXPECT_TRUE(t.has_node(0));
  EXPECT_TRUE(t.has_node(1));
  EXPECT_FALSE(t.has_node(2));
  for (int c = 0; c < 16; ++c) EXPECT_EQ(hakmem::topology_node_of_cpu(c), c < 8 ? 0 : 1) << c;
  EXPECT_EQ(hakmem::topology_node_of_cpu(kMaxCpus + 5), 0);  // unknown CPU: lowest node
  EXPECT_EQ(hakmem::topology_node_of_cpu(-1), 0);
}

TEST(TopologyInject, FourNodesInterleavedNumbering) {
  numat::InjectionGuard guard;
  // Some firmware numbers CPUs round-robin across sockets: CPU c on node c % 4.
  hakmem::topology_inject(numat::make_topology(4, 64, [](int c) { return c % 4; }));
  EXPECT_EQ(hakmem::topology().nodes, 4);
  for (int c = 0; c < 64; ++c) EXPECT_EQ(hakmem::topology_node_of_cpu(c), c % 4) << c;
}

TEST(TopologyInject, SparseNodeIds) {
  numat::InjectionGuard guard;
  // Nodes 0 and 2 (node 1 offline): the mask, not the count, says which ids exist.
  Topology t = numat::make_topology(2, 8, [](int c) { return c < 4 ? 0 : 2; });
  t.node_mask[0] = 0b101;
  hakmem::topology_inject(t);
  const Topology& cur = hakmem::topology();
  EXPECT_EQ(cur.nodes, 2);
  EXPECT_TRUE(cur.has_node(2));
  EXPECT_FALSE(cur.has_node(1));
  EXPECT_EQ(hakmem::topology_node_of_cpu(5), 2);
}

TEST(TopologyInject, ResetRestoresTheDefault) {
  {
    numat::InjectionGuard guard;
    hakmem::topology_inject(numat::make_topology(2, 4, [](int c) { return c & 1; }));
    EXPECT_EQ(hakmem::topology().nodes, 2);
  }
  // This process never loads: the single-node default is back.
  EXPECT_EQ(hakmem::topology().nodes, 1);
  EXPECT_EQ(hakmem::topology().source, TopologySource::kDefault);
}

// hwloc through dlopen gives the same answer as the /sys fallback, and is gone afterwards.
TEST(TopologyDetect, HwlocMatchesSysfs) {
  EXPECT_FALSE(numat::g_hwloc_mapped_at_start) << "libhwloc was loaded before any test";
  Topology from_sys, from_hwloc;
  ASSERT_TRUE(hakmem::topology_detect(&from_sys, TopologySource::kSysfs));
  EXPECT_EQ(from_sys.source, TopologySource::kSysfs);
  if (!hakmem::topology_detect(&from_hwloc, TopologySource::kHwloc))
    GTEST_SKIP() << "libhwloc.so.15 cannot be dlopen'ed here";
  EXPECT_EQ(from_hwloc.source, TopologySource::kHwloc);
  std::string why;
  EXPECT_TRUE(same(from_hwloc, from_sys, &why)) << "hwloc and /sys differ in " << why;
  EXPECT_FALSE(numat::hwloc_mapped()) << "libhwloc stays mapped after detection";
  std::printf("topology: %d node(s), %d cpu(s), %d core(s), L2 %zu KiB, L3 %zu KiB\n",
              from_sys.nodes, from_sys.cpus, from_sys.cores, from_sys.l2_bytes >> 10,
              from_sys.l3_bytes >> 10);
}

TEST(TopologyDetect, SysfsIsPlausible) {
  Topology t;
  ASSERT_TRUE(hakmem::topology_detect(&t, TopologySource::kSysfs));
  EXPECT_EQ(t.nodes, sysfs_node_dirs());
  EXPECT_EQ(t.cpus, sysconf(_SC_NPROCESSORS_ONLN));
  EXPECT_GE(t.cores, 1);
  EXPECT_LE(t.cores, t.cpus);
  // Every L2 of the last 20 years is 64 KiB..64 MiB; an L3, when present, is larger.
  EXPECT_GE(t.l2_bytes, 64u << 10);
  EXPECT_LE(t.l2_bytes, 64u << 20);
  if (t.l3_bytes) {
    EXPECT_GE(t.l3_bytes, t.l2_bytes);
    EXPECT_LE(t.l3_bytes, std::size_t{2} << 30);
  }
  for (int c = 0; c < t.cpus && c < kMaxCpus; ++c) EXPECT_TRUE(t.has_node(t.cpu_to_node[c]));
}

// topology_load() in a fresh process for each loader choice: what it publishes, that it runs
// once (a second call with another choice changes nothing), and that concurrent callers and
// readers during the load are safe.
class TopologyLoad : public ::testing::TestWithParam<TopologySource> {};

TEST_P(TopologyLoad, PublishesOnce) {
  const TopologySource prefer = GetParam();
  const int expect_nodes = sysfs_node_dirs();
  const long expect_cpus = sysconf(_SC_NPROCESSORS_ONLN);
  hakt::ChildResult r = hakt::run_in_child([&]() -> int {
    CHILD_CHECK(hakmem::topology_loaded() == nullptr, 2);
    CHILD_CHECK(hakmem::topology().source == TopologySource::kDefault, 3);
    std::atomic<bool> stop{false};
    std::atomic<int> bad{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 3; ++i)
      threads.emplace_back([&] {
        while (!stop.load()) {
          const Topology& t = hakmem::topology();
          if (t.nodes < 1 || hakmem::numa_current_node() < 0) bad.fetch_add(1);
        }
      });
    for (int i = 0; i < 3; ++i) threads.emplace_back([&] { hakmem::topology_load(prefer); });
    hakmem::topology_load(prefer);
    for (std::size_t i = 3; i < threads.size(); ++i) threads[i].join();
    // Another thread may still be inside the load; wait for it to publish.
    for (int i = 0; i < 10000 && !hakmem::topology_loaded(); ++i) usleep(1000);
    stop.store(true);
    for (int i = 0; i < 3; ++i) threads[static_cast<std::size_t>(i)].join();
    CHILD_CHECK(bad.load() == 0, 4);
    const Topology* loaded = hakmem::topology_loaded();
    CHILD_CHECK(loaded != nullptr, 5);
    CHILD_CHECK(&hakmem::topology() == loaded, 6);
    CHILD_CHECK(loaded->nodes == expect_nodes, 7);
    CHILD_CHECK(loaded->cpus == expect_cpus, 8);
    // Only kHwloc, or kDefault on a multi-node machine, asks hwloc.
    TopologySource want = TopologySource::kSysfs;
    Topology probe;
    bool hwloc_ok = hakmem::topology_detect(&probe, TopologySource::kHwloc);
    if (hwloc_ok && (prefer == TopologySource::kHwloc ||
                     (prefer == TopologySource::kDefault && expect_nodes > 1)))
      want = TopologySource::kHwloc;
    CHILD_CHECK(loaded->source == want, 9);
    Topology before = *loaded;
    hakmem::topology_load(TopologySource::kHwloc);
    hakmem::topology_load(TopologySource::kSysfs);
    CHILD_CHECK(std::memcmp(&before, loaded, sizeof(before)) == 0, 10);
    CHILD_CHECK(!numat::hwloc_mapped(), 11);
    // An injection is not undone by loading, and a reset comes back to the loaded one.
    hakmem::topology_inject(numat::make_topology(2, 4, [](int c) { return c & 1; }));
    hakmem::topology_load();
    CHILD_CHECK(hakmem::topology().nodes == 2, 12);
    hakmem::topology_reset_injection();
    CHILD_CHECK(&hakmem::topology() == loaded, 13);
    return 0;
  });
  EXPECT_TRUE(r.ok()) << r.describe();
}

INSTANTIATE_TEST_SUITE_P(Loaders, TopologyLoad,
                         ::testing::Values(TopologySource::kDefault, TopologySource::kHwloc,
                                           TopologySource::kSysfs),
                         [](const auto& info) {
                           switch (info.param) {
                             case TopologySource::kHwloc: return std::string("Hwloc");
                             case TopologySource::kSysfs: return std::string("SysfsForced");
                             default: return std::string("Auto");
                           }
                         });
