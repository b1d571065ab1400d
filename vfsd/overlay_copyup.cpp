// Overlay: copy-up of lower entries into the upper tree.
//
// A regular file is copied into cache-dir/work under a temporary name (copy_file_range,
// falling back to read/write), given the lower file's owner, mode and times, and then
// renamed into place, so a crash never leaves a half-copied file in upper.
#include <fcntl.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "overlay.h"

namespace vfsd {

namespace {
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

int copy_bytes(int in, int out, off_t len) {
  off_t done = 0;
  bool use_cfr = true;
  std::vector<char> buf;
  while (done < len) {
    if (use_cfr) {
      loff_t ioff = done, ooff = done;
      const ssize_t n = copy_file_range(in, &ioff, out, &ooff, static_cast<size_t>(len - done), 0);
      if (n > 0) {
        done += n;
        continue;
      }
      if (n == 0) break;  // source shrank
      if (errno == EINTR) continue;
      if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP) return -errno;
      use_cfr = false;
      buf.resize(1 << 20);
    }
    const ssize_t n = pread(in, buf.data(), buf.size(), done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (n == 0) break;
    for (ssize_t w = 0; w < n;) {
      const ssize_t k = pwrite(out, buf.data() + w, static_cast<size_t>(n - w), done + w);
      if (k < 0) {
        if (errno == EINTR) continue;
        return -errno;
      }
      w += k;
    }
    done += n;
  }
  return 0;
}
}  // namespace

int Overlay::ensure_upper_dir(const std::string& dir) {
  if (upper_fd_ < 0) return -EROFS;
  if (dir == "/" || upper_dir_exists(dir)) return 0;
  if (int r = ensure_upper_dir(parent_of(dir)); r < 0) return r;
  return copy_up(dir);
}

int Overlay::copy_up(const std::string& path, bool empty) {
  if (upper_fd_ < 0) return -EROFS;
  Resolved r;
  if (int e = resolve(path, &r); e < 0) return e;
  if (r.layer == Layer::Upper) return 0;
  if (int e = ensure_upper_dir(parent_of(path)); e < 0) return e;
  const struct stat& st = r.st;
  const std::string rp = rel(path);
  int err = 0;
  if (S_ISDIR(st.st_mode)) {
    if (mkdirat(upper_fd_, rp.c_str(), st.st_mode & 07777) != 0 && errno != EEXIST) return -errno;
    if (fchownat(upper_fd_, rp.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) != 0 && errno != EPERM)
      return -errno;
    fchmodat(upper_fd_, rp.c_str(), st.st_mode & 07777, 0);  // mkdir applied the umask
    note_upper_dir(path);
  } else if (S_ISLNK(st.st_mode)) {
    std::vector<char> target(static_cast<size_t>(st.st_size) + 1);
    const ssize_t n = readlinkat(lower_fd_, rp.c_str(), target.data(), target.size());
    if (n < 0) return -errno;
    target[static_cast<size_t>(n)] = '\0';
    if (symlinkat(target.data(), upper_fd_, rp.c_str()) != 0) return -errno;
    fchownat(upper_fd_, rp.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW);
    const timespec ts[2] = {st.st_atim, st.st_mtim};
    utimensat(upper_fd_, rp.c_str(), ts, AT_SYMLINK_NOFOLLOW);
  } else if (S_ISREG(st.st_mode)) {
    err = copy_file_up(path, st, empty);
  } else {
    err = copy_special_up(path, st);
  }
  if (err == 0) {
    copy_ups_.fetch_add(1, std::memory_order_relaxed);
    if (hook_ && S_ISREG(st.st_mode)) hook_(path);
  }
  return err;
}

int Overlay::copy_file_up(const std::string& path, const struct stat& st, bool empty) {
  const std::string rp = rel(path);
  Fd in;
  in.fd = openat(lower_fd_, rp.c_str(), O_RDONLY | O_CLOEXEC | O_NOATIME);
  if (in.fd < 0 && errno == EPERM) in.fd = openat(lower_fd_, rp.c_str(), O_RDONLY | O_CLOEXEC);
  if (in.fd < 0) return -errno;
  const std::string tmp = "copyup." + std::to_string(getpid()) + "." +
                          std::to_string(tmp_counter_.fetch_add(1, std::memory_order_relaxed));
  Fd out;
  out.fd = openat(work_fd_, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (out.fd < 0) return -errno;
  int err = empty ? 0 : copy_bytes(in.fd, out.fd, st.st_size);
  if (err == 0 && fchown(out.fd, st.st_uid, st.st_gid) != 0 && errno != EPERM) err = -errno;
  if (err == 0 && fchmod(out.fd, st.st_mode & 07777) != 0) err = -errno;
  if (err == 0) {
    const timespec ts[2] = {st.st_atim, st.st_mtim};
    futimens(out.fd, ts);
  }
  if (err == 0 && renameat(work_fd_, tmp.c_str(), upper_fd_, rp.c_str()) != 0) err = -errno;
  if (err != 0) unlinkat(work_fd_, tmp.c_str(), 0);
  return err;
}

int Overlay::copy_special_up(const std::string& path, const struct stat& st) {
  const std::string rp = rel(path);
  if (mknodat(upper_fd_, rp.c_str(), st.st_mode, st.st_rdev) != 0) return -errno;
  fchownat(upper_fd_, rp.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW);
  return 0;
}

int Overlay::materialize_tree(const std::string& dir) {
  if (int r = copy_up(dir); r < 0) return r;
  std::vector<DirEntry> ents;
  if (int r = list_dir(dir, &ents); r < 0) return r;
  for (const DirEntry& e : ents) {
    const std::string p = join(dir, e.name);
    Resolved r;
    if (int x = resolve(p, &r); x < 0) return x;
    if (S_ISDIR(r.st.st_mode)) {
      if (int x = materialize_tree(p); x < 0) return x;
    } else if (r.layer == Layer::Lower) {
      if (int x = copy_up(p); x < 0) return x;
    }
  }
  return 0;
}

}  // namespace vfsd
