// The standard allocation symbols, exported by libhakmem.so (and libhakmem_override.a for
// static linking) so that hakmem replaces the process's malloc. Each one inlines the fast
// path; operator new adds the new-handler loop and std::bad_alloc.
#include <cerrno>
#include <new>

#include "allocator/api_internal.hpp"
#include "hakmem/hakmem.h"

#define HAK_EXPORT extern "C" __attribute__((visibility("default")))

HAK_EXPORT void* malloc(std::size_t size) { return hakmem::fast_malloc(size); }
HAK_EXPORT void free(void* p) { hakmem::fast_free(p); }
HAK_EXPORT void cfree(void* p) { hakmem::fast_free(p); }
HAK_EXPORT void* calloc(std::size_t n, std::size_t size) { return hak_calloc(n, size); }
HAK_EXPORT void* realloc(void* p, std::size_t size) { return hak_realloc(p, size); }
HAK_EXPORT void* reallocarray(void* p, std::size_t n, std::size_t size) {
  return hak_reallocarray(p, n, size);
}
HAK_EXPORT int posix_memalign(void** out, std::size_t align, std::size_t size) {
  return hak_posix_memalign(out, align, size);
}
HAK_EXPORT void* aligned_alloc(std::size_t align, std::size_t size) {
  return hak_aligned_alloc(align, size);
}
HAK_EXPORT void* memalign(std::size_t align, std::size_t size) { return hak_memalign(align, size); }
HAK_EXPORT void* valloc(std::size_t size) { return hak_valloc(size); }
HAK_EXPORT void* pvalloc(std::size_t size) { return hak_pvalloc(size); }
HAK_EXPORT std::size_t malloc_usable_size(void* p) { return hak_malloc_usable_size(p); }
HAK_EXPORT int malloc_trim(std::size_t pad) { return hak_malloc_trim(pad); }
HAK_EXPORT void free_sized(void* p, std::size_t size) { hak_free_sized(p, size); }
HAK_EXPORT void free_aligned_sized(void* p, std::size_t align, std::size_t size) {
  hak_free_aligned_sized(p, align, size);
}
HAK_EXPORT void malloc_stats(void) { hakmem_stats_print(); }

// glibc-internal aliases some programs and libraries call directly.
HAK_EXPORT void* __libc_malloc(std::size_t size) { return hakmem::fast_malloc(size); }
HAK_EXPORT void __libc_free(void* p) { hakmem::fast_free(p); }
HAK_EXPORT void* __libc_calloc(std::size_t n, std::size_t size) { return hak_calloc(n, size); }
HAK_EXPORT void* __libc_realloc(void* p, std::size_t size) { return hak_realloc(p, size); }
HAK_EXPORT void* __libc_memalign(std::size_t align, std::size_t size) {
  return hak_memalign(align, size);
}
HAK_EXPORT void* __libc_valloc(std::size_t size) { return hak_valloc(size); }
HAK_EXPORT void* __libc_pvalloc(std::size_t size) { return hak_pvalloc(size); }
HAK_EXPORT int __posix_memalign(void** out, std::size_t align, std::size_t size) {
  return hak_posix_memalign(out, align, size);
}

// ---- C++ operators ------------------------------------------------------------------
namespace {

[[gnu::noinline]] void* new_slow(std::size_t size, std::size_t align, bool nothrow) {
  for (;;) {
    void* p = align <= 16 ? hakmem::fast_malloc(size) : hak_aligned_alloc(align, size);
    if (p) return p;
    std::new_handler handler = std::get_new_handler();
    if (!handler) {
      if (nothrow) return nullptr;
      throw std::bad_alloc();
    }
    if (nothrow) {
      try {
        handler();
      } catch (...) {
        return nullptr;
      }
    } else {
      handler();
    }
  }
}

inline void* new_impl(std::size_t size) {
  void* p = hakmem::fast_malloc(size);
  if (p) [[likely]] return p;
  return new_slow(size, 16, false);
}
inline void* new_nothrow(std::size_t size) noexcept {
  void* p = hakmem::fast_malloc(size);
  if (p) [[likely]] return p;
  return new_slow(size, 16, true);
}
inline void* new_aligned(std::size_t size, std::align_val_t al) {
  return new_slow(size, static_cast<std::size_t>(al), false);
}
inline void* new_aligned_nothrow(std::size_t size, std::align_val_t al) noexcept {
  return new_slow(size, static_cast<std::size_t>(al), true);
}

}  // namespace

#define HAK_NEW_EXPORT __attribute__((visibility("default")))

HAK_NEW_EXPORT void* operator new(std::size_t n) { return new_impl(n); }
HAK_NEW_EXPORT void* operator new[](std::size_t n) { return new_impl(n); }
HAK_NEW_EXPORT void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  return new_nothrow(n);
}
HAK_NEW_EXPORT void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  return new_nothrow(n);
}
HAK_NEW_EXPORT void* operator new(std::size_t n, std::align_val_t al) { return new_aligned(n, al); }
HAK_NEW_EXPORT void* operator new[](std::size_t n, std::align_val_t al) {
  return new_aligned(n, al);
}
HAK_NEW_EXPORT void* operator new(std::size_t n, std::align_val_t al,
                                  const std::nothrow_t&) noexcept {
  return new_aligned_nothrow(n, al);
}
HAK_NEW_EXPORT void* operator new[](std::size_t n, std::align_val_t al,
                                    const std::nothrow_t&) noexcept {
  return new_aligned_nothrow(n, al);
}

HAK_NEW_EXPORT void operator delete(void* p) noexcept { hakmem::fast_free(p); }
HAK_NEW_EXPORT void operator delete[](void* p) noexcept { hakmem::fast_free(p); }
HAK_NEW_EXPORT void operator delete(void* p, const std::nothrow_t&) noexcept {
  hakmem::fast_free(p);
}
HAK_NEW_EXPORT void operator delete[](void* p, const std::nothrow_t&) noexcept {
  hakmem::fast_free(p);
}
HAK_NEW_EXPORT void operator delete(void* p, std::size_t) noexcept { hakmem::fast_free(p); }
HAK_NEW_EXPORT void operator delete[](void* p, std::size_t) noexcept { hakmem::fast_free(p); }
HAK_NEW_EXPORT void operator delete(void* p, std::align_val_t) noexcept { hakmem::fast_free(p); }
HAK_NEW_EXPORT void operator delete[](void* p, std::align_val_t) noexcept { hakmem::fast_free(p); }
HAK_NEW_EXPORT void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  hakmem::fast_free(p);
}
HAK_NEW_EXPORT void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  hakmem::fast_free(p);
}
HAK_NEW_EXPORT void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  hakmem::fast_free(p);
}
HAK_NEW_EXPORT void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  hakmem::fast_free(p);
}
