#include "mount_fixture.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#ifndef VFSD_BIN
#error "VFSD_BIN must name the vfsd binary"
#endif

namespace vfstest {

namespace {
constexpr long kFuseSuperMagic = 0x65735546;

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}
}  // namespace

RunResult run(const std::string& cmd, const std::string& cwd) {
  std::string full = cwd.empty() ? cmd : "cd " + quote(cwd) + " && " + cmd;
  full = "bash -c " + quote(full) + " 2>&1";
  RunResult r;
  FILE* p = popen(full.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

bool fuse_available(std::string* why) {
  if (geteuid() != 0) {
    *why = "needs root";
    return false;
  }
  if (access("/dev/fuse", R_OK | W_OK) != 0) {
    *why = "no /dev/fuse";
    return false;
  }
  if (run("command -v fusermount3").status != 0) {
    *why = "no fusermount3";
    return false;
  }
  return true;
}

void write_random_file(const std::string& path, std::size_t bytes, unsigned seed) {
  std::mt19937 rng(seed);
  std::string data(bytes, '\0');
  for (auto& c : data) c = static_cast<char>(rng());
  std::ofstream(path, std::ios::binary).write(data.data(), static_cast<std::streamsize>(data.size()));
}

std::string tree_checksums(const std::string& dir) {
  return run("find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum", dir).out;
}

std::string tree_metadata(const std::string& dir) {
  return run("find . -printf '%p %y %s %m %T@ %l\\n' | LC_ALL=C sort", dir).out;
}

Mount::Mount() {
  char tmpl[] = "/tmp/vfsd-test-XXXXXX";
  const char* d = mkdtemp(tmpl);
  root_ = d ? d : "/tmp/vfsd-test-failed";
  for (const char* sub : {"/src", "/mnt", "/ext"}) mkdir((root_ + sub).c_str(), 0755);
}

Mount::~Mount() {
  stop();
  // Only remove the tree when nothing is mounted below it any more.
  if (!mounted()) run("rm -rf " + quote(root_));
}

bool Mount::mounted() const {
  struct statfs sf;
  return statfs(mnt().c_str(), &sf) == 0 && sf.f_type == kFuseSuperMagic;
}

std::string Mount::log() const {
  std::ifstream in(root_ + "/vfsd.out");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool Mount::start(const std::vector<std::string>& extra, std::string* why) {
  std::vector<std::string> args = {VFSD_BIN, src(), mnt(), "-f"};
  bool writable = false, pool_size = false;
  for (const auto& a : extra) {
    writable = writable || a == "--writable";
    pool_size = pool_size || a == "--pool-mb";
  }
  if (!pool_size) {  // small by default, so that the tests exercise the pool's pressure paths
    args.push_back("--pool-mb");
    args.push_back("64");
  }
  if (writable) {
    args.push_back("--cache-dir");
    args.push_back(cache());
  }
  args.insert(args.end(), extra.begin(), extra.end());
  pid_ = fork();
  if (pid_ == 0) {
    const int fd = open((root_ + "/vfsd.out").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (mounted()) return true;
    int st;
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      if (why) *why = "vfsd exited: " + log();
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (why) *why = "vfsd did not mount in 10 s: " + log();
  stop();
  return false;
}

int Mount::stop() {
  if (mounted() && run("fusermount3 -u " + quote(mnt())).status != 0 && mounted())
    run("umount -l " + quote(mnt()));  // busy: detach now, the daemon exits when released
  if (pid_ <= 0) {
    if (mounted()) run("umount -l " + quote(mnt()));
    return -1;
  }
  int st = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (waitpid(pid_, &st, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      run("umount -l " + quote(mnt()));
      kill(pid_, SIGKILL);
      waitpid(pid_, &st, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (mounted()) run("umount -l " + quote(mnt()));
  pid_ = -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TmpfsCacheDisk::TmpfsCacheDisk(Mount& m, const std::string& size)
    : m_(m),
      ok_(run("mkdir -p " + m.cache() + " && mount -t tmpfs -o size=" + size + " tmpfs " + m.cache())
              .status == 0) {}

TmpfsCacheDisk::~TmpfsCacheDisk() {
  m_.stop();
  if (ok_) run("umount -l " + m_.cache());
}

}  // namespace vfstest
