#include "superslab/span.hpp"

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <new>

#include "superslab/assert.hpp"
#include "superslab/lock.hpp"
#include "superslab/os.hpp"
#include "superslab/pool.hpp"
#include "superslab/span_bitmap.hpp"
#include "superslab/superslab.hpp"

namespace hakmem {
namespace {

using span_bits::any;
using span_bits::kFirstPage;
using span_bits::kPages;
using span_bits::kWords;
using span_bits::set_range;
using span_bits::test;
constexpr unsigned kMaxRunPages = 512;  // a run never exceeds one SuperSlab
constexpr std::uintptr_t kSpanMagic = 0x5350414e4d455441ull;  // "SPANMETA"

// Lives in the SuperSlab header where small SuperSlabs keep their slab array.
struct SpanMeta {
  std::uint64_t used[kWords];        // page is part of a live span
  std::uint64_t populated[kWords];   // page is pre-faulted
  std::uint64_t dirty[kWords];       // page was handed out since it was last zero
  // Free and dirty at the last purge pass: purged at the next one if still so, i.e. after
  // it sat unused for a whole pass interval (purging pages freed a moment ago would only
  // refault them under steady churn).
  std::uint64_t purge_seen[kWords];
  std::uint16_t span_pages[kPages];  // pages of the span starting at this page
  std::uint32_t free_pages;
  // At least the longest free run (an upper bound): reserve_locked skips a SuperSlab whose
  // bound is below the request without searching its bitmap. A failed search lowers it, a
  // free raises it to the run the freed pages joined. Without it, 10,000 strings grown by
  // realloc spent 87 of 155 M allocator instructions searching fragmented SuperSlabs.
  std::uint32_t max_run;
  std::uintptr_t magic;  // magic_of(ss) while listed: lookup() trusts nothing else
  SuperSlab* next;
  SuperSlab* prev;
};
static_assert(sizeof(SpanMeta) <= sizeof(SuperSlab::slabs));

Lock g_span_lock("span");
SuperSlab* g_span_list = nullptr;
std::size_t g_empty_count = 0;
std::size_t g_span_superslabs = 0;  // held by the span allocator (list length)
std::atomic<std::uint64_t> g_span_purged_bytes{0};  // by span_purge, for tests and stats
// Span SuperSlabs populated page by page before new ones are populated whole (and advised
// huge pages): a program with a few medium buffers (python: two) does not pay 2 MiB each.
constexpr std::size_t kSparseSpanSuperSlabs = 2;

SpanMeta* meta(SuperSlab* ss) { return reinterpret_cast<SpanMeta*>(&ss->slabs[0]); }
char* page_addr(SuperSlab* ss, unsigned page) {
  return reinterpret_cast<char*>(ss) + std::size_t{page} * os::kPageSize;
}

// First used page in [from, to), or `to`.
unsigned next_used(const SpanMeta* m, unsigned from, unsigned to) {
  return span_bits::next_set(m->used, from, to);
}

void list_push(SuperSlab* ss) {
  ++g_span_superslabs;
  SpanMeta* m = meta(ss);
  m->prev = nullptr;
  m->next = g_span_list;
  if (g_span_list) meta(g_span_list)->prev = ss;
  g_span_list = ss;
}
void list_remove(SuperSlab* ss) {
  HAK_ASSERT(g_span_superslabs > 0);
  --g_span_superslabs;
  SpanMeta* m = meta(ss);
  HAK_ASSERT(m->prev ? meta(m->prev)->next == ss : g_span_list == ss);
  HAK_ASSERT(!m->next || meta(m->next)->prev == ss);
  if (m->prev) meta(m->prev)->next = m->next; else g_span_list = m->next;
  if (m->next) meta(m->next)->prev = m->prev;
  m->next = m->prev = nullptr;
}

// A SuperSlab from the pool with empty span metadata, not yet listed (so not yet seen by
// lookup(): `magic` stays 0 until adopt_locked). Called without the span lock: taking a
// SuperSlab may populate 2 MiB (5-6 ms for fresh host memory), and other threads' span
// allocations and frees must not wait for that.
SuperSlab* acquire_span_superslab(bool dense) {
  SuperSlab* ss = pool_acquire(kChunkSpan, dense);
  if (!ss) return nullptr;
  HAK_ASSERT(ss->kind == kChunkSpan && chunk_kind(ss) == kChunkSpan);
  ss->owner.store(nullptr, std::memory_order_relaxed);
  SpanMeta* m = meta(ss);
  m->magic = 0;
  for (unsigned w = 0; w < kWords; ++w) {
    m->used[w] = 0;
    m->dirty[w] = ss->zeroed ? 0 : ~std::uint64_t{0};
    m->populated[w] = 0;
    m->purge_seen[w] = 0;
  }
  // Pool populated the whole SuperSlab (dense heap or huge page): remember it.
  if (ss->populated_units == kAllUnits) set_range(m->populated, 0, kPages, true);
  for (auto& s : m->span_pages) s = 0;
  set_range(m->used, 0, kFirstPage, true);
  m->free_pages = kPages - kFirstPage;
  m->max_run = kPages - kFirstPage;
  return ss;
}

// Pages [page, page + n) were just cleared: the run they joined may be the longest now.
void note_freed_run(SpanMeta* m, unsigned page, unsigned n) {
  unsigned run = span_bits::clear_run_around(m->used, page, n);
  if (run > m->max_run) m->max_run = run;
}

std::uintptr_t magic_of(const SuperSlab* ss) { return reinterpret_cast<std::uintptr_t>(ss) ^ kSpanMagic; }

void adopt_locked(SuperSlab* ss) {
  meta(ss)->magic = magic_of(ss);
  ++g_empty_count;
  list_push(ss);
}

void drop_locked(SuperSlab* ss) {
  HAK_ASSERT(meta(ss)->free_pages == kPages - kFirstPage &&
             !any(meta(ss)->used, kFirstPage, kPages - kFirstPage));
  list_remove(ss);
  meta(ss)->magic = 0;
  // The pool knows a SuperSlab's resident memory by unit (its reserve's share of the memory
  // breakdown, and the free-unit purge once it is reused for small objects): tell it which
  // units hold pages.
  const SpanMeta* m = meta(ss);
  std::uint32_t touched = 0;
  for (unsigned u = 0; u < kUnitsPerSuperSlab; ++u) {
    constexpr unsigned kPagesPerUnit = kUnitSize / os::kPageSize;  // 16: a quarter word
    const unsigned w = u * kPagesPerUnit / 64, shift = u * kPagesPerUnit % 64;
    const std::uint64_t bits = ((m->dirty[w] | m->populated[w]) >> shift) & 0xffffu;
    if (bits) touched |= 1u << u;
  }
  ss->touched_units |= touched;
  pool_release(ss);
}

// Pages of a run that still need pre-faulting, relative to its first page. They are marked
// populated under the lock (the run is the caller's alone) and faulted in after it.
struct PopulateTodo {
  SuperSlab* ss = nullptr;
  unsigned first = 0;
  unsigned n = 0;
  std::uint64_t bits[kMaxRunPages / 64] = {};
};

void claim_unpopulated_locked(SuperSlab* ss, unsigned page, unsigned n, PopulateTodo* todo) {
  todo->ss = ss;
  todo->first = page;
  todo->n = n;
  if (os::policy().populate == os::PopulatePolicy::kNever) return;
  SpanMeta* m = meta(ss);
  for (unsigned i = 0; i < n; ++i) {
    if (test(m->populated, page + i)) continue;
    todo->bits[i / 64] |= std::uint64_t{1} << (i % 64);
    m->populated[(page + i) / 64] |= std::uint64_t{1} << ((page + i) % 64);
  }
}

// Pre-faults the claimed pages in as few madvise calls as runs. Without the span lock.
void populate_claimed(const PopulateTodo& t) {
  unsigned i = 0;
  while (i < t.n) {
    if (!test(t.bits, i)) { ++i; continue; }
    unsigned j = i;
    while (j < t.n && test(t.bits, j)) ++j;
    os::populate(page_addr(t.ss, t.first + i), std::size_t{j - i} * os::kPageSize);
    i = j;
  }
}

}  // namespace

namespace {
// Finds and takes a run of `need` pages among the listed SuperSlabs. Span lock held.
bool reserve_locked(unsigned need, unsigned align_pages, SuperSlab* only, bool* fresh, void** out,
                    PopulateTodo* todo) {
  SuperSlab* ss = only ? only : g_span_list;
  int page = -1;
  for (; ss; ss = only ? nullptr : meta(ss)->next) {
    SpanMeta* sm = meta(ss);
    if (sm->free_pages < need || sm->max_run < need) continue;
    page = span_bits::find_run(sm->used, need, align_pages);
    if (page >= 0) break;
    if (align_pages == 1) sm->max_run = need - 1;  // no run of `need` pages anywhere
  }
  if (!ss) return false;
  SpanMeta* m = meta(ss);
  if (m->free_pages == kPages - kFirstPage) --g_empty_count;
  const unsigned p = static_cast<unsigned>(page);
  HAK_ASSERT(p >= kFirstPage && p + need <= kPages && p % align_pages == 0);
  HAK_ASSERT(next_used(m, p, p + need) == p + need && m->free_pages >= need);
  set_range(m->used, p, need, true);
  m->span_pages[p] = static_cast<std::uint16_t>(need);
  m->free_pages -= need;
  claim_unpopulated_locked(ss, p, need, todo);
  if (fresh) *fresh = !any(m->dirty, p, need);
  set_range(m->dirty, p, need, true);
  *out = page_addr(ss, p);
  return true;
}
}  // namespace

void* span_alloc(std::size_t size, std::size_t align, bool* fresh) {
  if (size == 0 || size > kSpanMaxBytes || align > kSpanMaxBytes) {
    errno = ENOMEM;
    return nullptr;
  }
  unsigned need = static_cast<unsigned>((size + os::kPageSize - 1) / os::kPageSize);
  unsigned align_pages = align <= os::kPageSize ? 1 : static_cast<unsigned>(align / os::kPageSize);
  void* out = nullptr;
  PopulateTodo todo;
  bool found, dense;
  {
    LockGuard g(g_span_lock);
    found = reserve_locked(need, align_pages, nullptr, fresh, &out, &todo);
    dense = g_span_superslabs >= kSparseSpanSuperSlabs;
  }
  if (!found) {
    // No room: a new SuperSlab, taken (and maybe populated whole) without the lock.
    SuperSlab* ss = acquire_span_superslab(dense);
    if (!ss) return nullptr;
    LockGuard g(g_span_lock);
    adopt_locked(ss);
    if (!reserve_locked(need, align_pages, ss, fresh, &out, &todo)) {
      errno = ENOMEM;  // cannot happen: an empty SuperSlab holds the largest aligned span
      return nullptr;
    }
  }
  populate_claimed(todo);
  return out;
}

std::uint32_t span_alloc_batch(std::size_t size, std::uint32_t n, void** out, bool* fresh) {
  if (size == 0 || size > kSpanMaxBytes || n == 0) return 0;
  if (n > kSpanBatchMax) n = kSpanBatchMax;
  const unsigned need = static_cast<unsigned>((size + os::kPageSize - 1) / os::kPageSize);
  PopulateTodo todo[kSpanBatchMax];
  std::uint32_t got = 0;
  bool dense;
  {
    LockGuard g(g_span_lock);
    while (got < n && reserve_locked(need, 1, nullptr, &fresh[got], &out[got], &todo[got])) ++got;
    dense = g_span_superslabs >= kSparseSpanSuperSlabs;
  }
  if (got == 0) {
    // As span_alloc: the new SuperSlab is taken (and maybe populated) without the lock.
    SuperSlab* ss = acquire_span_superslab(dense);
    if (!ss) return 0;
    LockGuard g(g_span_lock);
    adopt_locked(ss);
    while (got < n && reserve_locked(need, 1, ss, &fresh[got], &out[got], &todo[got])) ++got;
  }
  for (std::uint32_t i = 0; i < got; ++i) populate_claimed(todo[i]);
  return got;
}

static bool lookup(const void* p, SuperSlab** out_ss, unsigned* out_page) {
  if (chunk_kind(p) != kChunkSpan) return false;
  if (reinterpret_cast<std::uintptr_t>(p) & (os::kPageSize - 1)) return false;
  SuperSlab* ss = superslab_of(p);
  unsigned page = static_cast<unsigned>((reinterpret_cast<const char*>(p) -
                                         reinterpret_cast<const char*>(ss)) / os::kPageSize);
  if (meta(ss)->magic != magic_of(ss)) return false;  // being set up, or not ours
  if (page < kFirstPage || meta(ss)->span_pages[page] == 0) return false;
  *out_ss = ss;
  *out_page = page;
  return true;
}

namespace {
int free_locked(void* p) {
  SuperSlab* ss;
  unsigned page;
  if (!lookup(p, &ss, &page)) return -1;
  SpanMeta* m = meta(ss);
  unsigned n = m->span_pages[page];
  // The span's pages are all in use, and the free count cannot pass the SuperSlab's size.
  HAK_ASSERT(page + n <= kPages && span_bits::all(m->used, page, n));
  HAK_ASSERT(m->free_pages + n <= kPages - kFirstPage);
  m->span_pages[page] = 0;
  set_range(m->used, page, n, false);
  m->free_pages += n;
  note_freed_run(m, page, n);
  if (m->free_pages == kPages - kFirstPage) {
    // Keep one empty span SuperSlab warm; hand the others back to the pool.
    if (g_empty_count >= 1) {
      drop_locked(ss);
    } else {
      ++g_empty_count;
    }
  }
  return 0;
}
}  // namespace

int span_free(void* p) {
  LockGuard g(g_span_lock);
  return free_locked(p);
}

std::uint32_t span_free_batch(void* const* ps, std::uint32_t n) {
  std::uint32_t freed = 0;
  LockGuard g(g_span_lock);
  for (std::uint32_t i = 0; i < n; ++i) freed += free_locked(ps[i]) == 0;
  return freed;
}

std::size_t span_size_owned(const void* p) {
  SuperSlab* ss;
  unsigned page;
  if (!lookup(p, &ss, &page)) return 0;
  return std::size_t{meta(ss)->span_pages[page]} * os::kPageSize;
}

std::size_t span_size(const void* p) {
  LockGuard g(g_span_lock);
  SuperSlab* ss;
  unsigned page;
  if (!lookup(p, &ss, &page)) return 0;
  return std::size_t{meta(ss)->span_pages[page]} * os::kPageSize;
}

bool span_resize_in_place(void* p, std::size_t new_size) {
  if (new_size == 0 || new_size > kSpanMaxBytes) return false;
  unsigned need = static_cast<unsigned>((new_size + os::kPageSize - 1) / os::kPageSize);
  PopulateTodo todo;
  {
    LockGuard g(g_span_lock);
    SuperSlab* ss;
    unsigned page;
    if (!lookup(p, &ss, &page)) return false;
    SpanMeta* m = meta(ss);
    unsigned have = m->span_pages[page];
    HAK_ASSERT(have > 0 && page + have <= kPages && span_bits::all(m->used, page, have));
    if (need == have) return true;
    if (need < have) {
      set_range(m->used, page + need, have - need, false);
      m->free_pages += have - need;
      note_freed_run(m, page + need, have - need);
    } else {
      if (page + need > kPages || next_used(m, page + have, page + need) != page + need) {
        return false;
      }
      set_range(m->used, page + have, need - have, true);
      m->free_pages -= need - have;
      claim_unpopulated_locked(ss, page + have, need - have, &todo);
      set_range(m->dirty, page + have, need - have, true);
    }
    m->span_pages[page] = static_cast<std::uint16_t>(need);
  }
  if (todo.ss) populate_claimed(todo);  // the caller's own pages: no lock needed
  return true;
}

std::size_t span_release_empty() {
  LockGuard g(g_span_lock);
  std::size_t n = 0;
  for (SuperSlab* ss = g_span_list; ss;) {
    SuperSlab* next = meta(ss)->next;
    if (meta(ss)->free_pages == kPages - kFirstPage) {
      drop_locked(ss);
      --g_empty_count;
      ++n;
    }
    ss = next;
  }
  return n;
}

// Free pages still holding memory (dirty) that were so at the previous pass too, or all of
// them when forced, go back with MADV_DONTNEED: RSS drops now, and the next span carved
// there is zero (dirty cleared) and populated again (populated cleared). Under the span
// lock, so no span can be carved on a page while it is purged; passes run once per purge
// interval, from the purger thread, malloc_trim or a medium slow path, never per call.
std::size_t span_purge(bool force) {
  LockGuard g(g_span_lock);
  std::size_t bytes = 0;
  for (SuperSlab* ss = g_span_list; ss; ss = meta(ss)->next) {
    if (ss->hugetlb) continue;  // only whole 2 MiB pages can go back (see pool_purge)
    SpanMeta* m = meta(ss);
    for (unsigned w = 0; w < kWords; ++w) {
      std::uint64_t idle = ~m->used[w] & m->dirty[w];
      std::uint64_t go = force ? idle : idle & m->purge_seen[w];
      m->purge_seen[w] = idle & ~go;
      while (go) {
        // One madvise per run of consecutive pages in this word.
        unsigned lo = static_cast<unsigned>(__builtin_ctzll(go));
        std::uint64_t rest = go >> lo;
        unsigned len = rest == ~std::uint64_t{0} ? 64 - lo : static_cast<unsigned>(__builtin_ctzll(~rest));
        std::uint64_t run = (len == 64 ? ~std::uint64_t{0} : ((std::uint64_t{1} << len) - 1)) << lo;
        std::size_t n = std::size_t{len} * os::kPageSize;
        if (os::purge_now(page_addr(ss, w * 64 + lo), n)) {
          m->dirty[w] &= ~run;
          m->populated[w] &= ~run;
          bytes += n;
        }
        go &= ~run;
      }
    }
  }
  g_span_purged_bytes.fetch_add(bytes, std::memory_order_relaxed);
  return bytes;
}

void span_account(SpanAccount* out) {
  UncountedLockGuard g(g_span_lock);  // the profiler's look: not in the lock table
  for (SuperSlab* ss = g_span_list; ss; ss = meta(ss)->next) {
    const SpanMeta* m = meta(ss);
    ++out->superslabs;
    std::uint64_t used = 0, resident = 0;
    for (unsigned w = 0; w < kWords; ++w) {
      used += static_cast<unsigned>(__builtin_popcountll(m->used[w]));
      resident += static_cast<unsigned>(__builtin_popcountll(~m->used[w] & (m->dirty[w] | m->populated[w])));
    }
    used -= kFirstPage;  // the header's pages are marked used
    const std::uint64_t free_pages = kPages - kFirstPage - used;
    out->live += used * os::kPageSize;
    out->free_resident += resident * os::kPageSize;
    out->free_purged += (free_pages - resident) * os::kPageSize;
  }
}

std::uint64_t span_purged_bytes() { return g_span_purged_bytes.load(std::memory_order_relaxed); }

const LockStats& span_lock_stats() { return g_span_lock.stats(); }

void span_fork_prepare() { g_span_lock.lock(); }
void span_fork_parent() { g_span_lock.unlock(); }
void span_fork_child() { g_span_lock.reset_after_fork(); }

}  // namespace hakmem
