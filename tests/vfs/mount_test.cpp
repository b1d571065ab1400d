// vfsd mounted for real: what real tools do to a writable overlay, persistence across
// remounts, the source left untouched, and clear errors for bad input.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "mount_fixture.h"

using vfstest::Mount;
using vfstest::run;

namespace {

class VfsdMount : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!vfstest::fuse_available(&why)) GTEST_SKIP() << why;
    // A source tree: nested dirs, small and medium files, a symlink.
    ASSERT_EQ(run("mkdir -p a/b/c d e && echo hello > a/hello.txt && echo deep > a/b/c/deep.txt && "
                  "ln -s hello.txt a/link && printf 'int main(){return 0;}\\n' > d/prog.c",
                  m.src()).status, 0);
    for (int i = 0; i < 40; ++i)
      vfstest::write_random_file(m.src() + "/e/f" + std::to_string(i), 1000 + i * 7919, i);
    vfstest::write_random_file(m.src() + "/a/medium.bin", 3 << 20, 77);
    src_sums_ = vfstest::tree_checksums(m.src());
    src_meta_ = vfstest::tree_metadata(m.src());
  }

  void TearDown() override {
    if (IsSkipped()) return;
    m.stop();
    // Whatever a test did, the source tree is exactly as it was.
    EXPECT_EQ(vfstest::tree_checksums(m.src()), src_sums_);
    EXPECT_EQ(vfstest::tree_metadata(m.src()), src_meta_);
  }

  bool mount(const std::vector<std::string>& extra = {"--writable"}) {
    std::string why;
    const bool ok = m.start(extra, &why);
    if (!ok) ADD_FAILURE() << why;
    return ok;
  }
  bool remount() {
    const int st = m.stop();
    if (st != 0) ADD_FAILURE() << "vfsd exit status " << st << "\n" << m.log();
    return st == 0 && mount();
  }
  std::string sh(const std::string& cmd) {  // runs in the mount, must succeed
    auto r = run(cmd, m.mnt());
    EXPECT_EQ(r.status, 0) << cmd << "\n" << r.out << "\n" << m.log();
    return r.out;
  }

  Mount m;
  std::string src_sums_, src_meta_;
};

TEST_F(VfsdMount, PresentsTheSourceTree) {
  ASSERT_TRUE(mount());
  EXPECT_EQ(vfstest::tree_checksums(m.mnt()), src_sums_);
  EXPECT_EQ(sh("readlink a/link"), "hello.txt\n");
  EXPECT_EQ(sh("cat a/link"), "hello\n");
  EXPECT_NE(sh("df -P .").find("vfsd"), std::string::npos);
}

TEST_F(VfsdMount, CopiesATreeInAndOutWithChecksums) {
  ASSERT_EQ(run("mkdir -p tree/x/y tree/z", m.ext()).status, 0);
  for (int i = 0; i < 120; ++i)
    vfstest::write_random_file(m.ext() + "/tree/" + (i % 3 == 0 ? "x/y/" : i % 3 == 1 ? "z/" : "") + "g" +
                                   std::to_string(i),
                               (i * 37) % 300000 + (i % 5 == 0 ? 0 : 1), 1000 + i);
  const std::string in = vfstest::tree_checksums(m.ext() + "/tree");
  ASSERT_TRUE(mount());
  sh("cp -a " + m.ext() + "/tree copy && cp -a e e2");
  EXPECT_EQ(vfstest::tree_checksums(m.mnt() + "/copy"), in);
  ASSERT_EQ(run("cp -a " + m.mnt() + "/copy " + m.ext() + "/back").status, 0);
  EXPECT_EQ(vfstest::tree_checksums(m.ext() + "/back"), in);
  ASSERT_TRUE(remount());
  EXPECT_EQ(vfstest::tree_checksums(m.mnt() + "/copy"), in);
  EXPECT_EQ(vfstest::tree_checksums(m.mnt() + "/e2"), vfstest::tree_checksums(m.src() + "/e"));
}

