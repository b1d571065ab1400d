// One file the daemon has open (or holds dirty data for): its pool id, its backing
// descriptors and its logical size.
//
// A FileObj exists only while the file has open handles or unflushed data, so the daemon
// never holds descriptors for files it has merely seen (the machine caps descriptors at
// 20,000). At most two descriptors per open file: the lower (source) file, read-only, and
// the upper (cache) copy once the file has one.
#pragma once

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "vfs_pool/vfs_pool.h"

namespace vfsd {

struct FileObj : std::enable_shared_from_this<FileObj> {
  FileObj(std::uint64_t id_, std::string path_, hakmem::vfs::BlockPool* pool_)
      : id(id_), path(std::move(path_)), pool(pool_) {}
  ~FileObj() {
    pool->drop_file(id);  // anything still dirty here was unlinked or could not be saved
    if (const int fd = lower_fd.load(); fd >= 0) close(fd);
    if (const int fd = upper_fd.load(); fd >= 0) close(fd);
  }
  FileObj(const FileObj&) = delete;
  FileObj& operator=(const FileObj&) = delete;

  // The descriptor holding the clean content: the upper copy if there is one.
  int backing_fd() const {
    const int u = upper_fd.load(std::memory_order_acquire);
    return u >= 0 ? u : lower_fd.load(std::memory_order_acquire);
  }
  bool has_dirty() const { return pool->file_dirty_blocks(id) != 0; }

  const std::uint64_t id;           // pool file id (unique per FileObj, never reused)
  std::string path;                 // guarded by the namespace lock
  int open_count = 0;               // guarded by the namespace lock
  std::atomic<bool> unlinked{false};
  std::atomic<int> lower_fd{-1};
  std::atomic<int> upper_fd{-1};
  std::atomic<std::uint64_t> size{0};       // logical size (writes past the end extend it)
  std::atomic<bool> written{false};         // the pool may hold blocks of this file
  std::atomic<std::uint64_t> stream_unsaved{0};  // streamed bytes since the last flush began
  std::atomic<std::uint64_t> last_end{0};        // where the last write ended (stream detection)
  std::atomic<bool> saving{false};               // a writer is saving the stream (write-behind)
  std::mutex flush_mu;                      // serialises flush / truncate of this file
  bool has_times = false;                   // explicit utimens to re-apply after a flush
  timespec times[2]{};                      // (both guarded by flush_mu)
  hakmem::vfs::BlockPool* const pool;
};

}  // namespace vfsd
