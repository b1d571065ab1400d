// The calling process's heap record, mapped read-only: what hakmem-stat heap reads, seen
// from inside the tests that drive the sampling path through libhakmem.a.
#pragma once

// A call site the optimiser may neither clone, merge nor inline (the heap tests name sites
// by their functions): GCC's noipa; clang has no noipa, and optnone implies no IPA on it.
#if defined(__clang__)
#define HAKT_NOIPA __attribute__((noinline, optnone))
#else
#define HAKT_NOIPA __attribute__((noipa))
#endif

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "hakmem/heap_profile_record.h"

namespace hakt {

// HAKMEM_PROFILE_PATH (with %p) of the test's environment, and the ".heap" beside it.
inline std::string heap_path() {
  std::string spec = std::getenv("HAKMEM_PROFILE_PATH");
  auto at = spec.find("%p");
  spec.replace(at, 2, std::to_string(::getpid()));
  return spec + HAKMEM_HEAP_SUFFIX;
}

struct Record {
  const hakmem_heap_record* r = nullptr;
  Record() {
    int fd = ::open(heap_path().c_str(), O_RDONLY);
    if (fd < 0) return;
    void* m = ::mmap(nullptr, sizeof(hakmem_heap_record), PROT_READ, MAP_SHARED, fd, 0);
    ::close(fd);
    if (m != MAP_FAILED) r = static_cast<const hakmem_heap_record*>(m);
  }
  ~Record() {
    if (r) ::munmap(const_cast<hakmem_heap_record*>(r), sizeof(*r));
  }
  std::uint64_t get(const std::uint64_t& f) const {
    return std::atomic_ref<std::uint64_t>(const_cast<std::uint64_t&>(f)).load();
  }
};

}  // namespace hakt
