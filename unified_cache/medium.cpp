#include "unified_cache/medium.hpp"

#include <array>
#include <atomic>
#include <cerrno>

#include "superslab/lock.hpp"
#include "superslab/os.hpp"
#include "superslab/span.hpp"
#include "unified_cache/heap_internal.hpp"

namespace hakmem {
namespace {

// Where each class's slots start in ThreadHeap::medium_slots.
constexpr std::array<std::uint32_t, kNumMediumClasses> kSlotStart = [] {
  std::array<std::uint32_t, kNumMediumClasses> a{};
  std::uint32_t t = 0;
  for (unsigned m = 0; m < kNumMediumClasses; ++m) {
    a[m] = t;
    t += medium_bin_capacity(m);
  }
  return a;
}();

std::atomic<std::uint64_t> g_purge_interval_ns{250ull * 1000 * 1000};
std::atomic<std::uint64_t> g_next_purge_ns{0};

void** slots(ThreadHeap* h, unsigned m) { return &h->medium_slots[kSlotStart[m]]; }

// Owner only: a load and a store, no read-modify-write (nobody else writes it).
std::size_t medium_bytes(const ThreadHeap* h) { return h->medium_bytes.load(std::memory_order_relaxed); }
void add_medium_bytes(ThreadHeap* h, std::ptrdiff_t d) {
  h->medium_bytes.store(medium_bytes(h) + static_cast<std::size_t>(d), std::memory_order_relaxed);
}

// Returns the top n blocks of class m to the span allocator. Their free tags are cleared
// first: a span carved again on those pages must not look freed to the next free.
void flush_top(ThreadHeap* h, unsigned m, std::uint32_t n) {
  void** s = slots(h, m);
  std::uint32_t from = h->medium_count[m] - n;
  for (std::uint32_t i = from; i < h->medium_count[m]; ++i) *static_cast<std::uintptr_t*>(s[i]) = 0;
  span_free_batch(&s[from], n);
  h->medium_count[m] = from;
  add_medium_bytes(h, -static_cast<std::ptrdiff_t>(std::size_t{n} * medium_class_size(m)));
}

// The medium class whose size is exactly `bytes`, or -1.
int class_of_span_bytes(std::size_t bytes) {
  if (bytes <= kSmallMax || bytes > kMediumMax) return -1;
  unsigned m = medium_class_of(bytes);
  return medium_class_size(m) == bytes ? static_cast<int>(m) : -1;
}

// A thread cache is owner-only, so neither the purger nor a purge pass can empty it: an
// idle thread's bins and medium cache kept ~13 MiB resident after realloc_growth freed
// everything (RSS 20 MiB against glibc's 10; flushed, 6.9 MiB). So every slow path of the
// owner notes its time and the heap's call count (ThreadHeap::last_slow_ns): one that comes
// a purge delay after the last with few calls between finds the thread back from idle. A
// heuristic for "this thread went quiet", paid for on slow paths alone. Slab slow paths
// count too: a thread whose last thousands of frees were slab objects (strings that stopped
// in the 8 KiB class) looked busy to a medium-only clock, and kept its caches. In the heap,
// not in thread_local: a shared library's TLS costs a __tls_get_addr call per access.
// Calls a thread may make over a purge delay and still count as quiet (the call that takes
// the slow path and its own inner calls among them).
constexpr std::uint64_t kQuietCalls = 64;

std::uint64_t calls_so_far(const ThreadHeap* h) {
  std::uint64_t n = 0;
  for (std::uint64_t c : h->cache.counters.calls) n += c;
  return n;
}

// A thread back from a purge delay without a slow path (medium or slab) returns what its
// caches held through that time: everything in them sat unused for a whole delay, so it goes
// back to the OS now, as the purge would have taken it had it been in a slab or span.
void return_idle_caches(ThreadHeap* h) {
  for (unsigned m = 0; m < kNumMediumClasses; ++m) {
    void** s = slots(h, m);
    for (std::uint32_t i = 0; i < h->medium_count[m]; ++i) os::purge_now(s[i], medium_class_size(m));
  }
  heap_flush_all(h);  // the medium blocks (purged above) and the bins' objects
  LockGuard guard(h->lock);
  heap_purge(h, true);  // idle for a delay: every free page of this heap has been so too
}

// Every medium slow path: the note, and the heap's slab purge pass when it is due. Slab
// pages are purged on slab slow paths, which a thread whose blocks grew past the slab
// classes no longer takes: realloc_growth's strings left ~100 MiB of slab pages free behind
// them, purged only a purge delay later by the purger (which leaves alone a heap whose owner
// purged within the delay), then at its second pass. The check is heap_purge's own rate
// limit, read before taking the lock.
void note_medium_slow_path(ThreadHeap* h) {
  heap_note_slow_path(h);
  if (os::now_ns() - h->last_purge_ns.load(std::memory_order_relaxed) >=
      heap_purge_delay_of(h) / 2) {
    LockGuard guard(h->lock);
    heap_maybe_purge(h);
  }
}

}  // namespace

void heap_note_slow_path(ThreadHeap* h) {
  std::uint64_t now = os::now_ns();
  std::uint64_t calls = calls_so_far(h);
  if (h->last_slow_ns != 0 && calls - h->last_slow_calls <= kQuietCalls &&
      now - h->last_slow_ns >= heap_purge_delay_of(h)) {
    return_idle_caches(h);
  }
  h->last_slow_ns = now;
  h->last_slow_calls = calls;
}

namespace {

HAK_NOINLINE void* refill(ThreadHeap* h, unsigned m, bool* fresh) {
  note_medium_slow_path(h);
  medium_maybe_purge();
  // Slow start: 1, 2, 4, ... spans per refill up to half a bin, so a program holding one or
  // two medium buffers does not get a bin's worth populated.
  std::uint32_t want = medium_batch(m);
  std::uint32_t start = 1u << (h->medium_refills[m] < 5 ? h->medium_refills[m] : 5);
  if (start < want) want = start;
  if (want < 1) want = 1;
  if (h->medium_refills[m] < 255) ++h->medium_refills[m];
  void* got[kSpanBatchMax];
  bool got_fresh[kSpanBatchMax];
  std::uint32_t n = span_alloc_batch(medium_class_size(m), want, got, got_fresh);
  if (n == 0) {
    errno = ENOMEM;
    return nullptr;
  }
  void** s = slots(h, m);
  for (std::uint32_t i = 1; i < n; ++i) s[h->medium_count[m]++] = got[i];
  add_medium_bytes(h, static_cast<std::ptrdiff_t>(std::size_t{n - 1} * medium_class_size(m)));
  *fresh = got_fresh[0];
  return got[0];
}

}  // namespace

void* medium_alloc(std::size_t n, bool* fresh) {
  unsigned m = medium_class_of(n);
  ThreadHeap* h = heap_current();
  if (h == nullptr) [[unlikely]] return span_alloc(medium_class_size(m), os::kPageSize, fresh);
  std::uint32_t c = h->medium_count[m];
  if (c == 0) [[unlikely]] return refill(h, m, fresh);
  void* p = slots(h, m)[c - 1];
  h->medium_count[m] = c - 1;
  add_medium_bytes(h, -static_cast<std::ptrdiff_t>(medium_class_size(m)));
  *static_cast<std::uintptr_t*>(p) = 0;  // clear the free tag
  *fresh = false;
  return p;
}

int medium_free(void* p) {
  int m = class_of_span_bytes(span_size_owned(p));
  if (m < 0) return 0;
  auto* word = static_cast<std::uintptr_t*>(p);
  if (*word == free_tag()) [[unlikely]] return -1;
  ThreadHeap* h = heap_current();
  if (h == nullptr) [[unlikely]] return 0;
  const std::size_t size = medium_class_size(static_cast<unsigned>(m));
  const unsigned cls = static_cast<unsigned>(m);
  if (medium_bytes(h) + size > kMediumCacheBudget) [[unlikely]] {
    note_medium_slow_path(h);
    // Over budget: give back the other classes' blocks (rare: once per few MiB freed), so a
    // thread whose sizes shift keeps caching the ones it uses now instead of locking.
    for (unsigned o = 0; o < kNumMediumClasses; ++o) {
      if (o != cls && h->medium_count[o]) flush_top(h, o, h->medium_count[o]);
    }
    if (medium_bytes(h) + size > kMediumCacheBudget) return 0;
  }
  if (h->medium_count[cls] == medium_bin_capacity(cls)) [[unlikely]] {
    note_medium_slow_path(h);  // may have emptied the cache
    medium_maybe_purge();
    if (h->medium_count[cls] == medium_bin_capacity(cls)) flush_top(h, cls, medium_batch(cls));
  }
  *word = free_tag();
  slots(h, cls)[h->medium_count[cls]++] = p;
  add_medium_bytes(h, static_cast<std::ptrdiff_t>(size));
  return 1;
}

std::size_t medium_usable_size(const void* p) {
  std::size_t n = span_size_owned(p);
  if (n != 0 && class_of_span_bytes(n) >= 0 && *static_cast<const std::uintptr_t*>(p) == free_tag()) {
    return 0;  // a freed block in some thread's cache
  }
  return n;
}

void medium_flush_all(ThreadHeap* h) {
  for (unsigned m = 0; m < kNumMediumClasses; ++m) {
    if (h->medium_count[m]) flush_top(h, m, h->medium_count[m]);
  }
}

void medium_maybe_purge() {
  std::uint64_t now = os::now_ns();
  std::uint64_t due = g_next_purge_ns.load(std::memory_order_relaxed);
  if (now < due) return;
  std::uint64_t next = now + g_purge_interval_ns.load(std::memory_order_relaxed);
  // One thread per interval does the pass; the others go on.
  if (!g_next_purge_ns.compare_exchange_strong(due, next, std::memory_order_relaxed)) return;
  if (due != 0) span_purge(false);
}

void medium_set_purge_interval(std::uint64_t ns) {
  g_purge_interval_ns.store(ns, std::memory_order_relaxed);
}

}  // namespace hakmem
