// vfsd's write path as tuned for speed: kernel write-back caching with a raised dirty limit,
// no FLUSH round trip at close (data saved at release, errors at fsync), write-behind of
// streams, and access() answered by the daemon when the kernel does not check permissions.
// Each test checks that no acknowledged byte is lost on the way.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "mount_fixture.h"

using vfstest::Mount;
using vfstest::run;

namespace {

class VfsdWriteback : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!vfstest::fuse_available(&why)) GTEST_SKIP() << why;
    ASSERT_EQ(run("mkdir -p a && echo hello > a/hello.txt && head -c 3000000 /dev/urandom > a/src.bin",
                  m.src()).status, 0);
    src_sums_ = vfstest::tree_checksums(m.src());
  }
  void TearDown() override {
    if (IsSkipped()) return;
    m.stop();
    EXPECT_EQ(vfstest::tree_checksums(m.src()), src_sums_);  // the source is never written
  }
  bool mount(std::vector<std::string> extra = {}) {
    extra.insert(extra.begin(), "--writable");
    std::string why;
    const bool ok = m.start(extra, &why);
    if (!ok) ADD_FAILURE() << why;
    return ok;
  }
  std::string sh(const std::string& cmd) {
    auto r = run(cmd, m.mnt());
    EXPECT_EQ(r.status, 0) << cmd << "\n" << r.out << "\n" << m.log();
    return r.out;
  }
  // The saved copy in the cache directory, compared with a file outside the mount.
  bool saved_equals(const std::string& rel, const std::string& reference) {
    return run("cmp " + m.cache() + "/upper/" + rel + " " + reference).status == 0;
  }
  nlohmann::json stats() {  // SIGUSR1 makes the daemon write cache/stats.json
    const std::string path = m.cache() + "/stats.json";
    unlink(path.c_str());
    kill(m.pid(), SIGUSR1);
    for (int i = 0; i < 100 && access(path.c_str(), F_OK) != 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::ifstream in(path);
    return nlohmann::json::parse(in, nullptr, false);
  }

  Mount m;
  std::string src_sums_;
};

TEST_F(VfsdWriteback, FsyncedDataIsOnDiskAndEverythingSurvivesRemount) {
  ASSERT_TRUE(mount());
  ASSERT_EQ(run("head -c 5000000 /dev/urandom > synced && head -c 700000 /dev/urandom > plain && "
                "head -c 4096 /dev/urandom > page", m.ext()).status, 0);
  // fsync: by the time it returns, the bytes are in the cache directory (and synced there).
  sh("dd if=" + m.ext() + "/synced of=synced bs=64k conv=fsync status=none");
  EXPECT_TRUE(saved_equals("synced", m.ext() + "/synced"));
  // Written and closed without fsync; scattered page writes into a source file (copy-on-write
  // of its chunks); an append to the fsynced file. All of it sits in the kernel's page cache
  // or the pool until it is saved.
  sh("cp " + m.ext() + "/plain plain");
  for (int i = 0; i < 20; ++i)
    sh("dd if=" + m.ext() + "/page of=a/src.bin bs=4096 seek=" + std::to_string(i * 37) +
       " conv=notrunc status=none");
  sh("cat " + m.ext() + "/plain >> synced");
  const std::string want = sh("sha256sum synced plain a/src.bin");
  ASSERT_EQ(m.stop(), 0) << m.log();
  ASSERT_TRUE(mount());
  EXPECT_EQ(sh("sha256sum synced plain a/src.bin"), want);
  EXPECT_EQ(sh("head -c 4096 a/src.bin | cmp - " + m.ext() + "/page && echo ok"), "ok\n");
}

TEST_F(VfsdWriteback, CloseDoesNotWaitButTheDataIsSavedRightAfter) {
  ASSERT_TRUE(mount());
  ASSERT_EQ(run("head -c 300000 /dev/urandom > f", m.ext()).status, 0);
  sh("cp " + m.ext() + "/f f");
  // Saved by the release that follows close(), not by close() itself: poll for it.
  bool saved = false;
  for (int i = 0; i < 100 && !saved; ++i) {
    saved = saved_equals("f", m.ext() + "/f");
    if (!saved) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(saved) << m.log();
}

TEST_F(VfsdWriteback, SaveOnCloseReportsAFullCacheDiskAtClose) {
  vfstest::TmpfsCacheDisk disk(m, "4m");
  ASSERT_TRUE(disk.ok());
  ASSERT_TRUE(mount({"--save-on-close"}));
  auto r = run("dd if=/dev/zero of=big bs=64k count=100 status=none", m.mnt());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("No space left on device"), std::string::npos) << r.out;
}

