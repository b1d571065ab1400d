// Process-wide counters of the OS layer. Slow paths only, so relaxed atomics are fine.
#pragma once

#include <atomic>
#include <cstdint>

namespace hakmem::os {

struct OsStats {
  std::atomic<std::uint64_t> mmap_calls{0};
  std::atomic<std::uint64_t> munmap_calls{0};
  std::atomic<std::uint64_t> madvise_calls{0};
  std::atomic<std::uint64_t> bytes_mapped{0};
  std::atomic<std::uint64_t> bytes_populated{0};
  std::atomic<std::uint64_t> bytes_purged{0};       // MADV_DONTNEED
  std::atomic<std::uint64_t> bytes_purged_lazy{0};  // MADV_FREE
  std::atomic<std::uint64_t> hugepages_thp{0};
  std::atomic<std::uint64_t> hugepages_hugetlb{0};
};

extern OsStats g_os_stats;

}  // namespace hakmem::os
