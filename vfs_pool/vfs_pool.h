// hakmem VFS pool: the one header users include.
#pragma once

#include "vfs_pool/block_key.h"
#include "vfs_pool/block_pool.h"
#include "vfs_pool/block_source.h"
#include "vfs_pool/counted_mutex.h"
#include "vfs_pool/pool_types.h"
#include "vfs_pool/pwrite_sink.h"
