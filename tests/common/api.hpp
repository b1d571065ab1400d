// The allocator API under test. The api tests compile twice:
//  - HAKT_OVERRIDE=0: against libhakmem.a through the prefixed API (hak_malloc, ...);
//  - HAKT_OVERRIDE=1: against libhakmem.so through the standard names (malloc, ...), which
//    the library replaces for the whole process.
// The checks are the same, so both products are held to one contract.
#pragma once

#include <malloc.h>
#include <stdlib.h>

#include <cstddef>

#include <gtest/gtest.h>

#include "hakmem/hakmem.h"

#ifndef HAKT_OVERRIDE
#define HAKT_OVERRIDE 0
#endif

#if HAKT_OVERRIDE
// C23 names, not declared by glibc 2.36's headers; libhakmem.so defines them.
extern "C" {
void free_sized(void* ptr, size_t size);
void free_aligned_sized(void* ptr, size_t alignment, size_t size);
}
#endif

namespace api {

#if HAKT_OVERRIDE
inline constexpr const char* kName = "override";
inline void* malloc(std::size_t n) { return ::malloc(n); }
inline void free(void* p) { ::free(p); }
inline void* calloc(std::size_t c, std::size_t n) { return ::calloc(c, n); }
inline void* realloc(void* p, std::size_t n) { return ::realloc(p, n); }
inline void* reallocarray(void* p, std::size_t c, std::size_t n) { return ::reallocarray(p, c, n); }
inline int posix_memalign(void** out, std::size_t a, std::size_t n) { return ::posix_memalign(out, a, n); }
inline void* aligned_alloc(std::size_t a, std::size_t n) { return ::aligned_alloc(a, n); }
inline void* memalign(std::size_t a, std::size_t n) { return ::memalign(a, n); }
inline void* valloc(std::size_t n) { return ::valloc(n); }
inline void* pvalloc(std::size_t n) { return ::pvalloc(n); }
inline std::size_t usable_size(void* p) { return ::malloc_usable_size(p); }
inline void free_sized(void* p, std::size_t n) { ::free_sized(p, n); }
inline void free_aligned_sized(void* p, std::size_t a, std::size_t n) { ::free_aligned_sized(p, a, n); }
inline int malloc_trim(std::size_t pad) { return ::malloc_trim(pad); }
#else
inline constexpr const char* kName = "static";
inline void* malloc(std::size_t n) { return hak_malloc(n); }
inline void free(void* p) { hak_free(p); }
inline void* calloc(std::size_t c, std::size_t n) { return hak_calloc(c, n); }
inline void* realloc(void* p, std::size_t n) { return hak_realloc(p, n); }
inline void* reallocarray(void* p, std::size_t c, std::size_t n) { return hak_reallocarray(p, c, n); }
inline int posix_memalign(void** out, std::size_t a, std::size_t n) { return hak_posix_memalign(out, a, n); }
inline void* aligned_alloc(std::size_t a, std::size_t n) { return hak_aligned_alloc(a, n); }
inline void* memalign(std::size_t a, std::size_t n) { return hak_memalign(a, n); }
inline void* valloc(std::size_t n) { return hak_valloc(n); }
inline void* pvalloc(std::size_t n) { return hak_pvalloc(n); }
inline std::size_t usable_size(void* p) { return hak_malloc_usable_size(p); }
inline void free_sized(void* p, std::size_t n) { hak_free_sized(p, n); }
inline void free_aligned_sized(void* p, std::size_t a, std::size_t n) { hak_free_aligned_sized(p, a, n); }
inline int malloc_trim(std::size_t pad) { return hak_malloc_trim(pad); }
#endif

inline bool owns(const void* p) { return hak_owns(p) != 0; }

inline hakmem_stats stats() {
  hakmem_stats s{};
  hakmem_stats_get(&s);
  return s;
}

// Declared at the top of a test in which every free is valid: at the end of the scope,
// the allocator must not have reported a single invalid or double free.
struct NoBadFrees {
  hakmem_stats before = stats();
  ~NoBadFrees() {
    hakmem_stats after = stats();
    EXPECT_EQ(after.invalid_frees - before.invalid_frees, 0u)
        << "valid frees were reported as invalid";
    EXPECT_EQ(after.double_frees - before.double_frees, 0u)
        << "valid frees were reported as double frees";
  }
};

}  // namespace api
