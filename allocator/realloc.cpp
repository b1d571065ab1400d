// realloc: keep the block whenever it already has room (its class, or its span), grow a
// span in place when the pages after it are free, extend a huge mapping with mremap
// (large_realloc), and otherwise move with one copy.
//
// A growth that has to move asks for at least a quarter more than the block held (as
// tcmalloc does): a buffer grown by a few bytes at a time then moves about 3 times per
// doubling instead of at every class (16 per doubling between 1 and 8 KiB, 8 elsewhere).
// Exact-size growth of 10,000 strings to 1-64 KiB (bench/workloads/realloc_growth.cpp)
// moved 54 times per string and copied 423 KiB per string; with the quarter, 19 moves and
// 122 KiB (PERF_NOTES.md, 2026-12-03 "exact-size realloc growth"). The cost is the
// unused quarter of the last block, at most; a realloc that grows by more than a quarter
// gets exactly its size, so a one-off resize wastes nothing more than malloc would.
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

// A growth to at least this many bytes (and up to kSmallMax) gets a page span instead of
// a slab object. A buffer that realloc keeps growing leaves each slab class for good, and
// in a slab the freed block serves only its own class: 10,000 strings grown in step left
// slabs of every class they passed half free, pinned by the strings that stopped there,
// and that memory waited for the purge while the next classes faulted in new pages (peak
// RSS 1.8x glibc's below 32 KiB). A freed span's pages join their free neighbours and serve
// the next span of any length, and a span can grow into the pages after it.
constexpr std::size_t kGrowSpanMin = 8192;

// realloc's new block: an inner allocation of the realloc call (entry_count.hpp). Its
// bytes are counted as asked of the allocator, headroom included. `grown`: the block grows
// an existing one (see kGrowSpanMin).
void* realloc_alloc(std::size_t n, bool grown = false) {
  if (n > kSmallMax || (grown && n >= kGrowSpanMin)) {
    bool fresh;
    return alloc_beyond_slabs(n, n > kSmallMax ? 16 : os_page(), &fresh, Entry::kInnerAlloc);
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

// The size a growth from a block of `old` bytes to n asks for: n, raised to old + old/4
// when n is less (see the top of the file). Beyond the span range a huge mapping grows by
// mremap without a copy, in 2 MiB steps, so it gets no headroom.
//
// The headroom alone never takes a block out of the slab classes: below kGrowSpanMin it
// stops at the largest class there (8 KiB). Buffers that grow to a cap and stay there are
// common (redis's listpacks stop just under 8 KiB: 1 KiB values, seven to a node), and a
// quarter more than 7 KiB, as a page span, was 12 KiB each: 502 MiB of listpacks for 300k
// values of 1 KiB, where glibc held 300 MiB (PERF_NOTES.md, 2026-12-06).
std::size_t grow_size(std::size_t old, std::size_t n) {
  if (n > kSpanMaxBytes) return n;
  std::size_t floor = old + old / 4;
  std::size_t g = n < floor ? floor : n;
  if (n < kGrowSpanMin && g >= kGrowSpanMin) g = kGrowSpanMin - 1;  // the 8 KiB class
  return g;
}

// The span length a span resized for n bytes should get: a medium class's size (so its
// free goes to the thread's medium cache), or whole pages beyond the medium classes.
std::size_t span_target(std::size_t n) {
  if (n > kSmallMax && n <= kMediumMax) return medium_class_size(medium_class_of(n));
  return (n + os_page() - 1) & ~(os_page() - 1);
}

// A span p of `old` bytes for n bytes, in place: true if p now holds n bytes. A growth
// takes the headroom in place too when the pages allow, so the next few growths need no
// span lock. A shrink to slab sizes moves (a slab object wastes less than a page span).
bool span_keep(void* p, std::size_t old, std::size_t n) {
  if (n <= old && n > old / 2) return true;  // room already: no lock
  if (n > kSpanMaxBytes) return false;        // a huge block: move
  if (n <= old) return n > kSmallMax && span_resize_in_place(p, span_target(n));
  if (n < kGrowSpanMin) return false;
  std::size_t g = grow_size(old, n);
  if (g != n && g <= kSpanMaxBytes && span_resize_in_place(p, span_target(g))) return true;
  return span_resize_in_place(p, span_target(n));
}

HAK_NOINLINE void* bad_realloc(void* p, const char* what) {
  ensure_init();
  report_bad_pointer(what, p);
  errno = EINVAL;
  return nullptr;
}

// Moves p (`old` usable bytes) to a new block for n bytes: one copy of what both hold.
void* realloc_move(void* p, std::size_t old, std::size_t n) {
  const bool grows = n > old;
  std::size_t want = grows ? grow_size(old, n) : n;
  void* q = realloc_alloc(want, grows);
  if (!q && want != n) q = realloc_alloc(n, grows);  // the headroom did not fit: the bare size
  if (!q) return nullptr;
  std::memcpy(q, p, n < old ? n : old);
  realloc_release(p);
  return q;
}

}  // namespace

void* realloc_impl(void* p, std::size_t n) {
  if (p == nullptr) return realloc_alloc(n);
  if (n == 0) {
    realloc_release(p);
    return nullptr;
  }
  ChunkKind kind = chunk_kind(p);
  if (kind == kChunkSmall) {
    // The common case of a string builder, without usable_size's second dispatch.
    if (!small_object_valid(p)) return bad_realloc(p, "invalid realloc");
    // A freed object (its free tag, which the program cannot forge): nothing to copy from,
    // and moving it would free it a second time.
    if (*static_cast<const std::uintptr_t*>(p) == free_tag()) [[unlikely]] {
      return bad_realloc(p, "realloc of a freed block");
    }
    std::size_t old = small_usable(p);
    // Same class, or shrinking by less than half: keep the block.
    if (n <= old && (n > old / 2 || old <= 32)) return p;
    return realloc_move(p, old, n);
  }
  std::size_t old = usable_size(p);
  if (old == 0) return bad_realloc(p, "invalid realloc");
  if (kind == kChunkSpan) {
    if (span_keep(p, old, n)) return p;
  } else if (n > kSpanMaxBytes) {
    if (void* q = large_realloc(p, n)) {
      if (q != p && heap_sampling()) [[unlikely]] heap_sample_forget(p);  // heap profile
      return q;
    }
  }
  return realloc_move(p, old, n);
}

}  // namespace hakmem
