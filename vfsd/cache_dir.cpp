#include "cache_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

namespace vfsd {

namespace {
constexpr const char* kMarker = "VFSD_OVERLAY";
constexpr const char* kMarkerText = "vfsd-overlay 1\n";

std::string why() { return std::strerror(errno); }

bool is_empty_dir(int fd) {
  const int dup_fd = dup(fd);
  if (dup_fd < 0) return false;
  DIR* dp = fdopendir(dup_fd);
  if (dp == nullptr) {
    close(dup_fd);
    return false;
  }
  bool empty = true;
  while (dirent* de = readdir(dp)) {
    if (std::strcmp(de->d_name, ".") && std::strcmp(de->d_name, "..")) {
      empty = false;
      break;
    }
  }
  closedir(dp);
  return empty;
}

void remove_contents(int dirfd) {
  const int dup_fd = dup(dirfd);
  if (dup_fd < 0) return;
  DIR* dp = fdopendir(dup_fd);
  if (dp == nullptr) {
    close(dup_fd);
    return;
  }
  while (dirent* de = readdir(dp))
    if (std::strcmp(de->d_name, ".") && std::strcmp(de->d_name, "..")) unlinkat(dirfd, de->d_name, 0);
  closedir(dp);
}
}  // namespace

bool open_cache_dir(const std::string& path, bool writable, double lock_wait_s,
                    const std::string& source, CacheDir* out, std::string* error) {
  out->path = path;
  const std::string where = "cache directory '" + path + "'";
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT || !writable) {
      *error = where + ": " + why();
      return false;
    }
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) {
      *error = "cannot create " + where + ": " + ec.message();
      return false;
    }
  } else if (!S_ISDIR(st.st_mode)) {
    *error = where + " is not a directory";
    return false;
  }
  out->root_fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (out->root_fd < 0) {
    *error = where + ": " + why();
    return false;
  }
  if (writable) {  // root passes permission checks, so really try to write
    const std::string probe = ".vfsd-probe." + std::to_string(getpid());
    const int fd = openat(out->root_fd, probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, "x", 1) != 1) {
      *error = where + " is not writable: " + why();
      if (fd >= 0) close(fd);
      return false;
    }
    close(fd);
    unlinkat(out->root_fd, probe.c_str(), 0);
  }
  // Format marker: refuse a non-empty directory that is not ours.
  const int mfd = openat(out->root_fd, kMarker, O_RDONLY | O_CLOEXEC);
  if (mfd >= 0) {
    char buf[64] = {};
    const ssize_t n = read(mfd, buf, sizeof buf - 1);
    close(mfd);
    if (n < 0 || std::strcmp(buf, kMarkerText) != 0) {
      *error = where + " has an unknown overlay format (" + kMarker + " is not '" +
               std::string(kMarkerText, std::strlen(kMarkerText) - 1) + "')";
      return false;
    }
  } else if (!is_empty_dir(out->root_fd)) {
    *error = where + " is not empty and is not a vfsd cache (no " + kMarker + ")";
    return false;
  } else if (!writable) {
    *error = where + " is empty: nothing to show without --writable";
    return false;
  }
  // One daemon per cache directory; a remount may briefly overlap the old daemon's exit.
  out->lock_fd = openat(out->root_fd, "LOCK", (writable ? O_RDWR | O_CREAT : O_RDONLY) | O_CLOEXEC, 0644);
  if (out->lock_fd < 0) {
    *error = where + ": cannot open LOCK: " + why();
    return false;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(lock_wait_s);
  while (flock(out->lock_fd, (writable ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK || std::chrono::steady_clock::now() >= deadline) {
      *error = where + " is in use by another vfsd" + (errno == EWOULDBLOCK ? std::string() : ": " + why());
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (writable) {
    bool fresh_upper = mkdirat(out->root_fd, "upper", 0755) == 0;
    if (!fresh_upper && errno != EEXIST) {
      *error = where + ": cannot create upper/: " + why();
      return false;
    }
    if (mkdirat(out->root_fd, "work", 0700) != 0 && errno != EEXIST) {
      *error = where + ": cannot create work/: " + why();
      return false;
    }
    if (fresh_upper) {  // the merged root looks like the source root
      struct stat sst;
      if (stat(source.c_str(), &sst) == 0) {
        const int ufd = openat(out->root_fd, "upper", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (ufd >= 0) {
          (void)!fchown(ufd, sst.st_uid, sst.st_gid);
          fchmod(ufd, sst.st_mode & 07777);
          close(ufd);
        }
      }
    }
    const int fd = openat(out->root_fd, kMarker, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0) {
      const bool ok = write(fd, kMarkerText, std::strlen(kMarkerText)) == static_cast<ssize_t>(std::strlen(kMarkerText));
      close(fd);
      if (!ok) {
        *error = where + ": cannot write " + kMarker + ": " + why();
        return false;
      }
    }
  }
  out->upper_fd = openat(out->root_fd, "upper", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (out->upper_fd < 0) {
    *error = where + ": upper/: " + why();
    return false;
  }
  out->work_fd = openat(out->root_fd, "work", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (writable) {
    if (out->work_fd < 0) {
      *error = where + ": work/: " + why();
      return false;
    }
    remove_contents(out->work_fd);  // copy-ups interrupted by a crash
  }
  return true;
}

}  // namespace vfsd
