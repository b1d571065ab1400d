// HAKMEM_PROFILE=1: the write pool's counters, published live beside hakmem's own record so
// that hakmem-stat shows both (include/hakmem/vfs_profile_record.h). This replaces nothing:
// stats.json (SIGUSR1, unmount) stays; this is the view of a running daemon.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "hakmem/vfs_profile_record.h"
#include "vfs_pool/vfs_pool.h"

namespace vfsd {

class PoolProfile {
 public:
  // Publishes when the process has a hakmem record (HAKMEM_PROFILE=1), in
  // "<hakmem record>.vfs", refreshed every HAKMEM_PROFILE_INTERVAL_MS; otherwise does
  // nothing. Construct it after daemonizing: a forked daemon gets a hakmem record of its
  // own first (hakmem_profile_restart). Prints one warning if the file cannot be made.
  explicit PoolProfile(const hakmem::vfs::BlockPool& pool);
  // Stops the refreshes and writes the final snapshot (state EXITED); the file stays for a
  // post-mortem look (hakmem-stat clean removes it with the hakmem record).
  ~PoolProfile();
  PoolProfile(const PoolProfile&) = delete;
  PoolProfile& operator=(const PoolProfile&) = delete;

  bool active() const { return rec_ != nullptr; }
  const std::string& path() const { return path_; }

 private:
  void run();
  void refresh(std::uint32_t state);

  const hakmem::vfs::BlockPool& pool_;
  hakmem_vfs_profile_record* rec_ = nullptr;
  std::string path_;
  std::uint64_t interval_ms_ = 100;
  hakmem_vfs_profile_data base_{};  // totals at the last reset (counters count from there)
  std::mutex mu_;                   // guards stop_; serialises refreshes
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace vfsd
