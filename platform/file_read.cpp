#include "platform/file_read.hpp"

#include <fcntl.h>

#include <cerrno>

#include "platform/platform.hpp"

namespace hakmem::platform {

long read_small_file(const char* path, char* buf, std::size_t cap) {
  const Ops& sys = ops();
  int fd = sys.open(path, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return -1;
  std::size_t len = 0;
  while (len + 1 < cap) {
    ssize_t r = sys.read(fd, buf + len, cap - 1 - len);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;  // end of file, or an error: what was read stands
    len += static_cast<std::size_t>(r);
  }
  sys.close(fd);
  buf[len] = '\0';
  return static_cast<long>(len);
}

}  // namespace hakmem::platform
