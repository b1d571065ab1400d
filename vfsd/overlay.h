// The overlay: a read-only lower tree (SOURCE) under a writable upper tree (cache-dir/upper),
// in the on-disk format documented in vfsd/README.md:
//   - a file, symlink or directory present in upper shadows the lower one of the same path;
//     directories present in both are merged;
//   - `.wh.NAME` (an empty file) in an upper directory hides NAME of the lower directory;
//   - `.wh..wh..opq` in an upper directory hides the whole lower directory of that path
//     (an "opaque" directory: made by mkdir over a deleted lower entry, and by renames).
// Paths are FUSE paths ("/", "/a/b"). Every function expects the caller to hold the daemon's
// namespace lock: shared for queries, exclusive for changes. Per-directory whiteout / opaque
// state is cached in memory (loaded on first use by one readdir of the upper directory).
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace vfsd {

enum class Layer { None, Upper, Lower };

struct Resolved {
  Layer layer = Layer::None;
  struct stat st {};
};

struct DirEntry {
  std::string name;
  mode_t type;  // S_IFREG, S_IFDIR, ... (0 if unknown)
};

inline constexpr const char* kWhiteoutPrefix = ".wh.";
inline constexpr const char* kOpaqueMarker = ".wh..wh..opq";

// "/a/b" -> "a/b", "/" -> "."
std::string rel(const std::string& path);
std::string parent_of(const std::string& path);
std::string name_of(const std::string& path);
std::string join(const std::string& dir, const std::string& name);
bool is_reserved_name(const std::string& name);  // names starting with ".wh."

class Overlay {
 public:
  // upper_fd / work_fd are -1 for a read-only mount without a cache directory.
  Overlay(int lower_fd, int upper_fd, int work_fd);

  int lower_fd() const { return lower_fd_; }
  int upper_fd() const { return upper_fd_; }
  bool has_upper() const { return upper_fd_ >= 0; }

  // Called after a regular file was copied up (to let open files switch to the upper copy).
  void set_copy_up_hook(std::function<void(const std::string&)> hook) { hook_ = std::move(hook); }

  // ---- queries (shared lock) ----
  int resolve(const std::string& path, Resolved* out);
  bool lower_visible(const std::string& path);
  bool lower_exists(const std::string& path);  // anything at path in lower, visible or not
  int list_dir(const std::string& path, std::vector<DirEntry>* out);
  bool is_empty_dir(const std::string& path);
  bool upper_dir_exists(const std::string& dir);

  // ---- changes (exclusive lock) ----
  int ensure_upper_dir(const std::string& dir);            // copies up the directory chain
  int copy_up(const std::string& path, bool empty = false); // file: contents unless `empty`
  int materialize_tree(const std::string& dir);              // copy up all lower content below
  int add_whiteout(const std::string& path);
  int remove_whiteout(const std::string& path);             // 0 if there was none
  int make_opaque(const std::string& dir);
  int clear_markers(const std::string& dir);                 // remove .wh.* from an upper dir
  void note_upper_dir(const std::string& dir);               // dir was created in upper
  void invalidate(const std::string& prefix);                // forget cached state below prefix

  std::uint64_t copy_ups() const { return copy_ups_; }
  std::uint64_t whiteouts_made() const { return whiteouts_made_; }

 private:
  struct DirInfo {
    bool upper_exists = false;
    bool opaque = false;
    std::unordered_set<std::string> whiteouts;
  };
  DirInfo& info_locked(const std::string& dir);  // dir_mu_ held
  int copy_file_up(const std::string& path, const struct stat& st, bool empty);
  int copy_special_up(const std::string& path, const struct stat& st);

  const int lower_fd_;
  const int upper_fd_;
  const int work_fd_;
  std::function<void(const std::string&)> hook_;
  std::mutex dir_mu_;  // guards dirs_ (queries run concurrently under the shared lock)
  std::unordered_map<std::string, DirInfo> dirs_;
  std::atomic<std::uint64_t> tmp_counter_{0};
  std::atomic<std::uint64_t> copy_ups_{0};
  std::atomic<std::uint64_t> whiteouts_made_{0};
};

}  // namespace vfsd
