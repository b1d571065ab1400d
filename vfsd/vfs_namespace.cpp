// Vfs: lookups, listings and the operations that change names (mkdir, rmdir, unlink,
// symlink, rename). Changes go to the upper tree; lower entries that disappear get whiteouts.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <mutex>
#include <shared_mutex>

#include "vfs.h"

namespace vfsd {

namespace {
void count(std::atomic<std::uint64_t>& c) { c.fetch_add(1, std::memory_order_relaxed); }

int stat_obj(FileObj* f, struct stat* st) {
  if (fstat(f->backing_fd(), st) != 0) return -errno;
  st->st_size = static_cast<off_t>(f->size.load(std::memory_order_acquire));
  st->st_blocks = (st->st_size + 511) / 512;
  return 0;
}
}  // namespace

FileObj* Vfs::find_locked(const std::string& path) {
  auto it = files_.find(path);
  return it == files_.end() ? nullptr : it->second.get();
}

int Vfs::getattr(const std::string& path, struct stat* st, FileObj* f) {
  count(ctr_.getattr);
  if (f != nullptr) return stat_obj(f, st);
  std::shared_lock<std::shared_mutex> lk(ns_mu_);
  if (FileObj* o = find_locked(path)) return stat_obj(o, st);
  Resolved r;
  if (int e = ov_.resolve(path, &r); e < 0) return e;
  *st = r.st;
  return 0;
}

int Vfs::readdir(const std::string& path, std::vector<DirEntry>* out) {
  count(ctr_.readdir);
  std::shared_lock<std::shared_mutex> lk(ns_mu_);
  Resolved r;
  if (int e = ov_.resolve(path, &r); e < 0) return e;
  if (!S_ISDIR(r.st.st_mode)) return -ENOTDIR;
  return ov_.list_dir(path, out);
}

int Vfs::readlink(const std::string& path, char* buf, std::size_t size) {
  if (size == 0) return -EINVAL;
  std::shared_lock<std::shared_mutex> lk(ns_mu_);
  Resolved r;
  if (int e = ov_.resolve(path, &r); e < 0) return e;
  const int dirfd = r.layer == Layer::Upper ? ov_.upper_fd() : ov_.lower_fd();
  const ssize_t n = readlinkat(dirfd, rel(path).c_str(), buf, size - 1);
  if (n < 0) return -errno;
  buf[n] = '\0';
  return 0;
}

// Makes room for a new name in the upper tree: the parent directory copied up and any
// whiteout of the name removed. Namespace lock held exclusively.
int Vfs::prepare_new_name_locked(const std::string& path) {
  if (int e = ov_.ensure_upper_dir(parent_of(path)); e < 0) return e;
  return ov_.remove_whiteout(path);
}

int Vfs::mkdir(const std::string& path, mode_t mode, uid_t uid, gid_t gid) {
  if (!writable()) return -EROFS;
  if (is_reserved_name(name_of(path))) return -EINVAL;
  count(ctr_.mkdir);
  std::unique_lock<std::shared_mutex> lk(ns_mu_);
  if (Resolved r; ov_.resolve(path, &r) == 0) return -EEXIST;
  if (int e = prepare_new_name_locked(path); e < 0) return e;
  const std::string rp = rel(path);
  if (mkdirat(ov_.upper_fd(), rp.c_str(), mode & 07777) != 0) return -errno;
  if (foreign_owner(uid, gid)) fchownat(ov_.upper_fd(), rp.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW);
  ov_.invalidate(path);
  ov_.note_upper_dir(path);
  // A lower directory of this name was deleted before: it must not show through.
  if (ov_.lower_exists(path)) return ov_.make_opaque(path);
  return 0;
}

int Vfs::rmdir(const std::string& path) {
  if (!writable()) return -EROFS;
  if (path == "/") return -EBUSY;
  count(ctr_.rmdir);
  std::unique_lock<std::shared_mutex> lk(ns_mu_);
  Resolved r;
  if (int e = ov_.resolve(path, &r); e < 0) return e;
  if (!S_ISDIR(r.st.st_mode)) return -ENOTDIR;
  if (!ov_.is_empty_dir(path)) return -ENOTEMPTY;
  if (r.layer == Layer::Upper) {
    if (int e = ov_.clear_markers(path); e < 0) return e;
    if (unlinkat(ov_.upper_fd(), rel(path).c_str(), AT_REMOVEDIR) != 0) return -errno;
  }
  ov_.invalidate(path);
  if (ov_.lower_exists(path)) return ov_.add_whiteout(path);
  return 0;
}

void Vfs::unlink_table_locked(const std::string& path) {
  auto it = files_.find(path);
  if (it == files_.end()) return;
  it->second->unlinked.store(true);  // open handles keep working; nothing is flushed
  files_.erase(it);
}

int Vfs::unlink(const std::string& path) {
  if (!writable()) return -EROFS;
  count(ctr_.unlink);
  std::unique_lock<std::shared_mutex> lk(ns_mu_);
  Resolved r;
  if (int e = ov_.resolve(path, &r); e < 0) return e;
  if (S_ISDIR(r.st.st_mode)) return -EISDIR;
  if (r.layer == Layer::Upper && unlinkat(ov_.upper_fd(), rel(path).c_str(), 0) != 0) return -errno;
  unlink_table_locked(path);
  if (ov_.lower_exists(path)) return ov_.add_whiteout(path);
  return 0;
}

int Vfs::symlink(const std::string& target, const std::string& path, uid_t uid, gid_t gid) {
  if (!writable()) return -EROFS;
  if (is_reserved_name(name_of(path))) return -EINVAL;
  count(ctr_.symlink);
  std::unique_lock<std::shared_mutex> lk(ns_mu_);
  if (Resolved r; ov_.resolve(path, &r) == 0) return -EEXIST;
  if (int e = prepare_new_name_locked(path); e < 0) return e;
  const std::string rp = rel(path);
  if (symlinkat(target.c_str(), ov_.upper_fd(), rp.c_str()) != 0) return -errno;
  if (foreign_owner(uid, gid)) fchownat(ov_.upper_fd(), rp.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW);
  return 0;
}

void Vfs::rename_table_locked(const std::string& from, const std::string& to, bool dir) {
  std::vector<std::pair<std::string, FilePtr>> moved;
  const std::string below = from + "/";
  for (auto it = files_.begin(); it != files_.end();) {
    if (it->first == from || (dir && it->first.rfind(below, 0) == 0)) {
      moved.emplace_back(to + it->first.substr(from.size()), std::move(it->second));
      it = files_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& [p, f] : moved) {
    f->path = p;
    files_[p] = std::move(f);
  }
}

int Vfs::rename(const std::string& from, const std::string& to, unsigned flags) {
  if (!writable()) return -EROFS;
  if (flags & ~static_cast<unsigned>(RENAME_NOREPLACE)) return -EINVAL;  // no RENAME_EXCHANGE
  if (is_reserved_name(name_of(to))) return -EINVAL;
  count(ctr_.rename);
  std::unique_lock<std::shared_mutex> lk(ns_mu_);
  Resolved rf, rt;
  if (int e = ov_.resolve(from, &rf); e < 0) return e;
  const bool to_exists = ov_.resolve(to, &rt) == 0;
  if (to_exists && (flags & RENAME_NOREPLACE)) return -EEXIST;
  if (from == to) return 0;
  const bool from_dir = S_ISDIR(rf.st.st_mode);
  if (from_dir && to.rfind(from + "/", 0) == 0) return -EINVAL;
  if (to_exists) {
    const bool to_dir = S_ISDIR(rt.st.st_mode);
    if (from_dir && !to_dir) return -ENOTDIR;
    if (!from_dir && to_dir) return -EISDIR;
    if (to_dir && !ov_.is_empty_dir(to)) return -ENOTEMPTY;
  }
  // 1. Bring `from` wholly into upper (a directory with lower content is copied up whole:
  //    after the move nothing below it may come from the lower tree's old path).
  const bool from_in_lower = ov_.lower_exists(from);
  if (from_dir && from_in_lower) {
    if (int e = ov_.materialize_tree(from); e < 0) return e;
  } else if (int e = ov_.copy_up(from); e < 0) {
    return e;
  }
  // 2. Make room at `to`.
  if (int e = ov_.ensure_upper_dir(parent_of(to)); e < 0) return e;
  if (int e = ov_.remove_whiteout(to); e < 0) return e;
  if (to_exists && S_ISDIR(rt.st.st_mode) && rt.layer == Layer::Upper) {
    if (int e = ov_.clear_markers(to); e < 0) return e;
  }
  // 3. Move.
  if (renameat(ov_.upper_fd(), rel(from).c_str(), ov_.upper_fd(), rel(to).c_str()) != 0) return -errno;
  if (to_exists) unlink_table_locked(to);
  rename_table_locked(from, to, from_dir);
  // 4. Hide what the lower tree still has at the old name, and under the new one.
  if (from_dir) {
    ov_.invalidate(from);
    ov_.invalidate(to);
  }
  if (from_in_lower) {
    if (int e = ov_.add_whiteout(from); e < 0) return e;
  }
  if (from_dir && ov_.lower_exists(to)) return ov_.make_opaque(to);
  return 0;
}

}  // namespace vfsd
