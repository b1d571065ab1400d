// round_trip DIR [N]: what one request to a filesystem costs, seen from the caller.
//   statfs  N x statfs(DIR): on a FUSE mount, one STATFS round trip each (a null request)
//   then, per new file DIR/rt/fNNNNNN (N files): stat of the absent name (LOOKUP), open with
//   O_CREAT|O_EXCL (CREATE), write 8 KiB (page cache), close (the WRITE of the cached data)
// Prints the mean microseconds of each step. Run it on the mount and on the plain disk.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {
double now_us() {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: round_trip DIR [N=3000]\n");
    return 2;
  }
  const std::string dir = argv[1];
  const int n = argc > 2 ? std::atoi(argv[2]) : 3000;
  struct statvfs sv;
  double t0 = now_us();
  for (int i = 0; i < n; ++i)
    if (statvfs(dir.c_str(), &sv) != 0) return std::perror("statvfs"), 1;
  const double statfs_us = (now_us() - t0) / n;

  const std::string sub = dir + "/rt";
  if (mkdir(sub.c_str(), 0755) != 0) return std::perror(sub.c_str()), 1;
  static char buf[8192];
  std::memset(buf, 'x', sizeof buf);
  double lookup = 0, create = 0, write_us = 0, close_us = 0;
  char path[4096];
  for (int i = 0; i < n; ++i) {
    std::snprintf(path, sizeof path, "%s/f%06d", sub.c_str(), i);
    struct stat st;
    const double a = now_us();
    if (stat(path, &st) == 0) return std::fprintf(stderr, "%s exists\n", path), 1;
    const double b = now_us();
    const int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return std::perror(path), 1;
    const double c = now_us();
    if (write(fd, buf, sizeof buf) != static_cast<ssize_t>(sizeof buf)) return std::perror("write"), 1;
    const double d = now_us();
    if (close(fd) != 0) return std::perror("close"), 1;
    const double e = now_us();
    lookup += b - a;
    create += c - b;
    write_us += d - c;
    close_us += e - d;
  }
  std::printf("statfs %.1f us; per new file: lookup %.1f create %.1f write %.1f close %.1f total %.1f us\n",
              statfs_us, lookup / n, create / n, write_us / n, close_us / n,
              (lookup + create + write_us + close_us) / n);
  return 0;
}