TEST_F(VfsdMount, Writes20MBFileAndReadsItBackAfterRemount) {
  vfstest::write_random_file(m.ext() + "/big", 20 << 20, 5);
  const std::string sum = run("sha256sum < big", m.ext()).out;
  ASSERT_TRUE(mount());
  sh("cp " + m.ext() + "/big big && cmp big " + m.ext() + "/big");
  // Overwrite a middle range of a source file (copy-on-write of its chunks).
  sh("dd if=/dev/zero of=a/medium.bin bs=1000 seek=1500 count=100 conv=notrunc status=none");
  ASSERT_TRUE(remount());
  EXPECT_EQ(sh("sha256sum < big"), sum);
  EXPECT_EQ(sh("stat -c %s a/medium.bin"), std::to_string(3 << 20) + "\n");
  EXPECT_EQ(sh("head -c 1500000 a/medium.bin | sha256sum"), run("head -c 1500000 a/medium.bin | sha256sum", m.src()).out);
  EXPECT_EQ(sh("tail -c +1600001 a/medium.bin | sha256sum"), run("tail -c +1600001 a/medium.bin | sha256sum", m.src()).out);
  EXPECT_EQ(sh("head -c 1600000 a/medium.bin | tail -c 100000 | tr -d '\\0' | wc -c"), "0\n");
}

TEST_F(VfsdMount, AppendsAndTruncates) {
  ASSERT_TRUE(mount());
  sh("for i in $(seq 1 200); do echo line$i >> log.txt; done");
  EXPECT_EQ(sh("wc -l < log.txt"), "200\n");
  sh("echo more >> a/hello.txt");  // append to a source file
  EXPECT_EQ(sh("cat a/hello.txt"), "hello\nmore\n");
  sh("truncate -s 3 a/hello.txt");
  EXPECT_EQ(sh("cat a/hello.txt"), "hel");
  sh("truncate -s 1000000 a/hello.txt");  // grows with zeros
  EXPECT_EQ(sh("stat -c %s a/hello.txt"), "1000000\n");
  EXPECT_EQ(sh("tail -c +4 a/hello.txt | tr -d '\\0' | wc -c"), "0\n");
  sh("truncate -s 0 e/f3 && echo new > e/f4");  // O_TRUNC of a source file
  sh("head -c 100000 /dev/urandom > t && truncate -s 70000 t && cat t > t2 && truncate -s 200000 t");
  ASSERT_TRUE(remount());
  EXPECT_EQ(sh("wc -l < log.txt"), "200\n");
  EXPECT_EQ(sh("head -c 3 a/hello.txt"), "hel");
  EXPECT_EQ(sh("stat -c %s a/hello.txt e/f3 e/f4 t"), "1000000\n0\n4\n200000\n");
  EXPECT_EQ(sh("head -c 70000 t | cmp - t2 && tail -c +70001 t | tr -d '\\0' | wc -c"), "0\n");
}

TEST_F(VfsdMount, RenamesFilesAndDirectories) {
  ASSERT_TRUE(mount());
  sh("mv a/hello.txt a/renamed.txt");         // source file
  sh("mv a/b moved_b");                        // source directory with contents
  sh("mkdir n && echo 1 > n/one && mv n n2");  // new directory
  sh("echo replace > r && mv r e/f5");         // over an existing source file
  sh("mv e/f6 e/f7");                          // source file over source file
  EXPECT_EQ(sh("cat a/renamed.txt moved_b/c/deep.txt n2/one e/f5"), "hello\ndeep\n1\nreplace\n");
  EXPECT_NE(run("test -e a/hello.txt || test -e a/b || test -e n || test -e e/f6", m.mnt()).status, 0);
  ASSERT_TRUE(remount());
  EXPECT_EQ(sh("cat a/renamed.txt moved_b/c/deep.txt n2/one e/f5"), "hello\ndeep\n1\nreplace\n");
  EXPECT_EQ(sh("ls a"), "link\nmedium.bin\nrenamed.txt\n");
  EXPECT_EQ(sh("cmp e/f7 " + m.src() + "/e/f6 && echo same"), "same\n");
  EXPECT_NE(run("test -e e/f6", m.mnt()).status, 0);
}

TEST_F(VfsdMount, DeletesStayDeletedAndDirectoriesCanBeRecreated) {
  ASSERT_TRUE(mount());
  sh("rm a/hello.txt && rm -r a/b && rmdir d 2>/dev/null || rm -r d");
  sh("mkdir a/b && echo fresh > a/b/new");  // recreated over a deleted source dir: opaque
  sh("ln -s /etc/hostname sym && chmod 600 e/f1 && touch -d '2001-02-03 04:05:06' e/f2");
  ASSERT_TRUE(remount());
  EXPECT_EQ(sh("ls a/b"), "new\n");
  EXPECT_NE(run("test -e a/hello.txt || test -e d || test -e a/b/c", m.mnt()).status, 0);
  EXPECT_EQ(sh("readlink sym"), "/etc/hostname\n");
  EXPECT_EQ(sh("stat -c %a e/f1"), "600\n");
  EXPECT_EQ(sh("date -u -r e/f2 +%Y"), "2001\n");
  EXPECT_EQ(sh("ls -a | grep -c '^\\.wh\\.' ; true"), "0\n");  // whiteouts never show
}

