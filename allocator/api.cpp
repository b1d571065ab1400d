// The prefixed C API (hak_*): every entry point of a malloc replacement, on top of the fast
// paths, spans (medium objects) and huge mappings. malloc_export.cpp maps the standard
// names onto these for libhakmem.so.
#include <cerrno>
#include <cstring>

#include "allocator/api_internal.hpp"
#include "hakmem/hakmem.h"
#include "allocator/config.hpp"
#include "allocator/entry_count.hpp"
#include "allocator/heap_profile.hpp"
#include "allocator/init.hpp"
#include "allocator/large.hpp"
#include "superslab/pool.hpp"
#include "superslab/span.hpp"
#include "unified_cache/medium.hpp"

namespace hakmem {

void* alloc_beyond_slabs(std::size_t n, std::size_t align, bool* fresh, Entry e) {
  ensure_init();
  void* p;
  std::size_t served;
  if (n > kSmallMax && n <= kMediumMax && align <= os_page()) {
    p = medium_alloc(n, fresh);  // the thread's medium cache (unified_cache/medium.hpp)
    served = medium_class_size(medium_class_of(n));
  } else if (n <= kSpanMaxBytes && align <= kSpanMaxBytes) {
    p = span_alloc(n, align < os_page() ? os_page() : align, fresh);
    served = (n + os_page() - 1) & ~(os_page() - 1);  // spans are whole pages (span_size)
  } else {
    p = large_alloc(n, align, fresh);
    served = p ? large_usable_size(p) : 0;
  }
  if (p) {
    count_bytes(n, served);
    if (heap_sampling()) [[unlikely]] heap_sample_beyond(p, served);  // heap profile
  }
  count_call(e, false);
  return p;
}

bool free_beyond(void* p) {
  ensure_init();
  if (heap_sampling()) [[unlikely]] heap_sample_forget(p);  // heap profile
  switch (chunk_kind(p)) {
    case kChunkSmall:
      report_bad_pointer("invalid free (not the start of a block)", p);
      return false;
    case kChunkSpan: {
      std::size_t bytes = span_size_owned(p);
      int r = medium_free(p);  // r < 0: already in a thread's medium cache
      if (r > 0 || (r == 0 && span_free(p) == 0)) {
        note_freed_beyond_slabs(bytes);
        return true;
      }
      report_bad_pointer("invalid or double free (medium block)", p);
      return false;
    }
    case kChunkHuge:
    case kChunkHugeAligned: {
      std::size_t bytes = large_usable_size(p);
      if (large_free(p) == 0) {
        note_freed_beyond_slabs(bytes);
        return true;
      }
      report_bad_pointer("invalid or double free (huge block)", p);
      return false;
    }
    case kChunkHugeBody:
      report_bad_pointer("invalid free (inside a huge block)", p);
      return false;
    default:
      report_bad_pointer("invalid free (pointer not allocated by hakmem)", p);
      return false;
  }
}

std::size_t usable_size(const void* p) {
  if (p == nullptr) return 0;
  switch (chunk_kind(p)) {
    case kChunkSmall: {
      if (!small_object_valid(p)) return 0;
      return small_usable(p);
    }
    case kChunkSpan:
      return medium_usable_size(p);  // 0 for a freed block in a thread's medium cache
    case kChunkHuge:
    case kChunkHugeAligned:
      return large_usable_size(p);
    default:
      return 0;
  }
}

// posix_memalign, aligned_alloc, memalign, valloc, pvalloc. Their bin pops count bytes too.
static void* aligned_counted(std::size_t align, std::size_t n) {
  void* p = aligned_alloc_impl<Entry::kAligned>(align, n);
  if (p && chunk_kind(p) == kChunkSmall) count_bytes(n, small_usable(p));
  return p;
}

// operator new's retries after its new-handler ran: the call is counted already.
void* inner_alloc(std::size_t n, std::size_t align) {
  return aligned_alloc_impl<Entry::kInnerAlloc>(align < 16 ? 16 : align, n);
}

}  // namespace hakmem

using namespace hakmem;

extern "C" {

void* hak_malloc(std::size_t size) { return malloc_fast<Entry::kMalloc>(size); }
void hak_free(void* ptr) { free_fast<Entry::kFree>(ptr); }

void* hak_calloc(std::size_t count, std::size_t size) {
  std::size_t n;
  if (__builtin_mul_overflow(count, size, &n)) {
    errno = ENOMEM;
    return nullptr;
  }
  if (n > kSmallMax) {
    bool fresh = false;
    void* p = alloc_beyond_slabs(n, 16, &fresh, Entry::kCalloc);
    if (p && !fresh) std::memset(p, 0, n);  // fresh pages are zero already: skip the write
    return p;
  }
  void* p = malloc_fast<Entry::kCalloc>(n);
  if (p) {
    count_bytes(n, small_usable(p));
    std::memset(p, 0, n);
  }
  return p;
}

void* hak_realloc(void* ptr, std::size_t size) {
  void* q = realloc_impl(ptr, size);
  count_call(Entry::kRealloc, true);  // its bin operations count as inner ones
  return q;
}

void* hak_reallocarray(void* ptr, std::size_t count, std::size_t size) {
  std::size_t n;
  if (__builtin_mul_overflow(count, size, &n)) {
    errno = ENOMEM;
    return nullptr;
  }
  return hak_realloc(ptr, n);
}

int hak_posix_memalign(void** out, std::size_t alignment, std::size_t size) {
  if (alignment < sizeof(void*) || (alignment & (alignment - 1)) != 0) return EINVAL;
  int saved = errno;
  void* p = aligned_counted(alignment, size);
  if (!p) {
    errno = saved;
    return ENOMEM;
  }
  *out = p;
  return 0;
}

void* hak_aligned_alloc(std::size_t alignment, std::size_t size) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
    errno = EINVAL;
    return nullptr;
  }
  return aligned_counted(alignment, size);
}

