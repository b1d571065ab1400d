// realloc: keep the block whenever it already has room (its class, or its span), grow a
// span in place when the pages after it are free, extend a huge mapping with mremap
// (large_realloc), and otherwise move with one copy. Growth by a few bytes at a time copies
// only when it crosses a size class (classes are about 1/8 apart, so a string grown a byte
// at a time is copied O(log n) times), and never takes a lock while the class has room.
#include <cerrno>
#include <cstring>

#include "allocator/api_internal.hpp"
#include "allocator/entry_count.hpp"
#include "allocator/heap_profile.hpp"
#include "allocator/init.hpp"
#include "allocator/large.hpp"
#include "superslab/span.hpp"

namespace hakmem {
namespace {

// realloc's new block: an inner allocation of the realloc call (entry_count.hpp).
void* realloc_alloc(std::size_t n) {
  if (n > kSmallMax) {
    bool fresh;
    return alloc_beyond_slabs(n, 16, &fresh, Entry::kInnerAlloc);
  }
  void* q = malloc_fast<Entry::kInnerAlloc>(n);
  if (q) count_bytes(n, small_usable(q));
  return q;
}

// realloc's release of its old block: an inner free of the realloc call.
void realloc_release(void* p) {
  if (chunk_kind(p) != kChunkSmall) {
    free_beyond(p);
    count_call(Entry::kInnerFree, false);
    return;
  }
  free_fast<Entry::kInnerFree>(p);
}

// The span length a span resized for n bytes should get: a medium class's size (so its
// free goes to the thread's medium cache), or whole pages beyond the medium classes.
std::size_t span_target(std::size_t n) {
  if (n <= kMediumMax) return medium_class_size(medium_class_of(n));
  return (n + os_page() - 1) & ~(os_page() - 1);
}

// A span p of `old` bytes for n bytes, in place: true if p now holds n bytes.
bool span_keep(void* p, std::size_t old, std::size_t n) {
  if (n <= old && n > old / 2) return true;  // room already: no lock
  if (n <= kSmallMax || n > kSpanMaxBytes) return false;  // leaves the span range: move
  return span_resize_in_place(p, span_target(n));
}

}  // namespace

void* realloc_impl(void* p, std::size_t n) {
  if (p == nullptr) return realloc_alloc(n);
  if (n == 0) {
    realloc_release(p);
    return nullptr;
  }
  std::size_t old = usable_size(p);
  if (old == 0) {
    ensure_init();
    report_bad_pointer("invalid realloc", p);
    errno = EINVAL;
    return nullptr;
  }
  ChunkKind kind = chunk_kind(p);
  if (kind == kChunkSmall && *static_cast<const std::uintptr_t*>(p) == free_tag(p)) [[unlikely]] {
    // A freed object (its free tag, which the program cannot forge): nothing to copy from,
    // and moving it would free it a second time.
    ensure_init();
    report_bad_pointer("realloc of a freed block", p);
    errno = EINVAL;
    return nullptr;
  }
  if (kind == kChunkSmall) {
    // Same class, or shrinking by less than half: keep the block.
    if (n <= old && (n > old / 2 || old <= 32)) return p;
  } else if (kind == kChunkSpan) {
    if (span_keep(p, old, n)) return p;
  } else if (n > kSpanMaxBytes) {
    if (void* q = large_realloc(p, n)) {
      if (q != p && heap_sampling()) [[unlikely]] heap_sample_forget(p);  // heap profile
      return q;
    }
  }
  void* q = realloc_alloc(n);
  if (!q) return nullptr;
  std::memcpy(q, p, n < old ? n : old);
  realloc_release(p);
  return q;
}

}  // namespace hakmem
