// The standard allocation symbols for the valgrind build (HAKMEM_VALGRIND=ON, or the
// override archive tests/valgrind builds): the same names as malloc_export.cpp, each one
// calling the hak_* API with the allocator's work quiet and the block's life reported to
// memcheck (valgrind_hooks.hpp). Slower than the inline fast paths; meant for running
// under valgrind only. Compiled with exceptions: operator new's std::bad_alloc unwinds
// through Quiet, which must re-enable error reporting.
#include <cerrno>
#include <new>

#include "allocator/api_internal.hpp"
#include "allocator/new_slow.hpp"
#include "allocator/valgrind_hooks.hpp"
#include "hakmem/hakmem.h"

#define HAK_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

namespace vg = hakmem::vg;

// A small block popped from this thread's bin leaves its pointer in the slot just above
// the bin's top; memcheck's leak check would find it there and call a leaked block "still
// reachable". Clearing the slot is harmless (only [base, top) holds objects).
void forget_popped(void* p) {
  if (!p || hakmem::chunk_kind(p) != hakmem::kChunkSmall) return;
  hakmem::ThreadCache* tc = hakmem::t_cache;
  if (tc == &hakmem::g_sentinel_cache) return;
  const hakmem::UnitGeometry& g = hakmem::unit_geometry_of(p);
  hakmem::Bin& b = hakmem::bin_at(tc, g.owner_tag);
  if (b.top < b.limit && *b.top == p) *b.top = nullptr;
}

void* vg_malloc(std::size_t n) {
  void* p;
  {
    vg::Quiet q;
    p = hak_malloc(n);
    forget_popped(p);
  }
  return vg::allocated(p, n, false);
}

void* vg_aligned(std::size_t align, std::size_t n) {
  void* p;
  {
    vg::Quiet q;
    p = hak_aligned_alloc(align, n);
    forget_popped(p);
  }
  return vg::allocated(p, n, false);
}

void vg_free(void* p) {
  if (!p) return;
  vg::freeing(p);  // reports a double or invalid free while the block's state is known
  vg::Quiet q;
  hak_free(p);
}

void* vg_realloc(void* p, std::size_t n) {
  if (!p) return vg_malloc(n);
  if (n == 0) {
    vg_free(p);
    return nullptr;
  }
  void* q;
  std::size_t old;
  {
    vg::Quiet quiet;
    old = hakmem::usable_size(p);
    q = hak_realloc(p, n);
    if (q != p) forget_popped(q);
  }
  return vg::reallocated(p, q, n, old);
}

void* vg_new(std::size_t n, std::size_t align, bool nothrow) {
  void* p;
  {
    vg::Quiet q;
    p = align <= 16 ? hak_malloc(n) : hak_aligned_alloc(align, n);
    if (!p) p = hakmem::new_slow(n, align, nothrow);  // new-handler, std::bad_alloc
    forget_popped(p);
  }
  return vg::allocated(p, n, false);
}

}  // namespace

