#include "tmpfs_store.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace hakmem::vfs::baseline {

TmpfsStore::TmpfsStore(std::size_t slot_size, bool keep_pages) : slot_size_(slot_size), keep_pages_(keep_pages) {
  fd_ = memfd_create("vfs-baseline-dirty", MFD_CLOEXEC);
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "memfd_create");
}

TmpfsStore::~TmpfsStore() {
  if (fd_ >= 0) close(fd_);
}

std::int64_t TmpfsStore::take_locked() {
  if (!free_.empty()) {
    const std::int64_t s = free_.back();
    free_.pop_back();
    return s;
  }
  return next_++;
}

void TmpfsStore::give_back_locked(std::int64_t slot) { free_.push_back(slot); }

int TmpfsStore::write(std::int64_t slot, std::size_t off, const void* src, std::size_t len) const {
  const auto* p = static_cast<const char*>(src);
  const off_t base = static_cast<off_t>(slot) * static_cast<off_t>(slot_size_) + static_cast<off_t>(off);
  std::size_t done = 0;
  while (done < len) {
    const ssize_t n = ::pwrite(fd_, p + done, len - done, base + static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    done += static_cast<std::size_t>(n);
  }
  return 0;
}

int TmpfsStore::read(std::int64_t slot, std::size_t off, void* dst, std::size_t len) const {
  auto* p = static_cast<char*>(dst);
  const off_t base = static_cast<off_t>(slot) * static_cast<off_t>(slot_size_) + static_cast<off_t>(off);
  std::size_t done = 0;
  while (done < len) {
    const ssize_t n = ::pread(fd_, p + done, len - done, base + static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (n == 0) {  // a hole at the end of the file reads as zeros
      for (std::size_t i = done; i < len; ++i) p[i] = 0;
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  return 0;
}

void TmpfsStore::punch(std::int64_t slot) const {
  if (keep_pages_) return;
  fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(slot) * static_cast<off_t>(slot_size_),
            static_cast<off_t>(slot_size_));
}

}  // namespace hakmem::vfs::baseline
