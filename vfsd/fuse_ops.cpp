// libfuse callbacks: unpack FUSE's arguments, call Vfs, return its -errno.
//
// Requests are handled synchronously by libfuse's fixed pool of worker threads
// (fuse_loop_mt with max_threads = max_idle_threads = --threads): no async executor.
#include "fuse_ops.h"

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "vfs.h"
#include "wake_latency.h"

namespace vfsd {

namespace {

// Every operation starts here, so this is also where the wake-up latency hold learns that
// requests are flowing.
Vfs& vfs() {
  Daemon* d = static_cast<Daemon*>(fuse_get_context()->private_data);
  d->wake.note();
  return d->vfs;
}

FilePtr* handle(const fuse_file_info* fi) {
  return fi ? reinterpret_cast<FilePtr*>(static_cast<uintptr_t>(fi->fh)) : nullptr;
}
FileObj* obj(const fuse_file_info* fi) {
  FilePtr* h = handle(fi);
  return h ? h->get() : nullptr;
}
std::string p(const char* path) { return path ? path : ""; }

void* op_init(fuse_conn_info* conn, fuse_config* cfg) {
  Vfs& v = vfs();
  const Options& o = v.options();
  cfg->use_ino = 0;          // libfuse's stable node ids: upper and lower inode numbers collide
  cfg->nullpath_ok = 1;      // operations on open files need only the handle
  cfg->hard_remove = 1;      // unlink really unlinks (no .fuse_hidden files)
  cfg->kernel_cache = 1;     // all changes pass through this mount: keep the page cache
  cfg->entry_timeout = o.attr_timeout;
  cfg->attr_timeout = o.attr_timeout;
  cfg->negative_timeout = o.attr_timeout;
  if (o.writable && o.writeback_cache && (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
    conn->want |= FUSE_CAP_WRITEBACK_CACHE;
  // Every change passes through this mount, so cached pages never go stale behind the
  // kernel's back: without auto_inval_data a read() does not re-check the attributes.
  conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
  conn->max_background = 64;
  conn->congestion_threshold = 48;
  v.start();
  Daemon* d = static_cast<Daemon*>(fuse_get_context()->private_data);
  d->wake.start();
  return d;
}

void op_destroy(void* data) { static_cast<Daemon*>(data)->vfs.shutdown(); }

int op_getattr(const char* path, struct stat* st, fuse_file_info* fi) { return vfs().getattr(p(path), st, obj(fi)); }

int op_readlink(const char* path, char* buf, size_t size) { return vfs().readlink(p(path), buf, size); }

int op_mkdir(const char* path, mode_t mode) {
  const fuse_context* c = fuse_get_context();
  return vfs().mkdir(p(path), mode, c->uid, c->gid);
}

int op_unlink(const char* path) { return vfs().unlink(p(path)); }
int op_rmdir(const char* path) { return vfs().rmdir(p(path)); }

int op_symlink(const char* target, const char* path) {
  const fuse_context* c = fuse_get_context();
  return vfs().symlink(target, p(path), c->uid, c->gid);
}

int op_rename(const char* from, const char* to, unsigned int flags) { return vfs().rename(p(from), p(to), flags); }
int op_chmod(const char* path, mode_t mode, fuse_file_info* fi) { return vfs().chmod(p(path), mode, obj(fi)); }
int op_chown(const char* path, uid_t uid, gid_t gid, fuse_file_info* fi) { return vfs().chown(p(path), uid, gid, obj(fi)); }
int op_truncate(const char* path, off_t size, fuse_file_info* fi) { return vfs().truncate(p(path), size, obj(fi)); }
int op_utimens(const char* path, const timespec tv[2], fuse_file_info* fi) { return vfs().utimens(p(path), tv, obj(fi)); }

int op_open(const char* path, fuse_file_info* fi) {
  FilePtr f;
  if (int e = vfs().open(p(path), fi->flags, &f); e < 0) return e;
  fi->fh = reinterpret_cast<uintptr_t>(new FilePtr(std::move(f)));
  fi->keep_cache = 1;
  return 0;
}

int op_create(const char* path, mode_t mode, fuse_file_info* fi) {
  const fuse_context* c = fuse_get_context();
  FilePtr f;
  if (int e = vfs().create(p(path), mode, fi->flags, c->uid, c->gid, &f); e < 0) return e;
  fi->fh = reinterpret_cast<uintptr_t>(new FilePtr(std::move(f)));
  fi->keep_cache = 1;
  return 0;
}

int op_read(const char*, char* buf, size_t size, off_t off, fuse_file_info* fi) {
  return vfs().read(obj(fi), buf, size, off);
}

int op_write(const char*, const char* buf, size_t size, off_t off, fuse_file_info* fi) {
  return vfs().write(obj(fi), buf, size, off);
}

int op_statfs(const char*, struct statvfs* st) { return vfs().statfs(st); }
int op_access(const char* path, int mask) { return vfs().access(p(path), mask); }
int op_flush(const char*, fuse_file_info* fi) { return vfs().flush(obj(fi)); }

int op_release(const char*, fuse_file_info* fi) {
  FilePtr* h = handle(fi);
  vfs().release(*h);
  delete h;
  return 0;
}

int op_fsync(const char*, int datasync, fuse_file_info* fi) { return vfs().fsync(obj(fi), datasync != 0); }

// An open directory: its path (with nullpath_ok, readdir gets none) and the listing taken at
// offset 0, which later chunks of the same pass continue from (offsets are indices into it).
struct DirHandle {
  std::string path;
  std::vector<DirEntry> entries;  // without "." and ".."
  bool listed = false;
};

DirHandle* dir_handle(const fuse_file_info* fi) {
  return reinterpret_cast<DirHandle*>(static_cast<uintptr_t>(fi->fh));
}

int op_opendir(const char* path, fuse_file_info* fi) {
  fi->fh = reinterpret_cast<uintptr_t>(new DirHandle{p(path), {}});
  fi->cache_readdir = 0;
  return 0;
}

int op_releasedir(const char*, fuse_file_info* fi) {
  delete dir_handle(fi);
  return 0;
}

// Entries are handed to libfuse with their offsets, one chunk per request. For READDIRPLUS
// (the kernel asks for it on a directory's first read) each entry carries its attributes:
// libfuse then registers the name and the kernel instantiates it, so the stat() or open()
// that usually follows a listing (ls -l, cp -r, find, git) needs no LOOKUP round trip.
// (libfuse 3.14 drops the attributes when the whole listing is handed over at offset 0.)
int op_readdir(const char* path, void* buf, fuse_fill_dir_t filler, off_t off, fuse_file_info* fi,
               fuse_readdir_flags flags) {
  DirHandle* h = dir_handle(fi);
  if (path != nullptr) h->path = path;  // renamed since opendir: libfuse knows the new name
  if (off == 0 || !h->listed) {  // a new pass (or a seek before the first read)
    h->entries.clear();
    if (int e = vfs().readdir(h->path, &h->entries); e < 0) return e;
    h->listed = true;
  }
  const bool plus = (flags & FUSE_READDIR_PLUS) != 0;
  const std::size_t total = h->entries.size() + 2;
  for (std::size_t i = static_cast<std::size_t>(off); i < total; ++i) {
    const char* name = i == 0 ? "." : i == 1 ? ".." : h->entries[i - 2].name.c_str();
    struct stat st {};
    auto fill = static_cast<fuse_fill_dir_flags>(0);
    if (i < 2) {
      st.st_mode = S_IFDIR;
    } else if (plus && vfs().getattr(join(h->path, name), &st, nullptr) == 0) {
      fill = FUSE_FILL_DIR_PLUS;
    } else {
      st.st_mode = h->entries[i - 2].type;  // plain READDIR, or the entry vanished meanwhile
    }
    if (filler(buf, name, &st, static_cast<off_t>(i + 1), fill)) break;
  }
  return 0;
}

int op_fsyncdir(const char*, int, fuse_file_info*) { return 0; }

}  // namespace

fuse_operations make_fuse_operations(const Options& o) {
  fuse_operations ops{};
  ops.init = op_init;
  ops.destroy = op_destroy;
  ops.getattr = op_getattr;
  ops.readlink = op_readlink;
  ops.mkdir = op_mkdir;
  ops.unlink = op_unlink;
  ops.rmdir = op_rmdir;
  ops.symlink = op_symlink;
  ops.rename = op_rename;
  ops.chmod = op_chmod;
  ops.chown = op_chown;
  ops.truncate = op_truncate;
  ops.utimens = op_utimens;
  ops.open = op_open;
  ops.create = op_create;
  ops.read = op_read;
  ops.write = op_write;
  ops.statfs = op_statfs;
  // Without a flush handler the kernel learns (from the first ENOSYS) to send no FLUSH at
  // all: one synchronous round trip less per close(). Data is then saved at release, which
  // the closer does not wait for (see README: --save-on-close).
  if (o.writable && o.save_on_close) ops.flush = op_flush;
  ops.access = op_access;
  ops.release = op_release;
  ops.fsync = op_fsync;
  ops.opendir = op_opendir;
  ops.releasedir = op_releasedir;
  ops.readdir = op_readdir;
  ops.fsyncdir = op_fsyncdir;
  return ops;
}

}  // namespace vfsd
