// Vfs: attribute changes (chmod, chown, utimens, truncate) and statfs. Each copies the
// entry up first: the lower tree is never modified.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <shared_mutex>

#include "vfs.h"

namespace vfsd {

// Copies `path` up for a metadata change (namespace lock held exclusively).
int Vfs::copy_up_for_change(const std::string& path, bool empty) {
  Resolved r;
  if (int e = ov_.resolve(path, &r); e < 0) return e;
  if (r.layer == Layer::Upper) return 0;
  if (S_ISDIR(r.st.st_mode)) return ov_.ensure_upper_dir(path);
  return ov_.copy_up(path, empty);
}

int Vfs::chmod(const std::string& path, mode_t mode, FileObj* f) {
  if (!writable()) return -EROFS;
  ctr_.setattr.fetch_add(1, std::memory_order_relaxed);
  if (f != nullptr && f->upper_fd.load() >= 0) return fchmod(f->upper_fd.load(), mode & 07777) != 0 ? -errno : 0;
  std::unique_lock<std::shared_mutex> lk(ns_mu_);
  if (f != nullptr && f->unlinked) return 0;
  const std::string p = f ? f->path : path;
  if (int e = copy_up_for_change(p); e < 0) return e;
  if (fchmodat(ov_.upper_fd(), rel(p).c_str(), mode & 07777, 0) != 0) return -errno;
  return 0;
}

int Vfs::chown(const std::string& path, uid_t uid, gid_t gid, FileObj* f) {
  if (!writable()) return -EROFS;
  ctr_.setattr.fetch_add(1, std::memory_order_relaxed);
  std::unique_lock<std::shared_mutex> lk(ns_mu_);
  if (f != nullptr && f->unlinked) {
    const int fd = f->upper_fd.load();
    return fd >= 0 && fchown(fd, uid, gid) != 0 ? -errno : 0;
  }
  const std::string p = f ? f->path : path;
  if (int e = copy_up_for_change(p); e < 0) return e;
  if (fchownat(ov_.upper_fd(), rel(p).c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0) return -errno;
  return 0;
}

int Vfs::utimens(const std::string& path, const timespec ts[2], FileObj* f) {
  if (!writable()) return -EROFS;
  ctr_.setattr.fetch_add(1, std::memory_order_relaxed);
  if (f != nullptr && f->upper_fd.load() >= 0) {
    // The common case: the kernel (writeback cache) sending the times of a file it wrote.
    // The file has its upper copy already: no copy-up, so no namespace lock.
    const int fd = f->upper_fd.load();
    if (futimens(fd, ts) != 0) return -errno;
    struct stat st;
    if (fstat(fd, &st) == 0) {
      std::lock_guard<std::mutex> g(f->flush_mu);
      f->has_times = true;
      f->times[0] = st.st_atim;
      f->times[1] = st.st_mtim;
    }
    return 0;
  }
  std::unique_lock<std::shared_mutex> lk(ns_mu_);
  if (f != nullptr && f->unlinked) return 0;
  const std::string p = f ? f->path : path;
  if (int e = copy_up_for_change(p); e < 0) return e;
  const std::string rp = rel(p);
  if (utimensat(ov_.upper_fd(), rp.c_str(), ts, AT_SYMLINK_NOFOLLOW) != 0) return -errno;
  // A later flush writes the file and would move its mtime: remember the times to re-apply.
  FileObj* o = f ? f : find_locked(p);
  struct stat st;
  if (o != nullptr && fstatat(ov_.upper_fd(), rp.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    std::lock_guard<std::mutex> g(o->flush_mu);
    o->has_times = true;
    o->times[0] = st.st_atim;
    o->times[1] = st.st_mtim;
  }
  return 0;
}

int Vfs::truncate(const std::string& path, off_t size, FileObj* f) {
  if (!writable()) return -EROFS;
  if (size < 0) return -EINVAL;
  ctr_.setattr.fetch_add(1, std::memory_order_relaxed);
  std::unique_lock<std::shared_mutex> lk(ns_mu_);
  return truncate_locked(path, size, f);
}

int Vfs::truncate_locked(const std::string& path, off_t size, FileObj* f) {
  FileObj* o = f ? f : find_locked(path);
  if (o == nullptr) {  // not open: truncate the (copied-up) file directly
    Resolved r;
    if (int e = ov_.resolve(path, &r); e < 0) return e;
    if (S_ISDIR(r.st.st_mode)) return -EISDIR;
    if (int e = copy_up_for_change(path, size == 0); e < 0) return e;
    const int fd = openat(ov_.upper_fd(), rel(path).c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    const int e = ftruncate(fd, size) != 0 ? -errno : 0;
    close(fd);
    return e;
  }
  if (!o->unlinked && o->upper_fd.load() < 0) {
    if (int e = ov_.copy_up(o->path, size == 0); e < 0) return e;  // attaches the upper fd
  }
  std::lock_guard<std::mutex> g(o->flush_mu);
  pool_.truncate_file(o->id, static_cast<std::uint64_t>(size));
  o->size.store(static_cast<std::uint64_t>(size), std::memory_order_release);
  const int fd = o->upper_fd.load();
  if (fd >= 0 && ftruncate(fd, size) != 0) return -errno;
  return 0;
}

int Vfs::access(const std::string& path, int mask) {
  struct stat st;
  if (int e = getattr(path, &st, nullptr); e < 0) return e;
  if ((mask & X_OK) && !S_ISDIR(st.st_mode) && (st.st_mode & 0111) == 0) return -EACCES;
  return 0;
}

int Vfs::statfs(struct statvfs* st) {
  const int fd = ov_.has_upper() ? ov_.upper_fd() : ov_.lower_fd();
  return fstatvfs(fd, st) != 0 ? -errno : 0;
}

}  // namespace vfsd
