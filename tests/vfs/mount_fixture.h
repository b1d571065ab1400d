// A vfsd mounted for real in a temporary directory, always unmounted in teardown.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace vfstest {

struct RunResult {
  int status = -1;  // exit status of the command, or -1
  std::string out;  // stdout and stderr together
};

// Runs `cmd` with bash -c (in `cwd` if given), capturing its output.
RunResult run(const std::string& cmd, const std::string& cwd = "");

// True when this process can mount FUSE filesystems (root, /dev/fuse, fusermount3).
bool fuse_available(std::string* why);

// Writes `bytes` pseudo-random bytes (seeded) to path.
void write_random_file(const std::string& path, std::size_t bytes, unsigned seed);

// sha256 of every regular file under dir, sorted by path: "hash  ./path\n" lines.
std::string tree_checksums(const std::string& dir);
// Paths, sizes, modes and mtimes of everything under dir (for "source unchanged").
std::string tree_metadata(const std::string& dir);

class Mount {
 public:
  // Creates ROOT/{src,mnt,cache,ext} under a fresh temporary directory.
  Mount();
  ~Mount();
  Mount(const Mount&) = delete;
  Mount& operator=(const Mount&) = delete;

  const std::string& root() const { return root_; }
  std::string src() const { return root_ + "/src"; }
  std::string mnt() const { return root_ + "/mnt"; }
  std::string cache() const { return root_ + "/cache"; }
  std::string ext() const { return root_ + "/ext"; }  // scratch space outside the mount

  // Starts vfsd in the foreground (as a child) and waits until the mount is live.
  // Returns false with vfsd's output in *why if it exits or does not mount in time.
  bool start(const std::vector<std::string>& extra = {"--writable"}, std::string* why = nullptr);
  // fusermount3 -u and wait for the daemon to exit (it saves dirty data on the way);
  // falls back to umount -l and SIGKILL. Returns the daemon's exit status.
  int stop();
  bool mounted() const;
  pid_t pid() const { return pid_; }
  std::string log() const;  // what the daemon printed so far

 private:
  std::string root_;
  pid_t pid_ = -1;
};

// A small tmpfs mounted over m's cache dir (a "full cache disk"); at scope exit the daemon
// is stopped first (it may still be saving into it), then the tmpfs is detached.
class TmpfsCacheDisk {
 public:
  TmpfsCacheDisk(Mount& m, const std::string& size);
  ~TmpfsCacheDisk();
  TmpfsCacheDisk(const TmpfsCacheDisk&) = delete;
  TmpfsCacheDisk& operator=(const TmpfsCacheDisk&) = delete;
  bool ok() const { return ok_; }

 private:
  Mount& m_;
  bool ok_;
};

}  // namespace vfstest
