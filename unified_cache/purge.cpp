// Giving memory back from inside a heap: whole pages of partially used slabs whose objects
// are all free, and free units of owned SuperSlabs. Runs on the owner's slow paths once per
// decay delay, from malloc_trim, or from the background purger (which try-locks the heap),
// never on the fast path.
#include "superslab/os.hpp"
#include "superslab/pool.hpp"
#include "unified_cache/heap_internal.hpp"
#include "unified_cache/secure.hpp"
#include "unified_cache/purge_pages.hpp"

namespace hakmem {
namespace {

// PURGE_DELAY_MS, set by heap_set_purge_delay at start-up (allocator/config.cpp: config_apply
// runs before the first allocation and holds the default).
std::atomic<std::uint64_t> g_purge_delay_ns{0};
constexpr std::size_t kPage = os::kPageSize;
constexpr std::uint32_t kMaxSlabObjects = 4 * kUnitSize / 16;  // 16 B objects in 4 units
using purge_pages::bit;
using purge_pages::for_each_run;
using purge_pages::object_on_pages;

purge_pages::SlabGeometry geometry_of(const Slab* s) {
  return purge_pages::SlabGeometry{static_cast<std::uint32_t>(s->start - slab_page_base(s)), s->obj_size,
                                   static_cast<std::uint32_t>((s->bump - s->start) / s->obj_size)};
}

// A purge or re-populate range: whole pages of the slab, after its first object's page
// start and before its bump pointer (nothing past it was ever handed out).
[[maybe_unused]] bool slab_page_range_ok(const SuperSlab* ss, const Slab* s, const char* p,
                                         std::size_t len) {
  const char* slab_end = reinterpret_cast<const char*>(ss) +
                         static_cast<std::size_t>(s->first_unit + s->units) * kUnitSize;
  return reinterpret_cast<std::uintptr_t>(p) % kPage == 0 && len % kPage == 0 && len > 0 &&
         p >= s->start && p + len <= s->bump && p + len <= slab_end;
}

// Purges the pages of s on which every object is free; parks those objects. Returns bytes.
std::size_t slab_purge_pages(SuperSlab* ss, Slab* s, bool force) {
  if (ss->hugetlb) return 0;  // only whole 2 MiB pages can go back (see pool_purge)
  slab_collect_remote(s);
  if (!force && !s->purge_dirty && !s->purge_candidates) return 0;  // unchanged since last pass
  s->purge_dirty = false;
  std::uint32_t per_page = static_cast<std::uint32_t>(kPage / s->obj_size);
  std::uint32_t carved = static_cast<std::uint32_t>((s->bump - s->start) / s->obj_size);
  HAK_ASSERT(s->used <= carved && carved <= s->capacity && carved <= kMaxSlabObjects);
  std::uint32_t free_in_list = carved - s->used;  // parked objects are neither
  if (free_in_list < (per_page ? per_page : 1) || carved == 0) return 0;

  std::uint64_t free_bits[kMaxSlabObjects / 64] = {};
  std::uint32_t listed = 0;
  for (FreeObject* o = s->local_free; o; o = slab_list_next(s, o)) {
    std::uint32_t idx = static_cast<std::uint32_t>((reinterpret_cast<char*>(o) - s->start) / s->obj_size);
    HAK_ASSERT(reinterpret_cast<char*>(o) >= s->start && idx < carved && !bit(free_bits, idx));
    free_bits[idx / 64] |= std::uint64_t{1} << (idx % 64);
    ++listed;
  }
  HAK_ASSERT(listed <= free_in_list);  // the rest are parked or still on the remote list
  if (listed == 0) return 0;
  const purge_pages::SlabGeometry geo = geometry_of(s);
  std::uint64_t newly = purge_pages::all_free_pages(geo, free_bits, s->purged_pages);
  // Two passes: pages all-free now and at the last pass go; the others wait for the next.
  std::uint64_t due = force ? newly : newly & s->purge_candidates;
  s->purge_candidates = newly & ~due;
  newly = due;
  if (!newly) return 0;
  std::size_t released = 0;
  for_each_run(newly, [&](unsigned pg, unsigned n) {
    char* p = slab_page_base(s) + std::size_t{pg} * kPage;
    HAK_ASSERT(slab_page_range_ok(ss, s, p, std::size_t{n} * kPage));
    os::purge_now(p, std::size_t{n} * kPage);
    released += std::size_t{n} * kPage;
  });
  s->purged_pages |= newly;
  // Rebuild the free list without the objects on purged pages (their memory is gone).
  FreeObject* head = nullptr;
  for (std::uint32_t i = carved; i-- > 0;) {
    if (!bit(free_bits, i) || object_on_pages(geo, i, s->purged_pages)) continue;
    auto* o = reinterpret_cast<FreeObject*>(s->start + std::size_t{i} * s->obj_size);
    link_set(o, head);
    head = o;
  }
  s->local_free = head;
  // The units are no longer wholly populated: a re-carve must populate them again.
  ss->populated_units &= ~unit_run_mask(s->first_unit, s->units);
  return released;
}

}  // namespace

std::uint32_t slab_unpark([[maybe_unused]] SuperSlab* ss, Slab* s) {
  std::uint64_t purged = s->purged_pages;
  if (!purged) return 0;
  std::uint32_t populated = 0;
  if (os::policy().populate != os::PopulatePolicy::kNever) {
    populated = static_cast<std::uint32_t>(__builtin_popcountll(purged));
    for_each_run(purged, [&](unsigned pg, unsigned n) {
      char* p = slab_page_base(s) + std::size_t{pg} * kPage;
      HAK_ASSERT(slab_page_range_ok(ss, s, p, std::size_t{n} * kPage));
      os::populate(p, std::size_t{n} * kPage);
    });
  }
  const purge_pages::SlabGeometry geo = geometry_of(s);
  for (std::uint32_t i = geo.carved; i-- > 0;) {
    if (!object_on_pages(geo, i, purged)) continue;
    auto* o = reinterpret_cast<FreeObject*>(s->start + std::size_t{i} * s->obj_size);
    o->tag = free_tag();  // its page was zeroed: free again, and tagged so
    link_set(o, s->local_free);
    s->local_free = o;
  }
  s->purged_pages = 0;
  s->purge_dirty = true;  // those pages are all-free again
  return populated;
}

// Purge feedback. Giving back memory the heap then populates again (the same pages, or as
// many others: the footprint did not shrink, it moved) cost a madvise, a TLB shootdown and
// the faults, and saved nothing: the program only paused (a daemon between requests, a
// benchmark between rounds). Each pass judges what the last pass that did anything gave
// back by the pages the heap populated since. One pass that finds at least half of it
// populated again doubles the heap's delay, up to 2^kMaxPurgeBackoff times PURGE_DELAY_MS;
// kQuietPassesPerFall passes in a row that find less than an eighth halve it again (one pass
// that gives back a few stray pages with no burst after it must not undo what the bursts
// showed). A program that stops for good still gets its memory back, only later.
namespace {
void purge_feedback(ThreadHeap* h, std::uint64_t populated) {
  std::uint64_t last = h->purged_last_pass;
  if (last == 0) return;  // the last pass gave nothing back: nothing to judge
  unsigned b = h->purge_backoff.load(std::memory_order_relaxed);
  if (populated * 2 >= last) {
    if (b < kMaxPurgeBackoff) ++b;
    h->purge_quiet_passes = 0;
  } else if (populated * 8 < last && ++h->purge_quiet_passes >= kQuietPassesPerFall) {
    if (b > 0) --b;
    h->purge_quiet_passes = 0;
  }
  h->purge_backoff.store(static_cast<std::uint8_t>(b), std::memory_order_relaxed);
}
}  // namespace

std::uint64_t heap_purge_delay_of(const ThreadHeap* h) {
  return g_purge_delay_ns.load(std::memory_order_relaxed)
         << h->purge_backoff.load(std::memory_order_relaxed);
}

std::size_t heap_purge(ThreadHeap* h, bool force) {
  std::uint64_t now = os::now_ns();
  // Passes half a delay apart: a page is given back at the second pass that finds it
  // all-free, so memory unused for between half a delay and one delay goes back, within one
  // delay of being freed (steady churn still never frees and refaults the same pages).
  if (!force &&
      now - h->last_purge_ns.load(std::memory_order_relaxed) < heap_purge_delay_of(h) / 2) {
    return 0;
  }
  h->last_purge_ns.store(now, std::memory_order_relaxed);
  heap_process_notifications(h);
  // Pages the heap populated since the last pass: fresh ones, and ones passes gave back.
  std::uint64_t faults = h->counters.slow_path_faults.load(std::memory_order_relaxed);
  std::uint64_t populated = (faults - h->faults_at_last_pass) * kPage;
  h->faults_at_last_pass = faults;
  std::size_t released = 0;
  for (SuperSlab* ss = h->owned; ss;) {
    HAK_ASSERT(ss->owner.load(std::memory_order_relaxed) == h);
    SuperSlab* next = ss->next;  // ss may move to the front, or leave for the pool
    bool gone = false;
    for (unsigned u = 0; u < kUnitsPerSuperSlab && !gone; ++u) {
      Slab* s = &ss->slabs[u];
      if (s->state == SlabState::kUnused || s->first_unit != u) continue;
      if (slab_settle_remote(h, ss, s, &gone)) continue;  // emptied: its units went back
      released += slab_purge_pages(ss, s, force);
    }
    if (!gone) released += superslab_purge_free_units(ss, force);
    ss = next;
  }
  // Forced passes too (malloc_trim, a quiet thread's caches): what is populated again after
  // them says the same about the automatic ones.
  purge_feedback(h, populated);
  // A pass that neither gave back nor saw anything populated (slow paths come often in a
  // burst) leaves the judgement pending: the burst that needs the memory again comes later.
  if (released != 0 || populated != 0) h->purged_last_pass = released;
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
  std::uint64_t delay = heap_purge_delay_of(h);
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
