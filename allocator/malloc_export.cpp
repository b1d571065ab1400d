// The standard allocation symbols, exported by libhakmem.so (and libhakmem_override.a for
// static linking) so that hakmem replaces the process's malloc. malloc, free, operator new
// and delete inline the one fast path (fast_path.hpp) as their own entry point; operator
// new's failure path (new-handler, std::bad_alloc) is in cxx_runtime.cpp.
#include <cerrno>
#include <new>

#include "allocator/api_internal.hpp"
#include "allocator/entry_count.hpp"
#include "allocator/new_slow.hpp"
#include "hakmem/hakmem.h"

#define HAK_EXPORT extern "C" __attribute__((visibility("default")))

using hakmem::Entry;

HAK_EXPORT void* malloc(std::size_t size) { return hakmem::malloc_fast<Entry::kMalloc>(size); }
HAK_EXPORT void free(void* p) { hakmem::free_fast<Entry::kFree>(p); }
HAK_EXPORT void cfree(void* p) { hakmem::free_fast<Entry::kFree>(p); }
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
HAK_EXPORT void* __libc_malloc(std::size_t size) {
  return hakmem::malloc_fast<Entry::kMalloc>(size);
}
HAK_EXPORT void __libc_free(void* p) { hakmem::free_fast<Entry::kFree>(p); }
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

using hakmem::new_slow;

// operator new: the malloc fast path counted as new. A pop never yields nullptr, so the
// test below is on the miss path's result only, and the common path stays frameless.
template <bool kNothrow>
inline void* new_impl(std::size_t size) {
  void* p = hakmem::malloc_fast<Entry::kNew>(size);
  if (p) [[likely]] return p;
  return new_slow(size, 16, kNothrow);
}
template <bool kNothrow>
inline void* new_aligned(std::size_t size, std::align_val_t al) {
  auto align = static_cast<std::size_t>(al);
  void* p = hakmem::aligned_alloc_impl<Entry::kNew>(align, size);
  if (!p) [[unlikely]] return new_slow(size, align, kNothrow);
  // Bytes as for the aligned C calls (entry_count.hpp): only malloc's and new's inline
  // paths leave them uncounted.
  if (hakmem::chunk_kind(p) == hakmem::kChunkSmall) hakmem::count_bytes(size, hakmem::small_usable(p));
  return p;
}
inline void delete_fast(void* p) { hakmem::free_fast<Entry::kDelete>(p); }

}  // namespace

#define HAK_NEW_EXPORT __attribute__((visibility("default")))

HAK_NEW_EXPORT void* operator new(std::size_t n) { return new_impl<false>(n); }
HAK_NEW_EXPORT void* operator new[](std::size_t n) { return new_impl<false>(n); }
HAK_NEW_EXPORT void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  return new_impl<true>(n);
}
HAK_NEW_EXPORT void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  return new_impl<true>(n);
}
HAK_NEW_EXPORT void* operator new(std::size_t n, std::align_val_t al) { return new_aligned<false>(n, al); }
HAK_NEW_EXPORT void* operator new[](std::size_t n, std::align_val_t al) {
  return new_aligned<false>(n, al);
}
HAK_NEW_EXPORT void* operator new(std::size_t n, std::align_val_t al,
                                  const std::nothrow_t&) noexcept {
  return new_aligned<true>(n, al);
}
HAK_NEW_EXPORT void* operator new[](std::size_t n, std::align_val_t al,
                                    const std::nothrow_t&) noexcept {
  return new_aligned<true>(n, al);
}

HAK_NEW_EXPORT void operator delete(void* p) noexcept { delete_fast(p); }
HAK_NEW_EXPORT void operator delete[](void* p) noexcept { delete_fast(p); }
HAK_NEW_EXPORT void operator delete(void* p, const std::nothrow_t&) noexcept {
  delete_fast(p);
}
HAK_NEW_EXPORT void operator delete[](void* p, const std::nothrow_t&) noexcept {
  delete_fast(p);
}
HAK_NEW_EXPORT void operator delete(void* p, std::size_t) noexcept { delete_fast(p); }
HAK_NEW_EXPORT void operator delete[](void* p, std::size_t) noexcept { delete_fast(p); }
HAK_NEW_EXPORT void operator delete(void* p, std::align_val_t) noexcept {
  delete_fast(p);
}
HAK_NEW_EXPORT void operator delete[](void* p, std::align_val_t) noexcept {
  delete_fast(p);
}
HAK_NEW_EXPORT void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  delete_fast(p);
}
HAK_NEW_EXPORT void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  delete_fast(p);
}
HAK_NEW_EXPORT void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  delete_fast(p);
}
HAK_NEW_EXPORT void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  delete_fast(p);
}
