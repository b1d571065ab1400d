// The cache directory: layout, format marker, exclusive lock and write probe.
//
//   DIR/VFSD_OVERLAY   format marker ("vfsd-overlay 1")
//   DIR/LOCK           flock()ed by the vfsd that uses DIR (one daemon per cache dir)
//   DIR/upper/         the overlay's upper tree (see overlay.h / README.md)
//   DIR/work/          temporary files of copy-ups (renamed into upper/ when complete)
//   DIR/vfsd.log       the daemon's messages once it runs in the background
//   DIR/stats.json     pool and daemon counters (at unmount, and on SIGUSR1)
#pragma once

#include <string>

namespace vfsd {

struct CacheDir {
  std::string path;
  int root_fd = -1;
  int upper_fd = -1;
  int work_fd = -1;
  int lock_fd = -1;
};

// Opens (creating it when writable) and checks the cache directory. On failure returns
// false with a message for the user in *error.
bool open_cache_dir(const std::string& path, bool writable, double lock_wait_s,
                    const std::string& source, CacheDir* out, std::string* error);

}  // namespace vfsd
