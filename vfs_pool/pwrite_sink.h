// A FlushSink that writes blocks into a file with pwrite, clipped at the file's size.
#pragma once

#include <atomic>
#include <cstdint>

#include "vfs_pool/pool_types.h"

namespace hakmem::vfs {

struct PwriteTarget {
  int fd = -1;
  std::size_t chunk_size = 0;
  // The file's logical size, read under the block's shard lock for every block, so a write
  // that extended the file before dirtying the block is always included.
  const std::atomic<std::uint64_t>* size = nullptr;
  std::uint64_t bytes_written = 0;
};

// Writes the part of the chunk below *size (nothing for a chunk wholly past the end).
// A short write is retried; ENOSPC / EIO etc. come back as -errno.
int pwrite_block(void* target, std::uint64_t chunk, const std::byte* block, std::size_t len);

inline FlushSink pwrite_sink(PwriteTarget* t) { return FlushSink{&pwrite_block, t}; }

}  // namespace hakmem::vfs
