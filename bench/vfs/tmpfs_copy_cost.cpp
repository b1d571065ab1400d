// tmpfs_copy_cost: what the baseline's dirty-block storage costs per byte on this machine,
// next to a plain memcpy (what the pool does). Copies 128 KiB chunks over a 8 MiB window:
//   memcpy            user memory to user memory (warm)
//   pwrite_existing   into a tmpfs file whose pages exist (the kernel's copy + page lookups)
//   pread             out of a tmpfs file
//   punch_pwrite      FALLOC_FL_PUNCH_HOLE then pwrite: pages freed and allocated again, as
//                     for a block that was flushed clean and then written
// Prints GB/s for each; the checksum keeps the copies from being optimised away.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

constexpr std::size_t kChunk = 128 << 10;
constexpr std::size_t kSlots = 64;

template <class Fn>
double gb_per_s(std::size_t rounds, Fn&& fn) {
  const auto t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < rounds; ++i) fn(i % kSlots);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return static_cast<double>(rounds * kChunk) / s / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t rounds = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 4096;
  std::vector<char> src(kChunk, 1), dst(kChunk * kSlots, 0);
  const int fd = memfd_create("tmpfs-copy-cost", MFD_CLOEXEC);
  if (fd < 0 || ftruncate(fd, static_cast<off_t>(kChunk * kSlots)) != 0) {
    std::perror("memfd");
    return 1;
  }
  auto off = [](std::size_t slot) { return static_cast<off_t>(slot * kChunk); };
  for (std::size_t s = 0; s < kSlots; ++s)
    if (pwrite(fd, src.data(), kChunk, off(s)) != static_cast<ssize_t>(kChunk)) return 1;
  bool ok = true;
  const double m = gb_per_s(rounds, [&](std::size_t s) {
    src[s] = static_cast<char>(s);
    std::memcpy(dst.data() + s * kChunk, src.data(), kChunk);
  });
  const double w = gb_per_s(rounds, [&](std::size_t s) { ok &= pwrite(fd, src.data(), kChunk, off(s)) > 0; });
  const double r = gb_per_s(rounds, [&](std::size_t s) { ok &= pread(fd, dst.data() + s * kChunk, kChunk, off(s)) > 0; });
  const double p = gb_per_s(rounds, [&](std::size_t s) {
    ok &= fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off(s), kChunk) == 0;
    ok &= pwrite(fd, src.data(), kChunk, off(s)) > 0;
  });
  unsigned long sum = 0;
  for (std::size_t i = 0; i < dst.size(); i += 4096) sum += static_cast<unsigned char>(dst[i]);
  std::printf("memcpy_GBps=%.2f pwrite_existing_GBps=%.2f pread_GBps=%.2f punch_pwrite_GBps=%.2f ok=%d checksum=%lu\n",
              m, w, r, p, ok ? 1 : 0, sum);
  close(fd);
  return ok ? 0 : 1;
}
