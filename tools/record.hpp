// Reading hakmem profile records (include/hakmem/profile_record.h) from outside the process:
// where they live, a consistent copy of a live record, whether its process still runs,
// and the reset request.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "hakmem/profile_record.h"
#include "hakmem/vfs_profile_record.h"

namespace hakstat {

// An error the user should see as one clear line (hakmem-stat exits with status 1).
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Where records are: HAKMEM_PROFILE_PATH semantics (a directory, or a file name in which
// "%p" stands for the pid); default /dev/shm.
class RecordLocation {
 public:
  // spec: the --path option, else $HAKMEM_PROFILE_PATH, else "" (/dev/shm).
  explicit RecordLocation(std::string spec);
  std::string path_for(long pid) const;
  // The directory scan() searches, and a session's aggregate record in it.
  const std::string& dir() const { return dir_; }
  std::string session_path(const std::string& name) const;
  // Existing record files with the pid each name carries. With sidecars, the VFS pool
  // records ("<record>.vfs") instead.
  struct Entry {
    std::string path;
    long pid;
  };
  std::vector<Entry> scan(bool sidecars = false) const;

 private:
  std::string dir_;     // directory searched by scan()
  std::string prefix_;  // file name = prefix + pid + suffix
  std::string suffix_;
  std::string fixed_;  // a path without %p: always this file
};

enum class Liveness {
  kRunning,  // process alive, record refreshed recently
  kStale,    // process alive but the record has not been refreshed for a while
  kExited,   // the process wrote its final snapshot at exit (it may still be finishing)
  kDead,     // no such process (or the pid is another process's now), and no final snapshot:
             // the process was killed or called _exit
};
const char* liveness_name(Liveness l);

// The VFS pool record of a process (vfsd), read with its allocator record.
struct VfsSnapshot {
  std::string path;
  hakmem_vfs_profile_record rec;
  Liveness liveness;
  bool torn;
};

// The process's resident set from /proc/PID/status, in bytes (proc_rss.cpp).
struct ProcRss {
  std::uint64_t vm_rss = 0;    // VmRSS: everything resident, file pages and shared too
  std::uint64_t rss_anon = 0;  // RssAnon: anonymous memory, where the allocator's is
  std::uint64_t rss_file = 0;
  std::uint64_t rss_shmem = 0; // the profile records themselves are here (MAP_SHARED)
};
// nullopt if the process is gone or its status unreadable.
std::optional<ProcRss> read_proc_rss(long pid);

struct Snapshot {
  std::string path;
  hakmem_profile_record rec;
  Liveness liveness;
  bool torn;                   // the writer died mid-update: values may be inconsistent
  std::uint64_t read_time_ns;  // CLOCK_REALTIME when copied
  std::optional<VfsSnapshot> vfs;  // "<path>.vfs", when the process publishes one
  std::optional<ProcRss> rss;  // read right after the copy, while the process runs
};

// Reads the record of pid (throws Error with a clear message: no record, no permission,
// not a record, a newer version than this tool supports).
Snapshot read_snapshot(const RecordLocation& loc, long pid);
Snapshot read_snapshot_file(const std::string& path, std::optional<long> expected_pid);

// Whether pid runs and is the process that wrote a record started at start_ticks.
bool process_alive(long pid, std::uint64_t start_ticks);

// Asks the process to reset its counters (both records) and waits for the acknowledgement.
void request_reset(const RecordLocation& loc, long pid, std::uint64_t timeout_ms);

// The VFS pool record at path, or nullopt if there is none (throws Error if it is there but
// unreadable, of another pid, or of a newer version). record_vfs.cpp.
std::optional<VfsSnapshot> read_vfs_snapshot(const std::string& path, long pid);
// Resets the VFS pool record at path, if there is one and its pool still runs.
void request_vfs_reset(const std::string& path, long pid, std::uint64_t timeout_ms);

std::uint64_t realtime_ns();

}  // namespace hakstat
