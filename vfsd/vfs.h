// Vfs: the daemon's filesystem state and every operation, independent of FUSE's types.
//
// Locking, outermost first:
//  1. ns_mu_ (shared_mutex): the namespace — the upper tree, the overlay's caches and the
//     path -> FileObj table. Queries take it shared; anything that changes names, copies up
//     or opens takes it exclusively. The data path (read, write, flush of an upper-backed
//     file) never takes it.
//  2. FileObj::flush_mu: one file's flush / truncate / explicit times.
//  3. the pool's own locks (one shard lock per block access).
#pragma once

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "file_obj.h"
#include "options.h"
#include "overlay.h"
#include "vfs_pool/vfs_pool.h"

namespace vfsd {

using FilePtr = std::shared_ptr<FileObj>;

struct Counters {
  std::atomic<std::uint64_t> getattr{0}, readdir{0}, open{0}, create{0}, read{0}, read_bytes{0},
      write{0}, write_bytes{0}, flush{0}, fsync{0}, release{0}, mkdir{0}, rmdir{0}, unlink{0},
      rename{0}, symlink{0}, setattr{0}, flush_errors{0}, pool_flushes{0}, bytes_flushed{0},
      pressure_flushes{0}, sync_throttles{0}, orphans_kept{0}, writebehind_flushes{0};
};

class Vfs {
 public:
  Vfs(const Options& opts, int lower_fd, int upper_fd, int work_fd, std::string cache_dir);
  ~Vfs();
  Vfs(const Vfs&) = delete;
  Vfs& operator=(const Vfs&) = delete;

  const Options& options() const { return opts_; }
  bool writable() const { return opts_.writable; }
  const hakmem::vfs::BlockPool& pool() const { return pool_; }  // statistics (pool_profile.h)

  // ---- namespace (vfs_namespace.cpp) ----
  int getattr(const std::string& path, struct stat* st, FileObj* f);
  int readdir(const std::string& path, std::vector<DirEntry>* out);
  int readlink(const std::string& path, char* buf, std::size_t size);
  int mkdir(const std::string& path, mode_t mode, uid_t uid, gid_t gid);
  int rmdir(const std::string& path);
  int unlink(const std::string& path);
  int symlink(const std::string& target, const std::string& path, uid_t uid, gid_t gid);
  int rename(const std::string& from, const std::string& to, unsigned flags);

  // ---- attributes (vfs_attr.cpp) ----
  int chmod(const std::string& path, mode_t mode, FileObj* f);
  int chown(const std::string& path, uid_t uid, gid_t gid, FileObj* f);
  int utimens(const std::string& path, const timespec ts[2], FileObj* f);
  int truncate(const std::string& path, off_t size, FileObj* f);
  int statfs(struct statvfs* st);
  // access(2) without default_permissions (so only for root callers): the entry exists, and
  // X_OK needs an execute bit on anything but a directory.
  int access(const std::string& path, int mask);

  // ---- open files (vfs_files.cpp) ----
  int open(const std::string& path, int flags, FilePtr* out);
  int create(const std::string& path, mode_t mode, int flags, uid_t uid, gid_t gid, FilePtr* out);
  void release(const FilePtr& f);

  // ---- data (vfs_data.cpp) ----
  int read(FileObj* f, char* buf, std::size_t size, off_t off);
  int write(FileObj* f, const char* buf, std::size_t size, off_t off);
  int flush(FileObj* f);                  // close(): dirty blocks -> cache dir
  int fsync(FileObj* f, bool datasync);  // flush + fsync of the cache copy

  // ---- lifecycle (vfs_flusher.cpp) ----
  void start();     // starts the background flusher (after daemonizing)
  void shutdown();  // stops it and flushes everything (unmount); idempotent
  void request_stats() { stats_requested_.store(true); }
  void write_stats();  // cache-dir/stats.json
  std::string stats_json();

 private:
  friend struct VfsTestPeer;
  int flush_file(FileObj* f);
  int open_locked(const std::string& path, int flags, FilePtr* out);
  int truncate_locked(const std::string& path, off_t size, FileObj* f);
  void attach_upper(const std::string& path);  // copy-up hook
  FileObj* find_locked(const std::string& path);
  int copy_up_for_change(const std::string& path, bool empty = false);
  int prepare_new_name_locked(const std::string& path);
  void rename_table_locked(const std::string& from, const std::string& to, bool dir);
  void unlink_table_locked(const std::string& path);
  void after_write(FileObj* f, std::size_t stream_bytes);
  void flusher_main();
  void flush_dirty(bool pressure);
  void reap_orphans();
  static int load_chunk(void* ctx, hakmem::vfs::FileId, std::uint64_t chunk, std::byte* block,
                        std::size_t size);

  // Whether a new entry must be chowned to its creator: the daemon's ids are read once
  // (two syscalls per create and mkdir otherwise).
  bool foreign_owner(uid_t uid, gid_t gid) const { return uid != euid_ || gid != egid_; }

  const Options opts_;
  const std::string cache_dir_;
  const uid_t euid_;
  const gid_t egid_;
  hakmem::vfs::BlockPool pool_;
  Overlay ov_;
  std::shared_mutex ns_mu_;
  std::unordered_map<std::string, FilePtr> files_;  // open files and files with unsaved data
  std::atomic<std::uint64_t> next_id_{1};
  const std::uint64_t high_water_;  // dirty bytes that wake the flusher
  const std::uint64_t low_water_;   // ...and where a pressure flush stops
  const std::uint64_t hard_cap_;    // live bytes past which writers flush synchronously
  Counters ctr_;

  std::thread flusher_;
  std::mutex fl_mu_;
  std::condition_variable fl_cv_;
  bool fl_stop_ = false;
  std::atomic<bool> fl_kick_{false};
  std::atomic<bool> stats_requested_{false};
  std::atomic<bool> shut_down_{false};
};

}  // namespace vfsd
