#include "superslab/os.hpp"

#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "platform/clock.hpp"
#include "platform/file_read.hpp"
#include "platform/platform.hpp"
#include "superslab/os_stats.hpp"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

namespace hakmem::os {
namespace {

// The raw calls come from the platform table; this file adds the policy and the counts.
const platform::Ops& sys() { return platform::ops(); }

std::atomic<int> g_huge{static_cast<int>(HugePolicy::kAuto)};
std::atomic<int> g_populate{static_cast<int>(PopulatePolicy::kAuto)};
// Once MADV_POPULATE_WRITE fails with EINVAL the kernel lacks it: stop asking.
std::atomic<bool> g_no_populate_write{false};
std::atomic<int> g_thp_mode{-2};

}  // namespace

OsStats g_os_stats;

void set_policy(const Policy& p) {
  g_huge.store(static_cast<int>(p.huge), std::memory_order_relaxed);
  g_populate.store(static_cast<int>(p.populate), std::memory_order_relaxed);
}

Policy policy() {
  return Policy{static_cast<HugePolicy>(g_huge.load(std::memory_order_relaxed)),
                static_cast<PopulatePolicy>(g_populate.load(std::memory_order_relaxed))};
}

void* map(std::size_t size) {
  void* p = sys().mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  g_os_stats.mmap_calls.fetch_add(1, std::memory_order_relaxed);
  g_os_stats.bytes_mapped.fetch_add(size, std::memory_order_relaxed);
  return p;
}

static void* trim_to_alignment(char* raw, std::size_t raw_size, std::size_t size,
                               std::size_t align) {
  std::uintptr_t start = (reinterpret_cast<std::uintptr_t>(raw) + align - 1) & ~(align - 1);
  char* aligned = reinterpret_cast<char*>(start);
  std::size_t head = static_cast<std::size_t>(aligned - raw);
  std::size_t tail = raw_size - head - size;
  if (head) sys().munmap(raw, head);
  if (tail) sys().munmap(aligned + size, tail);
  return aligned;
}

void* map_aligned(std::size_t size, std::size_t align, bool try_hugetlb, bool* got_hugetlb) {
  if (got_hugetlb) *got_hugetlb = false;
  if (try_hugetlb && size % kHugePageSize == 0) {
    // hugetlbfs mappings are naturally 2 MiB aligned; fails at once when none are reserved.
    void* p = sys().mmap(nullptr, size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
    if (p != MAP_FAILED) {
      if ((reinterpret_cast<std::uintptr_t>(p) & (align - 1)) == 0) {
        g_os_stats.mmap_calls.fetch_add(1, std::memory_order_relaxed);
        g_os_stats.bytes_mapped.fetch_add(size, std::memory_order_relaxed);
        if (got_hugetlb) *got_hugetlb = true;
        return p;
      }
      sys().munmap(p, size);
    }
  }
  std::size_t raw_size = size + align;
  if (raw_size < size) return nullptr;
  void* raw = sys().mmap(nullptr, raw_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                     -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  g_os_stats.mmap_calls.fetch_add(1, std::memory_order_relaxed);
  g_os_stats.bytes_mapped.fetch_add(size, std::memory_order_relaxed);
  return trim_to_alignment(static_cast<char*>(raw), raw_size, size, align);
}

void* reserve_aligned(std::size_t size, std::size_t align) {
  std::size_t raw_size = size + align;
  if (raw_size < size) return nullptr;
  void* raw = sys().mmap(nullptr, raw_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                     -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  return trim_to_alignment(static_cast<char*>(raw), raw_size, size, align);
}

void unmap(void* p, std::size_t size) {
  if (sys().munmap(p, size) == 0) {
    g_os_stats.munmap_calls.fetch_add(1, std::memory_order_relaxed);
    g_os_stats.bytes_mapped.fetch_sub(size, std::memory_order_relaxed);
  }
}

void release_reservation(void* p, std::size_t size) { sys().munmap(p, size); }

void* remap_into(void* old_base, std::size_t old_size, std::size_t new_size, void* target) {
  void* moved = sys().mremap(old_base, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, target);
  if (moved == MAP_FAILED) return nullptr;
  // The old range is gone and the reservation at target is replaced: one mapping grew (or
  // shrank) by the difference.
  if (new_size >= old_size) {
    g_os_stats.bytes_mapped.fetch_add(new_size - old_size, std::memory_order_relaxed);
  } else {
    g_os_stats.bytes_mapped.fetch_sub(old_size - new_size, std::memory_order_relaxed);
  }
  return moved;
}

std::size_t populate(void* p, std::size_t len) {
  if (len == 0) return 0;
  if (!g_no_populate_write.load(std::memory_order_relaxed)) {
    g_os_stats.madvise_calls.fetch_add(1, std::memory_order_relaxed);
    if (sys().madvise(p, len, MADV_POPULATE_WRITE) == 0) {
      g_os_stats.bytes_populated.fetch_add(len, std::memory_order_relaxed);
      return len;
    }
    if (errno == EINVAL) g_no_populate_write.store(true, std::memory_order_relaxed);
    // ENOMEM and friends: fall through and let the touch fault (or fail) page by page.
  }
  // Old kernel: write one byte per page. The memory is fresh (zero) or ours to clobber.
  volatile char* c = static_cast<volatile char*>(p);
  for (std::size_t off = 0; off < len; off += kPageSize) c[off] = c[off];
  g_os_stats.bytes_populated.fetch_add(len, std::memory_order_relaxed);
  return len;
}

bool advise_hugepage(void* p, std::size_t len) {
  g_os_stats.madvise_calls.fetch_add(1, std::memory_order_relaxed);
  return sys().madvise(p, len, MADV_HUGEPAGE) == 0;
}

bool purge_lazy(void* p, std::size_t len) {
  g_os_stats.madvise_calls.fetch_add(1, std::memory_order_relaxed);
  if (sys().madvise(p, len, MADV_FREE) == 0) {
    g_os_stats.bytes_purged_lazy.fetch_add(len, std::memory_order_relaxed);
    return true;
  }
  return false;
}

bool purge_now(void* p, std::size_t len) {
  g_os_stats.madvise_calls.fetch_add(1, std::memory_order_relaxed);
  if (sys().madvise(p, len, MADV_DONTNEED) == 0) {
    g_os_stats.bytes_purged.fetch_add(len, std::memory_order_relaxed);
    return true;
  }
  return false;
}

bool protect_none(void* p, std::size_t len) { return sys().mprotect(p, len, PROT_NONE) == 0; }
bool protect_read_write(void* p, std::size_t len) {
  return sys().mprotect(p, len, PROT_READ | PROT_WRITE) == 0;
}

int thp_mode() {
  int cached = g_thp_mode.load(std::memory_order_relaxed);
  if (cached != -2) return cached;
  int mode = -1;
  char buf[128];
  if (platform::read_small_file("/sys/kernel/mm/transparent_hugepage/enabled", buf,
                                sizeof(buf)) > 0) {
    if (std::strstr(buf, "[always]")) mode = 0;
    else if (std::strstr(buf, "[madvise]")) mode = 1;
    else if (std::strstr(buf, "[never]")) mode = 2;
  }
  g_thp_mode.store(mode, std::memory_order_relaxed);
  return mode;
}

std::uint64_t minor_faults() {
  struct rusage ru;
  if (sys().getrusage(RUSAGE_SELF, &ru) != 0) return 0;
  return static_cast<std::uint64_t>(ru.ru_minflt);
}

void yield_cpu() { sys().sched_yield(); }

std::uint64_t now_ns() { return platform::clock_ns(CLOCK_MONOTONIC); }

}  // namespace hakmem::os