TEST_F(VfsdMount, GitRepositoryCreatedAndCommittedInside) {
  if (run("command -v git").status != 0) GTEST_SKIP() << "no git";
  ASSERT_TRUE(mount());
  const std::string git = "git -c user.name=t -c user.email=t@e -c init.defaultBranch=main ";
  sh(git + "init -q repo && cd repo && cp -r ../e src && echo hi > README && " + git + "add . && " + git +
     "commit -qm first && echo more >> README && mv src/f1 src/f1b && " + git + "add -A && " + git +
     "commit -qm second && " + git + "gc -q");
  EXPECT_EQ(sh("cd repo && git log --oneline | wc -l"), "2\n");
  ASSERT_TRUE(remount());
  EXPECT_EQ(sh("cd repo && git fsck --strict 2>&1 | grep -v '^Checking' ; git status --porcelain"), "");
  EXPECT_EQ(sh("cd repo && git log --format=%s"), "second\nfirst\n");
}

TEST_F(VfsdMount, CompilesAndRunsACProgramInside) {
  if (run("command -v cc").status != 0) GTEST_SKIP() << "no C compiler";
  ASSERT_TRUE(mount());
  sh("printf '#include <stdio.h>\\nint main(void){puts(\"built inside vfsd\");return 0;}\\n' > hello.c");
  EXPECT_EQ(sh("cc -O1 -o hello hello.c && ./hello"), "built inside vfsd\n");
  EXPECT_EQ(sh("cd d && cc -o prog prog.c && ./prog && echo ok"), "ok\n");
  ASSERT_TRUE(remount());
  EXPECT_EQ(sh("./hello"), "built inside vfsd\n");
}

TEST_F(VfsdMount, ConcurrentWriters) {
  ASSERT_TRUE(mount());
  // Four writers on their own files, two on disjoint halves of one file, readers alongside.
  sh("for i in 1 2 3 4; do (head -c 3000000 /dev/urandom > w$i.src; cp w$i.src w$i) & done; "
     "dd if=/dev/zero of=shared bs=1M count=0 seek=8 status=none; "
     "(yes A | head -c 4194304 | dd of=shared bs=64k conv=notrunc status=none) & "
     "(yes B | head -c 4194304 | dd of=shared bs=64k seek=64 conv=notrunc status=none) & "
     "(for k in 1 2 3; do cat e/* > /dev/null; done) & wait");
  for (int i = 1; i <= 4; ++i) sh("cmp w" + std::to_string(i) + ".src w" + std::to_string(i));
  const std::string expect = run("yes A | head -c 4194304 | sha256sum; yes B | head -c 4194304 | sha256sum").out;
  EXPECT_EQ(sh("head -c 4194304 shared | sha256sum; tail -c 4194304 shared | sha256sum"), expect);
  ASSERT_TRUE(remount());
  EXPECT_EQ(sh("head -c 4194304 shared | sha256sum; tail -c 4194304 shared | sha256sum"), expect);
  for (int i = 1; i <= 4; ++i) sh("cmp w" + std::to_string(i) + ".src w" + std::to_string(i));
}

TEST_F(VfsdMount, HoldsNoDescriptorPerFileSeen) {
  ASSERT_TRUE(mount());
  sh("mkdir many && cd many && for i in $(seq 1 1500); do echo $i > f$i; done && cat f* > /dev/null && ls -l > /dev/null");
  const std::string fds = run("ls /proc/" + std::to_string(m.pid()) + "/fd | wc -l").out;
  EXPECT_LT(std::stoi(fds), 40) << fds;
  EXPECT_EQ(sh("cat many/f1500"), "1500\n");
}

