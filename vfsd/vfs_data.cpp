// Vfs: the data path. Writes go into the pool (copy-on-write from the file's clean content,
// loaded from the upper copy or the source); reads come from the pool when it holds the
// chunk, else straight from the backing file; flush hands dirty blocks to pwrite on the
// upper copy (copying the file up first if it only exists in the source).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <shared_mutex>

#include "vfs.h"

namespace vfsd {

using hakmem::vfs::FileId;

namespace {
// pread until len bytes or EOF; zero-fills the rest. Returns 0 or -errno.
int pread_fill(int fd, char* dst, std::size_t len, std::uint64_t off) {
  std::size_t got = 0;
  while (got < len) {
    const ssize_t n = ::pread(fd, dst + got, len - got, static_cast<off_t>(off + got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got < len) std::memset(dst + got, 0, len - got);
  return 0;
}
}  // namespace

int Vfs::load_chunk(void* ctx, FileId, std::uint64_t chunk, std::byte* block, std::size_t size) {
  auto* f = static_cast<FileObj*>(ctx);
  const int fd = f->backing_fd();
  if (fd < 0) {
    std::memset(block, 0, size);
    return 0;
  }
  return pread_fill(fd, reinterpret_cast<char*>(block), size, chunk * size);
}

int Vfs::read(FileObj* f, char* buf, std::size_t size, off_t off) {
  ctr_.read.fetch_add(1, std::memory_order_relaxed);
  const std::uint64_t fsize = f->size.load(std::memory_order_acquire);
  const std::uint64_t pos = static_cast<std::uint64_t>(off);
  if (pos >= fsize) return 0;
  const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(size, fsize - pos));
  if (!f->written.load(std::memory_order_acquire)) {  // never written: the backing file only
    if (int e = pread_fill(f->backing_fd(), buf, n, pos); e < 0) return e;
  } else {
    const std::size_t cs = pool_.chunk_size();
    std::size_t done = 0;
    while (done < n) {
      const std::uint64_t p = pos + done;
      const std::size_t in = p % cs;
      const std::size_t k = std::min(cs - in, n - done);
      if (!pool_.read_at(f->id, p / cs, in, buf + done, k)) {
        if (int e = pread_fill(f->backing_fd(), buf + done, k, p); e < 0) return e;
      }
      done += k;
    }
  }
  ctr_.read_bytes.fetch_add(n, std::memory_order_relaxed);
  return static_cast<int>(n);
}

int Vfs::write(FileObj* f, const char* buf, std::size_t size, off_t off) {
  if (!writable()) return -EROFS;
  ctr_.write.fetch_add(1, std::memory_order_relaxed);
  const std::uint64_t pos = static_cast<std::uint64_t>(off);
  // Extend the size before the data lands, so a concurrent flush that sees the data also
  // sees the size (it reads the size under the block's shard lock).
  const std::uint64_t end = pos + size;
  std::uint64_t cur = f->size.load(std::memory_order_relaxed);
  while (end > cur && !f->size.compare_exchange_weak(cur, end, std::memory_order_acq_rel)) {
  }
  f->written.store(true, std::memory_order_release);
  const std::size_t cs = pool_.chunk_size();
  const hakmem::vfs::Loader loader{&Vfs::load_chunk, f};
  std::size_t done = 0, whole = 0;
  while (done < size) {
    const std::uint64_t p = pos + done;
    const std::size_t in = p % cs;
    const std::size_t k = std::min(cs - in, size - done);
    if (int e = pool_.write_at(f->id, p / cs, in, buf + done, k, loader); e < 0) {
      if (done == 0) return e;
      break;
    }
    if (k == cs) whole += k;
    done += k;
  }
  ctr_.write_bytes.fetch_add(done, std::memory_order_relaxed);
  const bool sequential = f->last_end.exchange(pos + done, std::memory_order_relaxed) == pos;
  after_write(f, whole != 0 || sequential ? done : 0);
  if (pool_.live_bytes() > hard_cap_) {
    // The flusher is not keeping up with the pool: save in the writer's thread, which also
    // holds back the kernel's writeback until the cache disk catches up.
    ctr_.sync_throttles.fetch_add(1, std::memory_order_relaxed);
    flush_file(f);
  }
  return static_cast<int>(done);
}

// Write-behind. A file being written as a stream (whole chunks, or each write starting where
// the last one ended: cp, downloads, build outputs, the kernel's writeback of a sequentially
// written file) is saved by the writing thread every --writebehind-mb of such data, and its
// saved blocks are recycled at once. The pool then holds a few MiB of warm blocks per stream
// instead of growing towards its budget on fresh memory (measured: a 1 GiB stream through a
// 1 GiB pool made the daemon populate 900 MB, and zeroing those new huge pages took 75 % of
// its CPU time; a background writer thread could not keep up and was starved by it). Saving
// in the writer's thread also paces the kernel's writeback to the cache disk. Data written
// in scattered pieces is left for close / pressure: saving it early would write whole chunks
// for a few bytes each, again and again.
// One writer saves while the others go on writing; once the stream is 4 x --writebehind-mb
// ahead of the saver, the others save too (waiting for the first on the file's flush lock),
// which bounds the pool's share of a stream that arrives faster than the disk takes it.
void Vfs::after_write(FileObj* f, std::size_t stream_bytes) {
  const std::uint64_t wb = opts_.writebehind_mb << 20;
  const std::uint64_t unsaved =
      stream_bytes ? f->stream_unsaved.fetch_add(stream_bytes, std::memory_order_relaxed) + stream_bytes : 0;
  if (wb != 0 && unsaved >= wb) {
    const bool first = !f->saving.exchange(true, std::memory_order_acquire);
    if (first || unsaved >= 4 * wb) {
      ctr_.writebehind_flushes.fetch_add(1, std::memory_order_relaxed);
      if (flush_file(f) == 0) pool_.evict_file(f->id);
      if (first) f->saving.store(false, std::memory_order_release);
    }
  }
  if (pool_.dirty_bytes() > high_water_ && !fl_kick_.exchange(true)) {
    std::lock_guard<std::mutex> g(fl_mu_);
    fl_cv_.notify_one();
  }
}

int Vfs::flush_file(FileObj* f) {
  if (f->unlinked.load() || !f->has_dirty()) return 0;
  if (f->upper_fd.load() < 0) {  // only in the source so far: copy it up first
    std::unique_lock<std::shared_mutex> lk(ns_mu_);
    if (f->unlinked.load()) return 0;
    if (f->upper_fd.load() < 0) {
      if (int e = ov_.copy_up(f->path); e < 0) {
        ctr_.flush_errors.fetch_add(1, std::memory_order_relaxed);
        return e;
      }
      if (f->upper_fd.load() < 0) return -EIO;
    }
  }
  std::lock_guard<std::mutex> g(f->flush_mu);
  f->stream_unsaved.store(0, std::memory_order_relaxed);
  const int fd = f->upper_fd.load();
  hakmem::vfs::PwriteTarget t{fd, pool_.chunk_size(), &f->size};
  int e = pool_.flush_file(f->id, hakmem::vfs::pwrite_sink(&t));
  ctr_.pool_flushes.fetch_add(1, std::memory_order_relaxed);
  ctr_.bytes_flushed.fetch_add(t.bytes_written, std::memory_order_relaxed);
  if (e == 0) {
    struct stat st;
    const auto size = static_cast<off_t>(f->size.load(std::memory_order_acquire));
    if (fstat(fd, &st) != 0) {
      e = -errno;
    } else if (st.st_size != size && ftruncate(fd, size) != 0) {
      e = -errno;
    }
  }
  if (e == 0 && f->has_times) futimens(fd, f->times);
  if (e != 0) ctr_.flush_errors.fetch_add(1, std::memory_order_relaxed);
  return e;
}

int Vfs::flush(FileObj* f) {
  ctr_.flush.fetch_add(1, std::memory_order_relaxed);
  if (!writable()) return 0;
  return flush_file(f);
}

int Vfs::fsync(FileObj* f, bool datasync) {
  ctr_.fsync.fetch_add(1, std::memory_order_relaxed);
  if (!writable()) return 0;
  if (int e = flush_file(f); e < 0) return e;
  const int fd = f->upper_fd.load();
  if (fd < 0) return 0;  // never written: nothing of ours to sync
  if ((datasync ? fdatasync(fd) : ::fsync(fd)) != 0) return -errno;
  return 0;
}

}  // namespace vfsd
