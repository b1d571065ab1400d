// vfsd's wake-up latency hold (vfsd/wake_latency.h): a PM QoS request of 0 us held while
// requests flow and withdrawn after the linger time; errors reported once; the real
// /dev/cpu_dma_latency value changes while vfsd serves requests.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "mount_fixture.h"
#include "wake_latency.h"

using namespace std::chrono_literals;

namespace {

template <class Pred>
bool wait_for(Pred p, std::chrono::milliseconds limit = 5000ms) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!p()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

// Descriptors of process `pid` that point at `target`.
int fds_on(pid_t pid, const std::string& target) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return -1;
  int n = 0;
  while (dirent* e = readdir(d)) {
    char buf[4096];
    const ssize_t k = readlink((dir + "/" + e->d_name).c_str(), buf, sizeof buf - 1);
    if (k > 0 && std::string(buf, static_cast<std::size_t>(k)) == target) ++n;
  }
  closedir(d);
  return n;
}

// The kernel's current CPU latency target (us): the smallest request held by anyone.
bool read_qos(std::int32_t* v) {
  const int fd = open("/dev/cpu_dma_latency", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = read(fd, v, sizeof *v) == static_cast<ssize_t>(sizeof *v);
  close(fd);
  return ok;
}

std::string temp_device() {
  char tmpl[] = "/tmp/wake-latency-XXXXXX";
  const int fd = mkstemp(tmpl);
  EXPECT_GE(fd, 0);
  close(fd);
  return tmpl;
}

TEST(WakeLatency, HeldWhileRequestsFlowThenWithdrawn) {
  const std::string dev = temp_device();
  {
    vfsd::WakeLatency w(400, dev);
    w.start();
    EXPECT_FALSE(w.held());
    w.note();
    ASSERT_TRUE(wait_for([&] { return w.held(); }));
    EXPECT_EQ(fds_on(getpid(), dev), 1);
    // Requests every 10 ms for 300 ms (the linger is 400 ms): one hold, never dropped.
    for (int i = 0; i < 30; ++i) {
      w.note();
      std::this_thread::sleep_for(10ms);
      EXPECT_TRUE(w.held());
    }
    EXPECT_EQ(w.acquisitions(), 1u);
    ASSERT_TRUE(wait_for([&] { return !w.held(); }));  // 400 ms after the last request
    EXPECT_EQ(fds_on(getpid(), dev), 0);
    // The request written is a binary 0 (us).
    std::ifstream in(dev, std::ios::binary);
    std::int32_t v = -1;
    in.read(reinterpret_cast<char*>(&v), sizeof v);
    EXPECT_EQ(in.gcount(), 4);
    EXPECT_EQ(v, 0);
    // A new burst takes it again.
    w.note();
    ASSERT_TRUE(wait_for([&] { return w.held(); }));
    EXPECT_EQ(w.acquisitions(), 2u);
    EXPECT_TRUE(w.error().empty());
  }
  EXPECT_EQ(fds_on(getpid(), dev), 0);  // the destructor withdraws a held request
  unlink(dev.c_str());
}

TEST(WakeLatency, ZeroLingerDisablesIt) {
  const std::string dev = temp_device();
  vfsd::WakeLatency w(0, dev);
  w.start();
  for (int i = 0; i < 100; ++i) w.note();
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(w.held());
  EXPECT_EQ(w.acquisitions(), 0u);
  EXPECT_EQ(fds_on(getpid(), dev), 0);
  unlink(dev.c_str());
}

TEST(WakeLatency, UnusableDeviceIsReportedOnceAndNotRetried) {
  vfsd::WakeLatency w(50, "/nonexistent-dir/cpu_dma_latency");
  w.start();
  testing::internal::CaptureStderr();
  w.note();
  ASSERT_TRUE(wait_for([&] { return !w.error().empty(); }));
  for (int i = 0; i < 20; ++i) {
    w.note();
    std::this_thread::sleep_for(5ms);
  }
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(w.error().find("No such file or directory"), std::string::npos) << w.error();
  std::size_t lines = 0;
  for (std::size_t p = 0; (p = err.find("cannot ask for low CPU wake-up latency", p)) != std::string::npos; ++p) ++lines;
  EXPECT_EQ(lines, 1u) << err;
  EXPECT_FALSE(w.held());
  EXPECT_EQ(w.acquisitions(), 0u);
}

// The real device: while vfsd serves requests the kernel's latency target is 0; after the
// linger it is back to what it was, and the daemon holds no descriptor on the device.
TEST(WakeLatencyMount, DaemonHoldsTheRealRequestOnlyWhileBusy) {
  std::string why;
  if (!vfstest::fuse_available(&why)) GTEST_SKIP() << why;
  std::int32_t before = 0;
  if (!read_qos(&before)) GTEST_SKIP() << "/dev/cpu_dma_latency not readable here";
  if (before == 0) GTEST_SKIP() << "another process already holds a 0 us request";
  vfstest::Mount m;
  ASSERT_TRUE(m.start({"--writable", "--wake-linger-ms", "300"}, &why)) << why;
  // Requests keep coming (each stat of a new name is a LOOKUP) while we look.
  std::int32_t during = -1;
  int fds_during = 0;
  for (int i = 0; i < 200 && (during != 0 || fds_during != 1); ++i) {
    struct stat st;
    (void)!stat((m.mnt() + "/absent-" + std::to_string(i)).c_str(), &st);
    ASSERT_TRUE(read_qos(&during));
    fds_during = fds_on(m.pid(), "/dev/cpu_dma_latency");
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(during, 0);
  EXPECT_EQ(fds_during, 1);
  // Idle: withdrawn after 300 ms.
  EXPECT_TRUE(wait_for([&] { return fds_on(m.pid(), "/dev/cpu_dma_latency") == 0; })) << m.log();
  std::int32_t after = -1;
  ASSERT_TRUE(read_qos(&after));
  EXPECT_EQ(after, before);
  EXPECT_EQ(m.stop(), 0);
}

TEST(WakeLatencyMount, ZeroLingerNeverTouchesTheDevice) {
  std::string why;
  if (!vfstest::fuse_available(&why)) GTEST_SKIP() << why;
  vfstest::Mount m;
  ASSERT_TRUE(m.start({"--writable", "--wake-linger-ms", "0"}, &why)) << why;
  for (int i = 0; i < 200; ++i) {
    struct stat st;
    (void)!stat((m.mnt() + "/absent-" + std::to_string(i)).c_str(), &st);
    ASSERT_EQ(fds_on(m.pid(), "/dev/cpu_dma_latency"), 0);
  }
  EXPECT_EQ(m.stop(), 0);
}

}  // namespace
