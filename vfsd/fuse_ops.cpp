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

// With nullpath_ok, readdir gets no path: opendir keeps it in the handle.
int op_opendir(const char* path, fuse_file_info* fi) {
  fi->fh = reinterpret_cast<uintptr_t>(new std::string(p(path)));
  fi->cache_readdir = 0;
  return 0;
}

int op_releasedir(const char*, fuse_file_info* fi) {
  delete reinterpret_cast<std::string*>(static_cast<uintptr_t>(fi->fh));
  return 0;
}

int op_readdir(const char* path, void* buf, fuse_fill_dir_t filler, off_t, fuse_file_info* fi,
               fuse_readdir_flags) {
  std::vector<DirEntry> ents;
  const std::string dir = path ? std::string(path) : *reinterpret_cast<std::string*>(static_cast<uintptr_t>(fi->fh));
  if (int e = vfs().readdir(dir, &ents); e < 0) return e;
  filler(buf, ".", nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  filler(buf, "..", nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  for (const DirEntry& d : ents) {
    struct stat st {};
    st.st_mode = d.type;
    if (filler(buf, d.name.c_str(), &st, 0, static_cast<fuse_fill_dir_flags>(0))) break;
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
