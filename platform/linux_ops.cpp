// The default platform table: the Linux system calls themselves (see platform.hpp).
// Thin adapters only where the libc signature differs from the table's (variadic open,
// syscalls without a glibc wrapper); everything else is the libc function's address.
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "platform/platform.hpp"

namespace hakmem::platform {
namespace {

void* linux_mremap(void* old_addr, std::size_t old_len, std::size_t new_len, int flags,
                   void* new_addr) {
  return ::mremap(old_addr, old_len, new_len, flags, new_addr);  // variadic in glibc
}

long linux_mbind(void* addr, std::size_t len, int mode, const unsigned long* nodemask,
                 unsigned long maxnode, unsigned flags) {
  return ::syscall(SYS_mbind, addr, len, mode, nodemask, maxnode, flags);
}

long linux_get_mempolicy(int* mode, unsigned long* nodemask, unsigned long maxnode, void* addr,
                         unsigned long flags) {
  return ::syscall(SYS_get_mempolicy, mode, nodemask, maxnode, addr, flags);
}

// std::atomic<int> is one int (static_assert below): the futex word is the atomic itself.
long linux_futex_wait(std::atomic<int>* word, int expected) {
  return ::syscall(SYS_futex, reinterpret_cast<int*>(word), FUTEX_WAIT_PRIVATE, expected,
                   nullptr, nullptr, 0);
}

long linux_futex_wake(std::atomic<int>* word, int count) {
  return ::syscall(SYS_futex, reinterpret_cast<int*>(word), FUTEX_WAKE_PRIVATE, count, nullptr,
                   nullptr, 0);
}
static_assert(sizeof(std::atomic<int>) == sizeof(int) && std::atomic<int>::is_always_lock_free);

int linux_open(const char* path, int flags, mode_t mode) { return ::open(path, flags, mode); }
int linux_openat(int dirfd, const char* path, int flags, mode_t mode) {
  return ::openat(dirfd, path, flags, mode);
}
long linux_getrandom(void* buf, std::size_t len) { return ::syscall(SYS_getrandom, buf, len, 0); }

long linux_getdents64(int fd, void* buf, std::size_t len) {
  return ::syscall(SYS_getdents64, fd, buf, len);
}

constexpr Ops kLinuxOps{
    .mmap = ::mmap,
    .munmap = ::munmap,
    .mremap = linux_mremap,
    .madvise = ::madvise,
    .mprotect = ::mprotect,
    .mbind = linux_mbind,
    .get_mempolicy = linux_get_mempolicy,
    .futex_wait = linux_futex_wait,
    .futex_wake = linux_futex_wake,
    .clock_gettime = ::clock_gettime,
    .clock_nanosleep = ::clock_nanosleep,
    .sched_yield = ::sched_yield,
    .sched_getcpu = ::sched_getcpu,
    .getrusage = ::getrusage,
    .getpid = ::getpid,
    .getrandom = linux_getrandom,
    .gettid = ::gettid,
    .thread_create = ::pthread_create,
    .tls_key_create = ::pthread_key_create,
    .tls_set = ::pthread_setspecific,
    .atfork = ::pthread_atfork,
    .open = linux_open,
    .read = ::read,
    .write = ::write,
    .close = ::close,
    .unlink = ::unlink,
    .ftruncate = ::ftruncate,
    .fchmod = ::fchmod,
    .fstat = ::fstat,
    .stat = ::stat,
    .flock = ::flock,
    .readlink = ::readlink,
    .openat = linux_openat,
    .pread = ::pread,
    .unlinkat = ::unlinkat,
    .getdents64 = linux_getdents64,
    .kill = ::kill,
};

}  // namespace

namespace detail {
// constinit: the first malloc may come before any constructor of this library has run.
constinit std::atomic<const Ops*> g_current{&kLinuxOps};
}  // namespace detail

const Ops& linux_ops() { return kLinuxOps; }

const Ops* install(const Ops* next) {
  return detail::g_current.exchange(next ? next : &kLinuxOps, std::memory_order_acq_rel);
}

}  // namespace hakmem::platform
