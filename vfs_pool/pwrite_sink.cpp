#include "vfs_pool/pwrite_sink.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace hakmem::vfs {

int pwrite_block(void* target, std::uint64_t chunk, const std::byte* block, std::size_t len) {
  auto* t = static_cast<PwriteTarget*>(target);
  const std::uint64_t start = chunk * t->chunk_size;
  const std::uint64_t size = t->size->load(std::memory_order_acquire);
  if (start >= size) return 0;
  std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(len, size - start));
  std::size_t done = 0;
  while (done < n) {
    const ssize_t w = ::pwrite(t->fd, block + done, n - done, static_cast<off_t>(start + done));
    if (w < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (w == 0) return -ENOSPC;
    done += static_cast<std::size_t>(w);
  }
  t->bytes_written += n;
  return 0;
}

}  // namespace hakmem::vfs