TEST_F(VfsdWriteback, AccessFollowsTheExecuteBits) {
  ASSERT_TRUE(mount());
  EXPECT_NE(run("test -x a/hello.txt", m.mnt()).status, 0);
  sh("test -x a && test -r a/hello.txt && test -w a/hello.txt");
  sh("chmod +x a/hello.txt && test -x a/hello.txt");
  sh("printf '#!/bin/sh\\necho ran\\n' > s.sh && chmod 755 s.sh");
  EXPECT_EQ(sh("./s.sh"), "ran\n");
}

// READDIRPLUS with attributes: after a listing, the stat() of every listed name is answered
// by the kernel (no LOOKUP round trip), and a listing longer than one request's buffer comes
// back whole and in order (offsets continue from the handle's listing).
TEST_F(VfsdWriteback, AListingAnswersTheLookupsThatFollowIt) {
  ASSERT_TRUE(mount());
  sh("mkdir l && for i in $(seq 1 150); do head -c $i /dev/zero > l/f$i; done && mkdir l/sub && "
     "ln -s f1 l/link");
  const std::string want_names = sh("ls -a l");
  ASSERT_EQ(m.stop(), 0) << m.log();
  ASSERT_TRUE(mount({"-d"}));  // libfuse's trace of every request, in the daemon's log
  const auto lookups = [&] {
    const std::string log = m.log();
    std::size_t n = 0;
    for (std::size_t p = 0; (p = log.find("opcode: LOOKUP", p)) != std::string::npos; ++p) ++n;
    return n;
  };
  sh("ls l > /dev/null");  // LOOKUP of "l" itself, then one listing
  const std::size_t before = lookups();
  EXPECT_EQ(sh("ls -a l"), want_names);  // whole and in the same order, over several requests
  const std::string sizes = sh("cd l && for i in $(seq 1 150); do stat -c %s f$i; done | awk '{s += $1} END {print s}'");
  EXPECT_EQ(sizes, std::to_string(150 * 151 / 2) + "\n");
  EXPECT_EQ(sh("stat -c %F l/sub l/link"), "directory\nsymbolic link\n");
  EXPECT_LE(lookups() - before, 2u) << "each listed name was looked up again";
}

TEST_F(VfsdWriteback, KernelDirtyLimitIsRaisedForTheMount) {
  ASSERT_TRUE(mount({"--kernel-dirty-mb", "512"}));
  const std::string dev = run("mountpoint -d " + m.mnt()).out;
  const std::string knob = "/sys/class/bdi/" + dev.substr(0, dev.find('\n')) + "/max_bytes";
  if (access(knob.c_str(), F_OK) != 0) GTEST_SKIP() << "no " << knob << " (Linux < 6.2)";
  auto read = [](const std::string& path) {
    std::ifstream in(path);
    unsigned long long v = 0;
    in >> v;
    return static_cast<double>(v);
  };
  // The kernel keeps the limits as shares of its global dirty limit, which moves with free
  // memory: the values read back approximately. Half is guaranteed, for a fresh mount.
  EXPECT_NEAR(read(knob), 512.0 * (1 << 20), 0.1 * 512 * (1 << 20)) << m.log();
  const std::string min_knob = knob.substr(0, knob.rfind('/')) + "/min_bytes";
  EXPECT_NEAR(read(min_knob), 256.0 * (1 << 20), 0.1 * 256 * (1 << 20)) << m.log();
}

TEST_F(VfsdWriteback, AStreamIsSavedAsItIsWrittenAndKeepsThePoolSmall) {
  ASSERT_TRUE(mount({"--pool-mb", "1024", "--writebehind-mb", "8"}));
  sh("dd if=/dev/zero of=stream bs=1M count=256 status=none");
  const nlohmann::json s = stats();
  ASSERT_FALSE(s.is_discarded()) << m.log();
  const double peak_mb = s["pool"]["peak_live"].get<double>() * s["pool"]["chunk_size"].get<double>() / (1 << 20);
  EXPECT_GT(s["vfsd"]["writebehind_flushes"].get<int>(), 0);
  // Without write-behind the whole stream would sit in the pool until close (256 MiB).
  EXPECT_LT(peak_mb, 96.0);
  EXPECT_EQ(sh("head -c 268435456 /dev/zero | cmp - stream && echo ok"), "ok\n");
  ASSERT_EQ(m.stop(), 0) << m.log();
  EXPECT_EQ(run("stat -c %s " + m.cache() + "/upper/stream").out, "268435456\n");
}

}  // namespace
