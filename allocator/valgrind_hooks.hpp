// memcheck client requests for the valgrind build of the malloc exports
// (malloc_export_valgrind.cpp, -DHAKMEM_VALGRIND=ON; issue 14, item 6). Not included by
// anything else: the default build's fast paths are unchanged.
//
// memcheck does not see hakmem's blocks (they are carved from its own mappings), so each
// export tells it: a block handed out is MALLOCLIKE (undefined contents, or defined for
// calloc), a block freed is FREELIKE (no access: a later read or write is reported as a use
// after free; an unfreed block at exit as a leak; a second free as an invalid free). The
// allocator itself reads and writes freed blocks (free tags, free-list links, realloc's
// copy), so its own work runs with this thread's error reporting disabled (Quiet).
#pragma once

#include <valgrind/memcheck.h>

#include <cstddef>

namespace hakmem::vg {

// Error reporting off for this thread while the allocator works on blocks it owns.
struct Quiet {
  Quiet() { VALGRIND_DISABLE_ERROR_REPORTING; }
  ~Quiet() { VALGRIND_ENABLE_ERROR_REPORTING; }
  Quiet(const Quiet&) = delete;
  Quiet& operator=(const Quiet&) = delete;
};

inline void* allocated(void* p, std::size_t n, bool zeroed) {
  if (p) VALGRIND_MALLOCLIKE_BLOCK(p, n, 0, zeroed ? 1 : 0);
  return p;
}

inline void freeing(void* p) {
  if (p) VALGRIND_FREELIKE_BLOCK(p, 0);
}

// realloc moved or kept the block: the old one is freed, the new one holds `kept` defined
// bytes (the copy; memcheck cannot tell which of them the program had initialised).
inline void* reallocated(void* old, void* p, std::size_t n, std::size_t kept) {
  if (!p) return p;
  freeing(old);
  VALGRIND_MALLOCLIKE_BLOCK(p, n, 0, 0);
  if (kept) VALGRIND_MAKE_MEM_DEFINED(p, kept < n ? kept : n);
  return p;
}

}  // namespace hakmem::vg