TEST_F(VfsdMount, OpenFilesSurviveRenameChmodAndUnlink) {
  ASSERT_TRUE(mount());
  // A source file written through an open descriptor, renamed and chmod-ed while dirty.
  sh("exec 3<>a/hello.txt; printf XY >&3; mv a/hello.txt a/h2; chmod 640 a/h2; printf Z >&3; exec 3>&-");
  EXPECT_EQ(sh("cat a/h2"), "XYZlo\n");
  // Unlinked while open: the descriptor keeps working, the name stays gone.
  sh("exec 4<>gone; rm gone; printf abc >&4; exec 4>&-; test ! -e gone");
  sh("exec 5<>e/f9; rm e/f9; printf abc >&5; exec 5>&-; test ! -e e/f9");
  ASSERT_TRUE(remount());
  EXPECT_EQ(sh("cat a/h2; stat -c %a a/h2"), "XYZlo\n640\n");
  EXPECT_NE(run("test -e gone || test -e e/f9 || test -e a/hello.txt", m.mnt()).status, 0);
}

TEST_F(VfsdMount, ReadOnlyWithoutWritable) {
  ASSERT_TRUE(mount({}));
  EXPECT_EQ(vfstest::tree_checksums(m.mnt()), src_sums_);
  auto r = run("touch x", m.mnt());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("Read-only file system"), std::string::npos) << r.out;
  r = run("echo z >> a/hello.txt", m.mnt());
  EXPECT_NE(r.out.find("Read-only file system"), std::string::npos) << r.out;
}

TEST(VfsdErrors, BadInputGivesClearErrors) {
  std::string why;
  if (!vfstest::fuse_available(&why)) GTEST_SKIP() << why;
  Mount m;
  const std::string vfsd = VFSD_BIN;
  auto r = run(vfsd + " " + m.root() + "/missing " + m.mnt() + " --writable --cache-dir " + m.cache());
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("source directory"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("No such file or directory"), std::string::npos) << r.out;

  r = run(vfsd + " " + m.src() + " " + m.mnt() + " --writable");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("--cache-dir"), std::string::npos) << r.out;

  ASSERT_EQ(run("touch " + m.root() + "/afile").status, 0);
  r = run(vfsd + " " + m.src() + " " + m.mnt() + " --writable --cache-dir " + m.root() + "/afile");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("not a directory"), std::string::npos) << r.out;

  // A read-only filesystem as cache dir (root ignores permission bits, so use a ro mount).
  ASSERT_EQ(run("mkdir -p " + m.root() + "/ro && mount -t tmpfs -o ro,size=1m tmpfs " + m.root() + "/ro").status, 0);
  r = run(vfsd + " " + m.src() + " " + m.mnt() + " --writable --cache-dir " + m.root() + "/ro");
  run("umount " + m.root() + "/ro");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("not writable"), std::string::npos) << r.out;

  r = run("mkdir -p " + m.root() + "/foreign && touch " + m.root() + "/foreign/x && " + vfsd + " " + m.src() +
          " " + m.mnt() + " --writable --cache-dir " + m.root() + "/foreign");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("not a vfsd cache"), std::string::npos) << r.out;
  EXPECT_FALSE(m.mounted());
}

TEST(VfsdErrors, FullCacheDiskReportsENOSPCAndLosesNothingAcknowledged) {
  std::string why;
  if (!vfstest::fuse_available(&why)) GTEST_SKIP() << why;
  Mount m;
  vfstest::TmpfsCacheDisk disk(m, "6m");
  ASSERT_TRUE(disk.ok());
  std::string err;
  ASSERT_TRUE(m.start({"--writable"}, &err)) << err;
  // Acknowledged: written and fsynced.
  ASSERT_EQ(run("head -c 1000000 /dev/urandom > keep.ext && dd if=keep.ext of=" + m.mnt() +
                "/keep bs=64k conv=fsync status=none", m.ext()).status, 0);
  ASSERT_EQ(run("dd if=/dev/zero of=" + m.mnt() + "/filler bs=64k count=56 conv=fsync status=none").status, 0);
  // Too big for what is left: the error reaches the writer at fsync / close.
  auto r = run("head -c 3000000 /dev/urandom > late.ext && dd if=late.ext of=" + m.mnt() +
               "/late bs=64k conv=fsync status=none", m.ext());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("No space left on device"), std::string::npos) << r.out;
  // Free space: the daemon still holds the unsaved data and saves it at unmount.
  ASSERT_EQ(run("rm " + m.mnt() + "/filler").status, 0);
  ASSERT_EQ(m.stop(), 0) << m.log();
  ASSERT_TRUE(m.start({"--writable"}, &err)) << err;
  EXPECT_EQ(run("cmp keep " + m.ext() + "/keep.ext && echo ok", m.mnt()).out, "ok\n");
  EXPECT_EQ(run("cmp late " + m.ext() + "/late.ext && echo ok", m.mnt()).out, "ok\n") << m.log();
}

}  // namespace
