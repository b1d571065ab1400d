// Shared by the entry-point files (api.cpp, malloc_export.cpp, miss.cpp, stats.cpp).
#pragma once

#include <cstddef>

#include "allocator/fast_path.hpp"

namespace hakmem {

inline constexpr std::size_t os_page() { return 4096; }

// Every allocation beyond the slab classes, whatever its entry point: a span or a huge
// mapping. Counts one call of `e` (never from a bin) and its bytes. *fresh: the memory is
// known to be zero.
HAK_NOINLINE void* alloc_beyond_slabs(std::size_t n, std::size_t align, bool* fresh, Entry e);

// The aligned calls' allocation (align a power of two), counted as e: a bin of a class whose
// size the alignment divides, or beyond the slab classes.
template <Entry E>
HAK_ALWAYS_INLINE void* aligned_alloc_impl(std::size_t align, std::size_t n) {
  // A zero-byte request with an alignment beyond the slab classes is a span of one page
  // (span_alloc refuses size 0): found by the fuzzer (issue 14), posix_memalign(64 KiB, 0)
  // gave ENOMEM.
  if (n == 0) n = 1;
  if (n > kSmallMax || align > kSmallMax) {
    bool fresh;
    return alloc_beyond_slabs(n, align < 16 ? 16 : align, &fresh, E);
  }
  if (align <= 16) return malloc_fast<E>(n);
  return alloc_from_bin<E>(bin_offset(class_of_aligned(n, align)));
}

void* realloc_impl(void* p, std::size_t n);
// Frees a span or huge block, or reports an invalid pointer (then false). Uncounted: the
// caller counts its call.
bool free_beyond(void* p);
std::size_t usable_size(const void* p);

}  // namespace hakmem
