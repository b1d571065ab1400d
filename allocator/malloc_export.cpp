// The standard allocation symbols, exported by libhakmem.so (and libhakmem_override.a for
// static linking) so that hakmem replaces the process's malloc. Each one inlines the fast
// path; operator new's failure path (new-handler, std::bad_alloc) is in cxx_runtime.cpp.
#include <cerrno>
#include <new>

#include "allocator/api_internal.hpp"
#include "allocator/entry_count.hpp"
#include "allocator/new_slow.hpp"
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

using hakmem::new_slow;

// counted_new*: the malloc fast path plus the new/delete counters (entry_count.hpp). Only
// the retries after a new-handler ran (new_slow) count as malloc / aligned calls.
// Everything but a tiny request served by its bin: one noinline function, tail-called, so
// the common path needs no stack frame (a call followed by more work forced one: +7
// instructions per new).
[[gnu::noinline]] void* new_miss(std::size_t size, bool nothrow) {
  void* p = hakmem::counted_new(size);
  if (p) [[likely]] return p;
  return new_slow(size, 16, nothrow);
}
inline void* new_fast(std::size_t size, bool nothrow) {
  if (size <= hakmem::kTinyMax) [[likely]] {
    hakmem::ThreadCache* tc = hakmem::t_cache;
    if (void* p = hakmem::small_try_pop(tc, hakmem::kTinyBin[(size + 15) >> 4])) [[likely]] {
      // What counted_new counts for a pop: the cache's malloc_calls and new_fast.
      ++tc->counters.malloc_calls;
      ++tc->counters.new_fast;
      return p;
    }
  }
  return new_miss(size, nothrow);
}
inline void* new_impl(std::size_t size) { return new_fast(size, false); }
inline void* new_nothrow(std::size_t size) noexcept { return new_fast(size, true); }
inline void* new_aligned(std::size_t size, std::align_val_t al) {
  void* p = hakmem::counted_new_slow(size, static_cast<std::size_t>(al));
  if (p) [[likely]] return p;
  return new_slow(size, static_cast<std::size_t>(al), false);
}
inline void* new_aligned_nothrow(std::size_t size, std::align_val_t al) noexcept {
  void* p = hakmem::counted_new_slow(size, static_cast<std::size_t>(al));
  if (p) [[likely]] return p;
  return new_slow(size, static_cast<std::size_t>(al), true);
}

}  // namespace

// operator delete: the free fast path plus the delete counter; every miss (see
// small_try_push) tail-calls counted_delete's full path, so the common path has no frame.
[[gnu::noinline]] void delete_miss(void* p) { hakmem::counted_delete(p); }
inline void delete_fast(void* p) {
  if (hakmem::ThreadCache* tc = hakmem::small_try_push(p)) [[likely]] {
    ++tc->counters.delete_fast;
    return;
  }
  delete_miss(p);
}

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