void* hak_memalign(std::size_t alignment, std::size_t size) {
  // glibc: a non-power-of-two alignment is rounded up to the next power of two.
  if (alignment & (alignment - 1)) {
    if (alignment > (std::size_t{1} << 62)) {
      errno = EINVAL;
      return nullptr;
    }
    alignment = std::size_t{1} << (64 - __builtin_clzll(alignment));
  }
  return aligned_counted(alignment, size);
}

void* hak_valloc(std::size_t size) { return aligned_counted(os_page(), size); }

void* hak_pvalloc(std::size_t size) {
  std::size_t page = os_page();
  if (size > ~std::size_t{0} - page) {
    errno = ENOMEM;
    return nullptr;
  }
  std::size_t n = (size + page - 1) & ~(page - 1);
  return aligned_counted(page, n == 0 ? page : n);
}

// ---- malloc_usable_size of a freed block (issue 14) -----------------------------------
// A freed small object carries its free tag in its first word (fast_path.hpp), in a
// thread's bin and on a slab's free list alike. The program cannot forge it (it mixes in a
// per-process secret), so a match means the block is freed: reported like an invalid free
// (HAKMEM_ON_ERROR=abort stops here) and answered 0, as for a pointer that is not a block.
// Freed spans and huge blocks already answer 0. Only this entry point checks: realloc and
// free_sized call usable_size() and report a freed block themselves, once.
std::size_t hak_malloc_usable_size(const void* ptr) {
  std::size_t n = usable_size(ptr);
  if (n != 0 && chunk_kind(ptr) == kChunkSmall) {
    if (*static_cast<const std::uintptr_t*>(ptr) == free_tag()) [[unlikely]] {
      ensure_init();
      report_bad_pointer("malloc_usable_size of a freed block", ptr);
      return 0;
    }
  }
  return n;
}
// ---- end malloc_usable_size of a freed block -------------------------------------------

void hak_free_sized(void* ptr, std::size_t size) {
  if (ptr && chunk_kind(ptr) == kChunkSmall && size > usable_size(ptr)) {
    ensure_init();
    report_bad_pointer("free_sized with a size larger than the block", ptr);
    count_call(Entry::kFree, false);  // a free call all the same
    return;
  }
  free_fast<Entry::kFree>(ptr);
}

void hak_free_aligned_sized(void* ptr, std::size_t alignment, std::size_t size) {
  if (ptr && (reinterpret_cast<std::uintptr_t>(ptr) & (alignment - 1)) != 0) {
    ensure_init();
    report_bad_pointer("free_aligned_sized with an alignment the block does not have", ptr);
    count_call(Entry::kFree, false);  // a free call all the same
    return;
  }
  hak_free_sized(ptr, size);
}

int hak_malloc_trim(std::size_t) {
  ensure_init();
  std::size_t released = 0;
  if (t_cache != &g_sentinel_cache) {
    ThreadHeap* h = heap_of(t_cache);
    heap_flush_all(h);
    LockGuard guard(h->lock);
    released += heap_purge(h, true);
  }
  released += heap_purge_idle_heaps(true);
  span_purge(true);
  span_release_empty();
  released += pool_purge(true);
  released += large_purge(true);
  return released > 0 ? 1 : 0;
}

int hak_owns(const void* ptr) { return usable_size(ptr) != 0; }

void hak_thread_flush(void) {
  if (t_cache != &g_sentinel_cache) heap_flush_all(heap_of(t_cache));
}

void* hak_block_alloc(std::size_t size) {
  if (size == 0) size = 1;
  bool fresh;
  return alloc_beyond_slabs(size, os_page(), &fresh, Entry::kNone);
}

// Blocks are spans or huge mappings, not malloc'ed: releasing one is not a free call
// (hak_block_alloc is counted in bytes only). A small object given here is freed as by free.
void hak_block_free(void* block) {
  if (block == nullptr) return;
  if (chunk_kind(block) == kChunkSmall) return free_fast<Entry::kFree>(block);
  free_beyond(block);
}

int hak_option_get(const char* name, long* value) {
  ensure_init();
  return config_get(name, value);
}

int hak_option_set(const char* name, long value) {
  ensure_init();
  int rc = config_set(name, value);
  if (rc == 0) {
    large_set_cache_limit(static_cast<std::size_t>(option(Opt::kLargeCacheMb)) << 20,
                          static_cast<std::uint64_t>(option(Opt::kPurgeDelayMs)) * 1000000ull);
  }
  return rc;
}

void hak_options_print(void) {
  ensure_init();
  config_print();
}

}  // extern "C"
