// The libfuse3 high-level operations table, forwarding to Vfs.
#pragma once

#define FUSE_USE_VERSION 314
#include <fuse.h>

#include "options.h"

namespace vfsd {

class Vfs;
class WakeLatency;

// What fuse_new's private_data points to.
struct Daemon {
  Vfs& vfs;
  WakeLatency& wake;  // told of every request (wake_latency.h)
};

fuse_operations make_fuse_operations(const Options& o);

}  // namespace vfsd
