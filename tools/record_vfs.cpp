// Reading the VFS pool record (include/hakmem/vfs_profile_record.h) that vfsd publishes
// beside its allocator record: "<allocator record>.vfs".
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

#include "record.hpp"
#include "record_map.hpp"

namespace hakstat {
namespace {

const detail::RecordKind kVfsRecord = {"hakmem VFS pool record", HAKMEM_VFS_PROFILE_MAGIC,
                                       HAKMEM_VFS_PROFILE_VERSION,
                                       sizeof(hakmem_vfs_profile_record)};

bool exists(const std::string& path) {
  return ::access(path.c_str(), F_OK) == 0 || errno != ENOENT;
}

}  // namespace

std::optional<VfsSnapshot> read_vfs_snapshot(const std::string& path, long pid) {
  if (!exists(path)) return std::nullopt;  // the process runs no VFS pool
  detail::MappedRecord live = detail::map_checked(path, pid, false, kVfsRecord);
  VfsSnapshot s;
  s.path = path;
  s.torn = !detail::copy_record(live.mem, &s.rec, sizeof(s.rec));
  ::munmap(live.mem, live.len);
  s.liveness = detail::liveness_of(s.rec.header, realtime_ns());
  return s;
}

void request_vfs_reset(const std::string& path, long pid, std::uint64_t timeout_ms) {
  if (!exists(path)) return;
  detail::MappedRecord rec = detail::map_checked(path, pid, true, kVfsRecord);
  struct Unmap {
    detail::MappedRecord r;
    ~Unmap() { ::munmap(r.mem, r.len); }
  } unmap{rec};
  auto* h = static_cast<hakmem_profile_header*>(rec.mem);
  // A pool already shut down (unmount in progress) has nothing left to reset.
  if (h->state == HAKMEM_PROFILE_STATE_EXITED) return;
  detail::reset_mapped(h, pid, timeout_ms);
}

}  // namespace hakstat
