// Topology detection from /sys through a fake platform that serves a synthetic machine:
// two NUMA nodes of four CPUs each, hyperthread pairs, 1 MiB L2 and 32 MiB L3. The parsing
// is checked against a layout this machine does not have.
#include <gtest/gtest.h>
#include <fcntl.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "platform/platform.hpp"
#include "superslab/topology.hpp"

namespace {

namespace platform = hakmem::platform;

struct FakeFile {
  const char* path;
  const char* text;
};

// Nodes 0 and 2 (ids may be sparse), CPUs 0-7; CPUs n and n+4 are the two hyperthreads of
// one core (as Linux numbers them on many machines); node 0 holds cores 0-1, node 2 cores 2-3.
constexpr FakeFile kSys[] = {
    {"/sys/devices/system/cpu/online", "0-7\n"},
    {"/sys/devices/system/node/online", "0,2\n"},
    {"/sys/devices/system/node/node0/cpulist", "0-1,4-5\n"},
    {"/sys/devices/system/node/node2/cpulist", "2-3,6-7\n"},
    {"/sys/devices/system/cpu/cpu0/topology/thread_siblings_list", "0,4\n"},
    {"/sys/devices/system/cpu/cpu1/topology/thread_siblings_list", "1,5\n"},
    {"/sys/devices/system/cpu/cpu2/topology/thread_siblings_list", "2,6\n"},
    {"/sys/devices/system/cpu/cpu3/topology/thread_siblings_list", "3,7\n"},
    {"/sys/devices/system/cpu/cpu4/topology/thread_siblings_list", "0,4\n"},
    {"/sys/devices/system/cpu/cpu5/topology/thread_siblings_list", "1,5\n"},
    {"/sys/devices/system/cpu/cpu6/topology/thread_siblings_list", "2,6\n"},
    {"/sys/devices/system/cpu/cpu7/topology/thread_siblings_list", "3,7\n"},
    {"/sys/devices/system/cpu/cpu0/cache/index0/level", "1\n"},
    {"/sys/devices/system/cpu/cpu0/cache/index0/type", "Data\n"},
    {"/sys/devices/system/cpu/cpu0/cache/index0/size", "48K\n"},
    {"/sys/devices/system/cpu/cpu0/cache/index1/level", "1\n"},
    {"/sys/devices/system/cpu/cpu0/cache/index1/type", "Instruction\n"},
    {"/sys/devices/system/cpu/cpu0/cache/index1/size", "32K\n"},
    {"/sys/devices/system/cpu/cpu0/cache/index2/level", "2\n"},
    {"/sys/devices/system/cpu/cpu0/cache/index2/type", "Unified\n"},
    {"/sys/devices/system/cpu/cpu0/cache/index2/size", "1024K\n"},
    {"/sys/devices/system/cpu/cpu0/cache/index3/level", "3\n"},
    {"/sys/devices/system/cpu/cpu0/cache/index3/type", "Unified\n"},
    {"/sys/devices/system/cpu/cpu0/cache/index3/size", "32M\n"},
};
constexpr int kFiles = sizeof(kSys) / sizeof(kSys[0]);
constexpr int kFdBase = 1 << 20;  // far above any real descriptor

std::atomic<int> g_opens{0};
std::size_t g_offset[kFiles];  // read position of each open fake file (one thread)

bool is_fake(int fd) { return fd >= kFdBase && fd < kFdBase + kFiles; }

const platform::Ops& fake_sysfs_ops() {
  static const platform::Ops ops = [] {
    platform::Ops o = platform::linux_ops();
    o.open = [](const char* path, int flags, mode_t mode) -> int {
      if (std::strncmp(path, "/sys/", 5) != 0) return platform::linux_ops().open(path, flags, mode);
      g_opens.fetch_add(1);
      for (int i = 0; i < kFiles; ++i) {
        if (std::strcmp(kSys[i].path, path) == 0) {
          g_offset[i] = 0;
          return kFdBase + i;
        }
      }
      errno = ENOENT;
      return -1;
    };
    o.read = [](int fd, void* buf, std::size_t len) -> ssize_t {
      if (!is_fake(fd)) return platform::linux_ops().read(fd, buf, len);
      int i = fd - kFdBase;
      std::size_t size = std::strlen(kSys[i].text);
      std::size_t n = size - g_offset[i] < len ? size - g_offset[i] : len;
      if (n > 2) n = 2;  // short reads, as a pipe or a slow file gives: the reader must loop
      std::memcpy(buf, kSys[i].text + g_offset[i], n);
      g_offset[i] += n;
      return static_cast<ssize_t>(n);
    };
    o.close = [](int fd) -> int { return is_fake(fd) ? 0 : platform::linux_ops().close(fd); };
    return o;
  }();
  return ops;
}

TEST(PlatformTopology, SysfsParsingOfASyntheticTwoNodeMachine) {
  static hakmem::Topology t;  // 4 KiB of cpu_to_node: not on the stack
  {
    platform::ScopedOps use(fake_sysfs_ops());
    ASSERT_TRUE(hakmem::topology_detect(&t, hakmem::TopologySource::kSysfs));
  }
  EXPECT_GT(g_opens.load(), 0) << "detection did not read through the platform layer";
  EXPECT_EQ(t.source, hakmem::TopologySource::kSysfs);
  EXPECT_EQ(t.nodes, 2);
  EXPECT_TRUE(t.has_node(0));
  EXPECT_FALSE(t.has_node(1));
  EXPECT_TRUE(t.has_node(2));
  EXPECT_EQ(t.cpus, 8);
  EXPECT_EQ(t.cores, 4);  // a core counted once, at its lowest hyperthread
  const int want_node[8] = {0, 0, 2, 2, 0, 0, 2, 2};
  for (int c = 0; c < 8; ++c) EXPECT_EQ(t.cpu_to_node[c], want_node[c]) << "cpu " << c;
  EXPECT_EQ(t.cpu_to_node[100], 0);  // unknown CPUs go to the lowest node
  EXPECT_EQ(t.l2_bytes, std::size_t{1} << 20);
  EXPECT_EQ(t.l3_bytes, std::size_t{32} << 20);
}

TEST(PlatformTopology, MachineWithoutSysfsIsOneCpuOneNode) {
  static hakmem::Topology t;
  static const platform::Ops no_sys = [] {
    platform::Ops o = platform::linux_ops();
    o.open = [](const char* path, int flags, mode_t mode) -> int {
      if (std::strncmp(path, "/sys/", 5) != 0) return platform::linux_ops().open(path, flags, mode);
      errno = ENOENT;
      return -1;
    };
    return o;
  }();
  {
    platform::ScopedOps use(no_sys);
    ASSERT_TRUE(hakmem::topology_detect(&t, hakmem::TopologySource::kSysfs));
  }
  EXPECT_EQ(t.nodes, 1);
  EXPECT_EQ(t.cpus, 1);
  EXPECT_EQ(t.cores, 1);
  EXPECT_EQ(t.l2_bytes, 0u);
  EXPECT_EQ(t.l3_bytes, 0u);
}

}  // namespace
