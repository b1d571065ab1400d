// vfsd's command-line options.
#pragma once

#include <cstddef>
#include <string>

namespace vfsd {

struct Options {
  std::string source;      // absolute path of the presented directory (never modified)
  std::string mountpoint;
  std::string cache_dir;   // overlay + logs; required with --writable
  bool writable = false;
  std::size_t pool_mb = 256;   // pool memory budget
  unsigned threads = 4;        // FUSE worker threads (fixed)
  std::size_t chunk_kb = 128;  // pool chunk size
  bool foreground = false;
  bool allow_other = false;
  bool debug = false;
  double flush_interval = 30;  // seconds between background flushes of dirty data
  double attr_timeout = 60;    // kernel attribute / entry cache lifetime (s)
  double lock_wait = 10;       // seconds to wait for another vfsd to release the cache dir
  std::size_t writebehind_mb = 8;  // a stream is saved by its writer every this many MiB
  bool writeback_cache = true;     // kernel write-back caching (FUSE_CAP_WRITEBACK_CACHE)
  bool save_on_close = false;      // save a file's data at close() (FLUSH) instead of at release
  std::size_t kernel_dirty_mb = 1024;  // the mount's dirty page-cache limit (0: kernel default)
  unsigned wake_linger_ms = 100;       // PM QoS hold after the last request (0: off)
};

}  // namespace vfsd
