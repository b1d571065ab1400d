// Overlay: path helpers, resolution, merged directory listings, whiteouts and opaque dirs.
#include "overlay.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <unordered_set>

namespace vfsd {

std::string rel(const std::string& path) {
  if (path.empty() || path == "/") return ".";
  return path[0] == '/' ? path.substr(1) : path;
}

std::string parent_of(const std::string& path) {
  const auto pos = path.rfind('/');
  if (pos == std::string::npos || pos == 0) return "/";
  return path.substr(0, pos);
}

std::string name_of(const std::string& path) {
  const auto pos = path.rfind('/');
  return pos == std::string::npos ? path : path.substr(pos + 1);
}

std::string join(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

bool is_reserved_name(const std::string& name) { return name.rfind(kWhiteoutPrefix, 0) == 0; }

Overlay::Overlay(int lower_fd, int upper_fd, int work_fd)
    : lower_fd_(lower_fd), upper_fd_(upper_fd), work_fd_(work_fd) {}

Overlay::DirInfo& Overlay::info_locked(const std::string& dir) {
  auto [it, inserted] = dirs_.try_emplace(dir);
  if (!inserted || upper_fd_ < 0) return it->second;
  DirInfo& d = it->second;
  const int fd = openat(upper_fd_, rel(dir).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return d;  // not in upper (or not a directory there)
  d.upper_exists = true;
  DIR* dp = fdopendir(fd);
  if (dp == nullptr) {
    close(fd);
    return d;
  }
  while (dirent* de = readdir(dp)) {
    const std::string n = de->d_name;
    if (!is_reserved_name(n)) continue;
    if (n == kOpaqueMarker)
      d.opaque = true;
    else
      d.whiteouts.insert(n.substr(std::strlen(kWhiteoutPrefix)));
  }
  closedir(dp);
  return d;
}

bool Overlay::upper_dir_exists(const std::string& dir) {
  if (upper_fd_ < 0) return false;
  std::lock_guard<std::mutex> g(dir_mu_);
  return info_locked(dir).upper_exists;
}

bool Overlay::lower_visible(const std::string& path) {
  if (upper_fd_ < 0) return true;
  std::lock_guard<std::mutex> g(dir_mu_);
  std::string cur = "/";
  std::size_t pos = 1;
  while (pos <= path.size()) {
    std::size_t end = path.find('/', pos);
    if (end == std::string::npos) end = path.size();
    if (end == pos) break;  // "/" itself
    const std::string comp = path.substr(pos, end - pos);
    const DirInfo& d = info_locked(cur);
    if (d.opaque || d.whiteouts.count(comp)) return false;
    cur = join(cur, comp);
    pos = end + 1;
  }
  return true;
}

bool Overlay::lower_exists(const std::string& path) {
  struct stat st;
  return fstatat(lower_fd_, rel(path).c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

int Overlay::resolve(const std::string& path, Resolved* out) {
  out->layer = Layer::None;
  if (upper_fd_ >= 0 && (path == "/" || upper_dir_exists(parent_of(path)))) {
    if (fstatat(upper_fd_, rel(path).c_str(), &out->st, AT_SYMLINK_NOFOLLOW) == 0) {
      out->layer = Layer::Upper;
      return 0;
    }
    if (errno != ENOENT && errno != ENOTDIR) return -errno;
  }
  if (!lower_visible(path)) return -ENOENT;
  if (fstatat(lower_fd_, rel(path).c_str(), &out->st, AT_SYMLINK_NOFOLLOW) != 0) return -errno;
  out->layer = Layer::Lower;
  return 0;
}

namespace {
mode_t dtype_to_mode(unsigned char t) {
  switch (t) {
    case DT_REG: return S_IFREG;
    case DT_DIR: return S_IFDIR;
    case DT_LNK: return S_IFLNK;
    case DT_FIFO: return S_IFIFO;
    case DT_SOCK: return S_IFSOCK;
    case DT_CHR: return S_IFCHR;
    case DT_BLK: return S_IFBLK;
    default: return 0;
  }
}

// Appends the entries of dirfd/relpath (minus ".", "..", reserved names and `skip`).
int read_dir(int dirfd, const std::string& relpath, std::vector<DirEntry>* out,
             std::unordered_set<std::string>* seen, const std::unordered_set<std::string>* hidden) {
  const int fd = openat(dirfd, relpath.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  DIR* dp = fdopendir(fd);
  if (dp == nullptr) {
    const int e = errno;
    close(fd);
    return -e;
  }
  while (dirent* de = readdir(dp)) {
    std::string n = de->d_name;
    if (n == "." || n == ".." || is_reserved_name(n)) continue;
    if (hidden && hidden->count(n)) continue;
    if (!seen->insert(n).second) continue;
    out->push_back(DirEntry{std::move(n), dtype_to_mode(de->d_type)});
  }
  closedir(dp);
  return 0;
}
}  // namespace

int Overlay::list_dir(const std::string& path, std::vector<DirEntry>* out) {
  std::unordered_set<std::string> seen;
  bool upper = false, opaque = false;
  std::unordered_set<std::string> whiteouts;
  if (upper_fd_ >= 0) {
    std::lock_guard<std::mutex> g(dir_mu_);
    const DirInfo& d = info_locked(path);
    upper = d.upper_exists;
    opaque = d.opaque;
    whiteouts = d.whiteouts;
  }
  if (upper) {
    const int r = read_dir(upper_fd_, rel(path), out, &seen, nullptr);
    if (r < 0) return r;
  }
  if (!opaque && lower_visible(path)) {
    const int r = read_dir(lower_fd_, rel(path), out, &seen, &whiteouts);
    if (r < 0 && !upper) return r;  // lower may legitimately be absent or a non-directory
  }
  return 0;
}

bool Overlay::is_empty_dir(const std::string& path) {
  std::vector<DirEntry> ents;
  return list_dir(path, &ents) == 0 && ents.empty();
}

void Overlay::note_upper_dir(const std::string& dir) {
  std::lock_guard<std::mutex> g(dir_mu_);
  DirInfo& d = info_locked(dir);
  d.upper_exists = true;
}

int Overlay::add_whiteout(const std::string& path) {
  const std::string dir = parent_of(path);
  if (int r = ensure_upper_dir(dir); r < 0) return r;
  const std::string wh = rel(join(dir, kWhiteoutPrefix + name_of(path)));
  const int fd = openat(upper_fd_, wh.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return -errno;
  close(fd);
  whiteouts_made_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard<std::mutex> g(dir_mu_);
  info_locked(dir).whiteouts.insert(name_of(path));
  return 0;
}

int Overlay::remove_whiteout(const std::string& path) {
  if (upper_fd_ < 0) return 0;
  const std::string dir = parent_of(path);
  const std::string name = name_of(path);
  std::lock_guard<std::mutex> g(dir_mu_);
  DirInfo& d = info_locked(dir);
  if (!d.whiteouts.count(name)) return 0;
  const std::string wh = rel(join(dir, kWhiteoutPrefix + name));
  if (unlinkat(upper_fd_, wh.c_str(), 0) != 0 && errno != ENOENT) return -errno;
  d.whiteouts.erase(name);
  return 0;
}

int Overlay::make_opaque(const std::string& dir) {
  const int fd = openat(upper_fd_, rel(join(dir, kOpaqueMarker)).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return -errno;
  close(fd);
  std::lock_guard<std::mutex> g(dir_mu_);
  DirInfo& d = info_locked(dir);
  d.opaque = true;
  d.upper_exists = true;
  return 0;
}

int Overlay::clear_markers(const std::string& dir) {
  const int fd = openat(upper_fd_, rel(dir).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? 0 : -errno;
  DIR* dp = fdopendir(fd);
  if (dp == nullptr) {
    const int e = errno;
    close(fd);
    return -e;
  }
  std::vector<std::string> names;
  while (dirent* de = readdir(dp))
    if (is_reserved_name(de->d_name)) names.emplace_back(de->d_name);
  int err = 0;
  for (const auto& n : names)
    if (unlinkat(dirfd(dp), n.c_str(), 0) != 0 && errno != ENOENT) err = -errno;
  closedir(dp);
  std::lock_guard<std::mutex> g(dir_mu_);
  auto it = dirs_.find(dir);
  if (it != dirs_.end()) {
    it->second.opaque = false;
    it->second.whiteouts.clear();
  }
  return err;
}

void Overlay::invalidate(const std::string& prefix) {
  std::lock_guard<std::mutex> g(dir_mu_);
  const std::string below = prefix == "/" ? "/" : prefix + "/";
  for (auto it = dirs_.begin(); it != dirs_.end();) {
    if (it->first == prefix || it->first.rfind(below, 0) == 0)
      it = dirs_.erase(it);
    else
      ++it;
  }
}

}  // namespace vfsd
