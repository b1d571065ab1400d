// vfsd SOURCE MOUNTPOINT [--writable --cache-dir DIR] [--pool-mb N] [--threads N] ...
//
// Checks everything it can before mounting (so errors reach the terminal), mounts, then
// goes to the background unless -f. Unmount with `fusermount3 -u MOUNTPOINT`: the daemon
// then saves what is still dirty and exits.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "bdi_tune.h"
#include "cache_dir.h"
#include "fuse_ops.h"
#include "pool_profile.h"
#include "vfs.h"
#include "wake_latency.h"

namespace {

vfsd::Vfs* g_vfs = nullptr;

void on_sigusr1(int) {
  if (g_vfs) g_vfs->request_stats();
}

int fail(const std::string& msg) {
  std::fprintf(stderr, "vfsd: %s\n", msg.c_str());
  return 2;
}

bool absolute_dir(const std::string& in, std::string* out, std::string* err, const char* what) {
  char buf[PATH_MAX];
  if (realpath(in.c_str(), buf) == nullptr) {
    *err = std::string(what) + " '" + in + "': " + std::strerror(errno);
    return false;
  }
  struct stat st;
  if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)) {
    *err = std::string(what) + " '" + in + "' is not a directory";
    return false;
  }
  *out = buf;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  vfsd::Options o;
  CLI::App app{"vfsd: a FUSE filesystem presenting SOURCE, with an optional writable overlay kept "
               "in a memory pool (hakmem) and saved to --cache-dir"};
  app.add_option("SOURCE", o.source, "directory to present (never modified)")->required();
  app.add_option("MOUNTPOINT", o.mountpoint, "where to mount")->required();
  app.add_flag("--writable", o.writable, "accept changes (copy-on-write into the pool, saved to --cache-dir)");
  app.add_option("--cache-dir", o.cache_dir, "where changes are kept (needed with --writable)");
  app.add_option("--pool-mb", o.pool_mb, "memory budget of the write pool in MiB")->check(CLI::Range(4, 1 << 20));
  app.add_option("--threads", o.threads, "FUSE worker threads")->check(CLI::Range(1, 256));
  app.add_option("--chunk-kb", o.chunk_kb, "pool chunk size in KiB (64, 128, 256, 512 or 1024)")
      ->check(CLI::IsMember({64, 128, 256, 512, 1024}));
  app.add_option("--flush-interval", o.flush_interval, "seconds between background saves of dirty data")
      ->check(CLI::PositiveNumber);
  app.add_option("--attr-timeout", o.attr_timeout, "kernel attribute/entry cache lifetime in seconds")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--lock-wait", o.lock_wait, "seconds to wait for another vfsd to release the cache dir")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--writebehind-mb", o.writebehind_mb,
                 "a file written as a stream is saved by its writer every this many MiB, and its blocks recycled (0: off)")
      ->check(CLI::Range(0, 1 << 20));
  app.add_flag("--save-on-close", o.save_on_close,
               "save a file's new data to the cache dir inside close() (which then reports errors "
               "such as ENOSPC) instead of right after it");
  app.add_option("--kernel-dirty-mb", o.kernel_dirty_mb,
                 "how much written data the kernel may cache for this mount before writers wait for "
                 "the daemon (MiB; 0 keeps the kernel's FUSE default of 1 % of the dirty limit)")
      ->check(CLI::Range(0, 1 << 20));
  app.add_option("--wake-linger-ms", o.wake_linger_ms,
                 "while requests arrive, keep idle CPUs polling instead of halting (a PM QoS "
                 "request on /dev/cpu_dma_latency), until this many ms pass without one (0: never)")
      ->check(CLI::Range(0, 60000));
  bool no_wb = false;
  app.add_flag("--no-writeback-cache", no_wb,
               "send every write() to the daemon at once instead of caching it in the kernel");
  app.add_flag("-f,--foreground", o.foreground, "stay in the foreground");
  app.add_flag("--allow-other", o.allow_other, "let other users access the mount");
  app.add_flag("-d,--debug", o.debug, "libfuse debug output (implies -f)");
  CLI11_PARSE(app, argc, argv);

  o.writeback_cache = !no_wb;
  std::string err;
  if (!absolute_dir(o.source, &o.source, &err, "source directory")) return fail(err);
  if (!absolute_dir(o.mountpoint, &o.mountpoint, &err, "mount point")) return fail(err);
  if (o.writable && o.cache_dir.empty()) return fail("--writable needs --cache-dir DIR");
  if (o.debug) o.foreground = true;

  vfsd::CacheDir cache;
  if (!o.cache_dir.empty()) {
    if (o.cache_dir[0] != '/') {
      char cwd[PATH_MAX];
      if (getcwd(cwd, sizeof cwd)) o.cache_dir = std::string(cwd) + "/" + o.cache_dir;
    }
    if (!vfsd::open_cache_dir(o.cache_dir, o.writable, o.lock_wait, o.source, &cache, &err)) return fail(err);
    if (cache.path.rfind(o.source + "/", 0) == 0 || cache.path == o.source)
      return fail("cache directory must not be inside the source directory");
  }
  const int lower_fd = open(o.source.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (lower_fd < 0) return fail("source directory '" + o.source + "': " + std::strerror(errno));
  umask(0);  // modes come from the callers, already masked by the kernel

  int log_fd = -1;
  if (!o.foreground && o.writable)
    log_fd = open((o.cache_dir + "/vfsd.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

  vfsd::Vfs vfs(o, lower_fd, cache.upper_fd, cache.work_fd, o.cache_dir);
  g_vfs = &vfs;

  // The kernel checks permissions itself (default_permissions) only where it matters: with
  // --allow-other, or for a daemon that is not root. A root daemon's only users are root
  // processes, whom the mode bits do not restrict (but for exec, which the kernel checks
  // anyway, and access(X_OK), answered by Vfs::access); without the option the kernel
  // does not re-fetch a directory's attributes after every change inside it to check
  // them (measured: a quarter of git's requests were those GETATTRs).
  std::string mount_opts = "fsname=vfsd,subtype=vfsd";
  if (o.allow_other || geteuid() != 0) mount_opts += ",default_permissions";
  if (!o.writable) mount_opts += ",ro";
  if (o.allow_other) mount_opts += ",allow_other";
  std::vector<std::string> args = {argv[0], "-o", mount_opts};
  if (o.debug) args.push_back("-d");
  std::vector<char*> cargs;
  for (auto& a : args) cargs.push_back(a.data());
  fuse_args fargs = FUSE_ARGS_INIT(static_cast<int>(cargs.size()), cargs.data());
  const fuse_operations ops = vfsd::make_fuse_operations(o);
  vfsd::WakeLatency wake(o.wake_linger_ms);
  vfsd::Daemon daemon{vfs, wake};
  fuse* f = fuse_new(&fargs, &ops, sizeof ops, &daemon);
  if (f == nullptr) return fail("cannot initialise libfuse");
  if (fuse_mount(f, o.mountpoint.c_str()) != 0) {
    fuse_destroy(f);
    return fail("cannot mount on '" + o.mountpoint + "' (is /dev/fuse available? already mounted?)");
  }
  if (o.writable && o.writeback_cache && o.kernel_dirty_mb != 0) {
    std::string why;
    if (!vfsd::set_dirty_limit(o.mountpoint, std::uint64_t(o.kernel_dirty_mb) << 20, &why))
      std::fprintf(stderr, "vfsd: warning: could not set the mount's kernel dirty limit (%s); writers "
                   "may be throttled to the daemon's pace\n", why.c_str());
  }
  if (fuse_daemonize(o.foreground ? 1 : 0) != 0) {
    fuse_unmount(f);
    fuse_destroy(f);
    return fail("cannot go to the background");
  }
  if (log_fd >= 0) {
    dup2(log_fd, STDERR_FILENO);
    close(log_fd);
  }
  vfsd::PoolProfile profile(vfs.pool());  // HAKMEM_PROFILE=1: live pool counters (hakmem-stat)
  fuse_session* se = fuse_get_session(f);
  if (fuse_set_signal_handlers(se) != 0) return fail("cannot install signal handlers");
  struct sigaction sa {};
  sa.sa_handler = on_sigusr1;
  sigaction(SIGUSR1, &sa, nullptr);

  fuse_loop_config* cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_max_threads(cfg, o.threads);
  fuse_loop_cfg_set_idle_threads(cfg, o.threads);  // a fixed set: idle workers are kept
  fuse_loop_cfg_set_clone_fd(cfg, 0);
  const int rc = fuse_loop_mt(f, cfg);
  fuse_loop_cfg_destroy(cfg);
  fuse_remove_signal_handlers(se);
  fuse_unmount(f);
  fuse_destroy(f);  // calls destroy -> Vfs::shutdown (saves everything still dirty)
  vfs.shutdown();
  g_vfs = nullptr;
  return rc == 0 ? 0 : 1;
}
