// The platform layer: every system call the allocator makes, behind one table of function
// pointers, so that tests can put a fake kernel under the whole allocator.
//
// Why it looks like this:
//  - One process-wide table (`Ops`), the real Linux calls by default (platform/linux_ops.cpp),
//    replaceable as a whole with install(). Nothing above this folder (superslab/,
//    unified_cache/, allocator/) calls the kernel or these libc wrappers directly;
//    tests/platform/check_no_syscalls.sh holds that line in ctest.
//  - Function pointers, not virtual functions or templates: the table is constant-initialised
//    (usable by the first malloc, before any constructor has run) and costs one relaxed load
//    and one indirect call. Every entry is a slow-path call already (the malloc/free fast
//    paths make no system call), so that is noise next to the call itself; the futex calls
//    are reached only under lock contention, the clock only by timers on slow paths.
//  - Semantics are the libc wrappers': the same arguments and results, errno set on failure.
//    A fake keeps them (return MAP_FAILED and set errno = ENOMEM, say), so the code above
//    handles a fake failure exactly as a real one.
//  - Nothing here allocates through malloc: the allocator itself sits on top of it.
//
// A fake starts from a copy of linux_ops() and replaces the entries it wants, with
// captureless lambdas whose state is static (see tests/platform/):
//   static platform::Ops fake = platform::linux_ops();
//   fake.mmap = [](void* a, size_t n, int p, int f, int fd, off_t o) -> void* { ... };
//   platform::ScopedOps use(fake);   // installed until the end of the scope
#pragma once

#include <pthread.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include <atomic>
#include <cstddef>

namespace hakmem::platform {

struct Ops {
  // ---- memory: mappings, advice, NUMA policy ----
  void* (*mmap)(void* addr, std::size_t len, int prot, int flags, int fd, off_t offset);
  int (*munmap)(void* addr, std::size_t len);
  void* (*mremap)(void* old_addr, std::size_t old_len, std::size_t new_len, int flags,
                  void* new_addr);
  int (*madvise)(void* addr, std::size_t len, int advice);
  int (*mprotect)(void* addr, std::size_t len, int prot);
  // The raw syscalls (no libnuma: it allocates); the result is the syscall's, 0 or -1.
  long (*mbind)(void* addr, std::size_t len, int mode, const unsigned long* nodemask,
                unsigned long maxnode, unsigned flags);
  long (*get_mempolicy)(int* mode, unsigned long* nodemask, unsigned long maxnode, void* addr,
                        unsigned long flags);

  // ---- waiting, time, scheduling ----
  // FUTEX_WAIT_PRIVATE while *word == expected, FUTEX_WAKE_PRIVATE of up to `count` waiters.
  long (*futex_wait)(std::atomic<int>* word, int expected);
  long (*futex_wake)(std::atomic<int>* word, int count);
  int (*clock_gettime)(clockid_t clock, struct timespec* out);
  int (*clock_nanosleep)(clockid_t clock, int flags, const struct timespec* request,
                         struct timespec* remain);
  int (*sched_yield)();
  int (*sched_getcpu)();
  int (*getrusage)(int who, struct rusage* out);
  pid_t (*getpid)();
  // getrandom(2) without flags: secure mode's secrets (the raw syscall; bytes or -1).
  long (*getrandom)(void* buf, std::size_t len);
  pid_t (*gettid)();  // names thread heaps in the profile's memory breakdown

  // ---- threads: creation, the exit hook (TLS key), fork handlers ----
  int (*thread_create)(pthread_t* out, const pthread_attr_t* attr, void* (*fn)(void*),
                       void* arg);
  int (*tls_key_create)(pthread_key_t* key, void (*destructor)(void*));
  int (*tls_set)(pthread_key_t key, const void* value);
  int (*atfork)(void (*prepare)(), void (*parent)(), void (*child)());

  // ---- files: /proc and /sys reads, the profile records, messages on stderr ----
  int (*open)(const char* path, int flags, mode_t mode);
  ssize_t (*read)(int fd, void* buf, std::size_t len);
  ssize_t (*write)(int fd, const void* buf, std::size_t len);
  int (*close)(int fd);
  int (*unlink)(const char* path);
  int (*ftruncate)(int fd, off_t len);
  int (*fchmod)(int fd, mode_t mode);
  int (*fstat)(int fd, struct stat* out);
  int (*stat)(const char* path, struct stat* out);
  int (*flock)(int fd, int operation);
  ssize_t (*readlink)(const char* path, char* buf, std::size_t len);
  // Directory scans (the profile records' reaper, allocator/profile_reap.cpp).
  int (*openat)(int dirfd, const char* path, int flags, mode_t mode);
  ssize_t (*pread)(int fd, void* buf, std::size_t len, off_t offset);
  int (*unlinkat)(int dirfd, const char* path, int flags);
  long (*getdents64)(int fd, void* buf, std::size_t len);  // the raw syscall: no malloc
  int (*kill)(pid_t pid, int sig);
};

// The real calls. A fake copies this and overrides some entries.
const Ops& linux_ops();

namespace detail {
extern std::atomic<const Ops*> g_current;  // constant-initialised to &linux_ops()
}

// The table in use. Acquire pairs with install(): a fake's entries are seen filled.
inline const Ops& ops() { return *detail::g_current.load(std::memory_order_acquire); }

// Makes `next` (which must outlive its use; nullptr means linux_ops()) the table of the whole
// process, and returns the previous one. For tests: threads already inside a call finish it
// with the table they loaded.
const Ops* install(const Ops* next);

// install() for a scope, restoring the previous table at its end.
class ScopedOps {
 public:
  explicit ScopedOps(const Ops& fake) : previous_(install(&fake)) {}
  ~ScopedOps() { install(previous_); }
  ScopedOps(const ScopedOps&) = delete;
  ScopedOps& operator=(const ScopedOps&) = delete;

 private:
  const Ops* previous_;
};

}  // namespace hakmem::platform
