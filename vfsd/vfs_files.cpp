// Vfs: open, create and release — the lifetime of FileObj and of its descriptors.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <shared_mutex>

#include "vfs.h"

namespace vfsd {

namespace {
int open_lower(int dirfd, const std::string& rp) {
  int fd = openat(dirfd, rp.c_str(), O_RDONLY | O_CLOEXEC | O_NOATIME);
  if (fd < 0 && errno == EPERM) fd = openat(dirfd, rp.c_str(), O_RDONLY | O_CLOEXEC);
  return fd;
}
}  // namespace

// Copy-up hook: an open file whose lower copy was just copied up switches to the upper one.
// Runs with the namespace lock held exclusively.
void Vfs::attach_upper(const std::string& path) {
  FileObj* f = find_locked(path);
  if (f == nullptr || f->upper_fd.load() >= 0) return;
  const int fd = openat(ov_.upper_fd(), rel(path).c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    std::fprintf(stderr, "vfsd: reopening %s after copy-up: %m\n", path.c_str());
    return;
  }
  f->upper_fd.store(fd, std::memory_order_release);
}

int Vfs::open_locked(const std::string& path, int flags, FilePtr* out) {
  if (auto it = files_.find(path); it != files_.end()) {
    if ((flags & O_TRUNC) && writable()) {  // libfuse enables atomic O_TRUNC: ours to do
      if (int e = truncate_locked(path, 0, it->second.get()); e < 0) return e;
    }
    it->second->open_count++;
    *out = it->second;
    return 0;
  }
  Resolved r;
  if (int e = ov_.resolve(path, &r); e < 0) return e;
  if (S_ISDIR(r.st.st_mode)) return -EISDIR;
  if ((flags & O_TRUNC) && writable() && r.st.st_size != 0) {
    if (int e = truncate_locked(path, 0, nullptr); e < 0) return e;
    r.st.st_size = 0;
    r.layer = Layer::Upper;  // truncating copied it up (empty)
  }
  auto f = std::make_shared<FileObj>(next_id_.fetch_add(1), path, &pool_);
  const std::string rp = rel(path);
  if (r.layer == Layer::Upper) {
    int fd = openat(ov_.upper_fd(), rp.c_str(), (writable() ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0 && errno == EACCES) fd = openat(ov_.upper_fd(), rp.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    f->upper_fd.store(fd);
  } else {
    const int fd = open_lower(ov_.lower_fd(), rp);
    if (fd < 0) return -errno;
    f->lower_fd.store(fd);
  }
  f->size.store(static_cast<std::uint64_t>(r.st.st_size));
  f->open_count = 1;
  files_.emplace(path, f);
  *out = std::move(f);
  return 0;
}

int Vfs::open(const std::string& path, int flags, FilePtr* out) {
  if (!writable() && (flags & O_ACCMODE) != O_RDONLY) return -EROFS;
  ctr_.open.fetch_add(1, std::memory_order_relaxed);
  std::unique_lock<std::shared_mutex> lk(ns_mu_);
  return open_locked(path, flags, out);
}

int Vfs::create(const std::string& path, mode_t mode, int flags, uid_t uid, gid_t gid, FilePtr* out) {
  if (!writable()) return -EROFS;
  if (is_reserved_name(name_of(path))) return -EINVAL;
  ctr_.create.fetch_add(1, std::memory_order_relaxed);
  std::unique_lock<std::shared_mutex> lk(ns_mu_);
  Resolved r;
  if (ov_.resolve(path, &r) == 0) {
    if (flags & O_EXCL) return -EEXIST;
    return open_locked(path, flags, out);
  }
  if (int e = prepare_new_name_locked(path); e < 0) return e;
  const int fd = openat(ov_.upper_fd(), rel(path).c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode & 07777);
  if (fd < 0) return -errno;
  if (foreign_owner(uid, gid)) (void)!fchown(fd, uid, gid);
  auto f = std::make_shared<FileObj>(next_id_.fetch_add(1), path, &pool_);
  f->upper_fd.store(fd);
  f->open_count = 1;
  files_[path] = f;
  *out = std::move(f);
  return 0;
}

void Vfs::release(const FilePtr& f) {
  ctr_.release.fetch_add(1, std::memory_order_relaxed);
  // Without --save-on-close this is where a closed file's data is saved; the closer does
  // not wait for it, so a failure can only be logged (the data stays in the pool and the
  // flusher retries; fsync() reports it).
  const int e = writable() ? flush_file(f.get()) : 0;
  std::unique_lock<std::shared_mutex> lk(ns_mu_);  // (f->path is guarded by it)
  if (e < 0)
    std::fprintf(stderr, "vfsd: saving %s after close: %s (kept in memory, retried in the background)\n",
                 f->path.c_str(), std::strerror(-e));
  if (--f->open_count > 0) return;
  if (f->unlinked) return;  // already out of the table; dies with the last reference
  if (e != 0 || f->has_dirty()) {
    // Could not be saved (e.g. ENOSPC, already reported at close): keep it, with its data,
    // for the flusher to retry and for later opens to see.
    ctr_.orphans_kept.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  auto it = files_.find(f->path);
  if (it != files_.end() && it->second == f) files_.erase(it);
}

}  // namespace vfsd
