// Giving memory back from inside a heap: whole pages of partially used slabs whose objects
// are all free, and free units of owned SuperSlabs. Runs on the owner's slow paths once per
// decay delay, from malloc_trim, or from the background purger (which try-locks the heap),
// never on the fast path.
#include "superslab/os.hpp"
#include "superslab/pool.hpp"
#include "unified_cache/heap_internal.hpp"

namespace hakmem {
namespace {

std::atomic<std::uint64_t> g_purge_delay_ns{500ull * 1000 * 1000};  // PURGE_DELAY_MS until configured
constexpr std::size_t kPage = os::kPageSize;
constexpr std::uint32_t kMaxSlabObjects = 4 * kUnitSize / 16;  // 16 B objects in 4 units

// Object indices [lo, hi] overlapping page `pg` of the slab (pages counted from `base`).
struct PageObjects {
  std::uint32_t lo, hi;
};

char* page_base(const Slab* s) {
  return reinterpret_cast<char*>(reinterpret_cast<std::uintptr_t>(s->start) & ~(kPage - 1));
}

PageObjects objects_on_page(const Slab* s, unsigned pg) {
  char* pstart = page_base(s) + std::size_t{pg} * kPage;
  char* pend = pstart + kPage;
  std::size_t first = pstart < s->start ? 0 : static_cast<std::size_t>(pstart - s->start) / s->obj_size;
  std::size_t last = static_cast<std::size_t>(pend - 1 - s->start) / s->obj_size;
  return PageObjects{static_cast<std::uint32_t>(first), static_cast<std::uint32_t>(last)};
}

bool bit(const std::uint64_t* b, std::uint32_t i) { return (b[i / 64] >> (i % 64)) & 1; }

// Does object i of s overlap any page in `pages` (a bitmask of the slab's pages)?
bool object_on_pages(const Slab* s, std::uint32_t i, std::uint64_t pages) {
  char* ostart = s->start + std::size_t{i} * s->obj_size;
  unsigned first = static_cast<unsigned>((ostart - page_base(s)) / kPage);
  unsigned last = static_cast<unsigned>((ostart + s->obj_size - 1 - page_base(s)) / kPage);
  for (unsigned q = first; q <= last && q < 64; ++q) {
    if ((pages >> q) & 1) return true;
  }
  return false;
}

// Purges the pages of s on which every object is free; parks those objects. Returns bytes.
std::size_t slab_purge_pages(SuperSlab* ss, Slab* s, bool force) {
  if (ss->hugetlb) return 0;  // only whole 2 MiB pages can go back (see pool_purge)
  slab_collect_remote(s);
  if (!force && !s->purge_dirty && !s->purge_candidates) return 0;  // unchanged since last pass
  s->purge_dirty = false;
  std::uint32_t per_page = static_cast<std::uint32_t>(kPage / s->obj_size);
  std::uint32_t carved = static_cast<std::uint32_t>((s->bump - s->start) / s->obj_size);
  std::uint32_t free_in_list = carved - s->used;  // parked objects are neither
  if (free_in_list < (per_page ? per_page : 1) || carved == 0) return 0;

  std::uint64_t free_bits[kMaxSlabObjects / 64] = {};
  std::uint32_t listed = 0;
  for (FreeObject* o = s->local_free; o; o = o->next) {
    std::uint32_t idx = static_cast<std::uint32_t>((reinterpret_cast<char*>(o) - s->start) / s->obj_size);
    free_bits[idx / 64] |= std::uint64_t{1} << (idx % 64);
    ++listed;
  }
  if (listed == 0) return 0;
  // Pages wholly inside the carved part [start, bump); the bump area stays populated.
  unsigned pages = static_cast<unsigned>((s->bump - page_base(s)) / kPage);
  std::uint64_t newly = 0;
  for (unsigned pg = 0; pg < pages && pg < 64; ++pg) {
    if ((s->purged_pages >> pg) & 1) continue;
    char* pstart = page_base(s) + std::size_t{pg} * kPage;
    if (pstart < s->start) continue;  // shares its page with the SuperSlab header
    PageObjects po = objects_on_page(s, pg);
    if (po.hi >= carved) continue;
    bool all_free = true;
    for (std::uint32_t i = po.lo; i <= po.hi && all_free; ++i) {
      // An object also overlapping an already purged page is parked, hence free.
      all_free = bit(free_bits, i) || object_on_pages(s, i, s->purged_pages);
    }
    if (all_free) newly |= std::uint64_t{1} << pg;
  }
  // Two passes: pages all-free now and at the last pass go; the others wait for the next.
  std::uint64_t due = force ? newly : newly & s->purge_candidates;
  s->purge_candidates = newly & ~due;
  newly = due;
  if (!newly) return 0;
  std::size_t released = 0;
  for (std::uint64_t m = newly; m;) {
    unsigned pg = static_cast<unsigned>(__builtin_ctzll(m));
    unsigned end = pg;
    while (end < 64 && (m >> end) & 1) ++end;
    os::purge_now(page_base(s) + std::size_t{pg} * kPage, std::size_t{end - pg} * kPage);
    released += std::size_t{end - pg} * kPage;
    m &= end >= 64 ? 0 : ~((std::uint64_t{1} << end) - 1);
  }
  s->purged_pages |= newly;
  // Rebuild the free list without the objects on purged pages (their memory is gone).
  FreeObject* head = nullptr;
  for (std::uint32_t i = carved; i-- > 0;) {
    if (!bit(free_bits, i) || object_on_pages(s, i, s->purged_pages)) continue;
    auto* o = reinterpret_cast<FreeObject*>(s->start + std::size_t{i} * s->obj_size);
    o->next = head;
    head = o;
  }
  s->local_free = head;
  // The units are no longer wholly populated: a re-carve must populate them again.
  for (unsigned u = s->first_unit; u < s->first_unit + s->units; ++u) ss->populated_units &= ~(1u << u);
  return released;
}

}  // namespace

void slab_unpark(SuperSlab*, Slab* s) {
  std::uint64_t purged = s->purged_pages;
  if (!purged) return;
  for (std::uint64_t m = purged; m;) {
    unsigned pg = static_cast<unsigned>(__builtin_ctzll(m));
    unsigned end = pg;
    while (end < 64 && (m >> end) & 1) ++end;
    if (os::policy().populate != os::PopulatePolicy::kNever) {
      os::populate(page_base(s) + std::size_t{pg} * kPage, std::size_t{end - pg} * kPage);
    }
    m &= end >= 64 ? 0 : ~((std::uint64_t{1} << end) - 1);
  }
  std::uint32_t carved = static_cast<std::uint32_t>((s->bump - s->start) / s->obj_size);
  for (std::uint32_t i = carved; i-- > 0;) {
    if (!object_on_pages(s, i, purged)) continue;
    auto* o = reinterpret_cast<FreeObject*>(s->start + std::size_t{i} * s->obj_size);
    o->tag = free_tag(o);  // its page was zeroed: free again, and tagged so
    o->next = s->local_free;
    s->local_free = o;
  }
  s->purged_pages = 0;
  s->purge_dirty = true;  // those pages are all-free again
}

std::size_t heap_purge(ThreadHeap* h, bool force) {
  std::uint64_t now = os::now_ns();
  // Passes half a delay apart: a page is given back at the second pass that finds it
  // all-free, so memory unused for between half a delay and one delay goes back, within one
  // delay of being freed (steady churn still never frees and refaults the same pages).
  if (!force && now - h->last_purge_ns.load(std::memory_order_relaxed) <
                    g_purge_delay_ns.load(std::memory_order_relaxed) / 2) {
    return 0;
  }
  h->last_purge_ns.store(now, std::memory_order_relaxed);
  heap_process_notifications(h);
  std::size_t released = 0;
  for (SuperSlab* ss = h->owned; ss; ss = ss->next) {
    for (unsigned u = 0; u < kUnitsPerSuperSlab; ++u) {
      Slab* s = &ss->slabs[u];
      if (s->state == SlabState::kUnused || s->first_unit != u) continue;
      released += slab_purge_pages(ss, s, force);
    }
    released += superslab_purge_free_units(ss, force);
  }
  return released;
}

void heap_maybe_purge(ThreadHeap* h) {
  heap_purge(h, false);  // returns at once unless the decay delay has passed
  pool_maybe_purge();
}

namespace {
struct PurgeCtx {
  bool force;
  std::size_t released;
};
void purge_one(const ThreadHeap* ch, void* arg) {
  auto* h = const_cast<ThreadHeap*>(ch);
  auto* ctx = static_cast<PurgeCtx*>(arg);
  // A heap whose owner passed a purge point within the last delay is active: its own slow
  // paths purge it, and taking its lock here would only make the owner wait. The purger is
  // for heaps whose owner went quiet (idle, exited into a long computation, blocked).
  std::uint64_t delay = g_purge_delay_ns.load(std::memory_order_relaxed);
  if (!ctx->force && os::now_ns() - h->last_purge_ns.load(std::memory_order_relaxed) < delay) {
    return;
  }
  if (!h->lock.try_lock()) return;  // busy: its owner is on a slow path and will purge itself
  ctx->released += heap_purge(h, ctx->force);
  h->lock.unlock();
}
}  // namespace

std::size_t heap_purge_idle_heaps(bool force) {
  heap_retire_parked(force);  // their memory then goes back with the pool's and slabs'
  PurgeCtx ctx{force, 0};
  heap_visit_live(purge_one, &ctx);
  return ctx.released;
}

std::uint64_t heap_purge_delay_ns() { return g_purge_delay_ns.load(std::memory_order_relaxed); }

void heap_set_purge_delay(std::uint64_t ns) { g_purge_delay_ns.store(ns, std::memory_order_relaxed); }

}  // namespace hakmem