HAK_EXPORT void* malloc(std::size_t size) { return vg_malloc(size); }
HAK_EXPORT void free(void* p) { vg_free(p); }
HAK_EXPORT void cfree(void* p) { vg_free(p); }
HAK_EXPORT void* calloc(std::size_t n, std::size_t size) {
  void* p;
  {
    vg::Quiet q;
    p = hak_calloc(n, size);
    forget_popped(p);
  }
  return vg::allocated(p, n * size, true);
}
HAK_EXPORT void* realloc(void* p, std::size_t size) { return vg_realloc(p, size); }
HAK_EXPORT void* reallocarray(void* p, std::size_t n, std::size_t size) {
  std::size_t total;
  if (__builtin_mul_overflow(n, size, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  return vg_realloc(p, total);
}
HAK_EXPORT int posix_memalign(void** out, std::size_t align, std::size_t size) {
  int rc;
  {
    vg::Quiet q;
    rc = hak_posix_memalign(out, align, size);
    if (rc == 0) forget_popped(*out);
  }
  if (rc == 0) vg::allocated(*out, size, false);
  return rc;
}
HAK_EXPORT void* aligned_alloc(std::size_t align, std::size_t size) {
  return vg_aligned(align, size);
}
HAK_EXPORT void* memalign(std::size_t align, std::size_t size) {
  void* p;
  {
    vg::Quiet q;
    p = hak_memalign(align, size);
    forget_popped(p);
  }
  return vg::allocated(p, size, false);
}
HAK_EXPORT void* valloc(std::size_t size) {
  void* p;
  {
    vg::Quiet q;
    p = hak_valloc(size);
    forget_popped(p);
  }
  return vg::allocated(p, size, false);
}
HAK_EXPORT void* pvalloc(std::size_t size) {
  void* p;
  {
    vg::Quiet q;
    p = hak_pvalloc(size);
    forget_popped(p);
  }
  return vg::allocated(p, p ? hak_malloc_usable_size(p) : 0, false);
}
HAK_EXPORT std::size_t malloc_usable_size(void* p) {
  vg::Quiet q;
  return hak_malloc_usable_size(p);
}
HAK_EXPORT int malloc_trim(std::size_t pad) {
  vg::Quiet q;
  return hak_malloc_trim(pad);
}
HAK_EXPORT void free_sized(void* p, std::size_t) { vg_free(p); }
HAK_EXPORT void free_aligned_sized(void* p, std::size_t, std::size_t) { vg_free(p); }
HAK_EXPORT void malloc_stats(void) { hakmem_stats_print(); }

HAK_EXPORT void* __libc_malloc(std::size_t size) { return vg_malloc(size); }
HAK_EXPORT void __libc_free(void* p) { vg_free(p); }
HAK_EXPORT void* __libc_calloc(std::size_t n, std::size_t size) { return calloc(n, size); }
HAK_EXPORT void* __libc_realloc(void* p, std::size_t size) { return vg_realloc(p, size); }
HAK_EXPORT void* __libc_memalign(std::size_t align, std::size_t size) {
  return memalign(align, size);
}
HAK_EXPORT void* __libc_valloc(std::size_t size) { return valloc(size); }
HAK_EXPORT void* __libc_pvalloc(std::size_t size) { return pvalloc(size); }
HAK_EXPORT int __posix_memalign(void** out, std::size_t align, std::size_t size) {
  return posix_memalign(out, align, size);
}

#define HAK_NEW_EXPORT __attribute__((visibility("default")))
using AV = std::align_val_t;
using NT = std::nothrow_t;

HAK_NEW_EXPORT void* operator new(std::size_t n) { return vg_new(n, 16, false); }
HAK_NEW_EXPORT void* operator new[](std::size_t n) { return vg_new(n, 16, false); }
HAK_NEW_EXPORT void* operator new(std::size_t n, const NT&) noexcept { return vg_new(n, 16, true); }
HAK_NEW_EXPORT void* operator new[](std::size_t n, const NT&) noexcept { return vg_new(n, 16, true); }
HAK_NEW_EXPORT void* operator new(std::size_t n, AV a) { return vg_new(n, std::size_t(a), false); }
HAK_NEW_EXPORT void* operator new[](std::size_t n, AV a) { return vg_new(n, std::size_t(a), false); }
HAK_NEW_EXPORT void* operator new(std::size_t n, AV a, const NT&) noexcept {
  return vg_new(n, std::size_t(a), true);
}
HAK_NEW_EXPORT void* operator new[](std::size_t n, AV a, const NT&) noexcept {
  return vg_new(n, std::size_t(a), true);
}
HAK_NEW_EXPORT void operator delete(void* p) noexcept { vg_free(p); }
HAK_NEW_EXPORT void operator delete[](void* p) noexcept { vg_free(p); }
HAK_NEW_EXPORT void operator delete(void* p, const NT&) noexcept { vg_free(p); }
HAK_NEW_EXPORT void operator delete[](void* p, const NT&) noexcept { vg_free(p); }
HAK_NEW_EXPORT void operator delete(void* p, std::size_t) noexcept { vg_free(p); }
HAK_NEW_EXPORT void operator delete[](void* p, std::size_t) noexcept { vg_free(p); }
HAK_NEW_EXPORT void operator delete(void* p, AV) noexcept { vg_free(p); }
HAK_NEW_EXPORT void operator delete[](void* p, AV) noexcept { vg_free(p); }
HAK_NEW_EXPORT void operator delete(void* p, std::size_t, AV) noexcept { vg_free(p); }
HAK_NEW_EXPORT void operator delete[](void* p, std::size_t, AV) noexcept { vg_free(p); }
HAK_NEW_EXPORT void operator delete(void* p, AV, const NT&) noexcept { vg_free(p); }
HAK_NEW_EXPORT void operator delete[](void* p, AV, const NT&) noexcept { vg_free(p); }
