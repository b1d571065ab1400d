// The libfuse3 high-level operations table, forwarding to Vfs.
#pragma once

#define FUSE_USE_VERSION 314
#include <fuse.h>

#include "options.h"

namespace vfsd {

fuse_operations make_fuse_operations(const Options& o);

}  // namespace vfsd
