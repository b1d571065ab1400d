// Refill: the path a malloc takes when its bin is empty.
#include <cerrno>

#include "superslab/latency.hpp"
#include "superslab/os.hpp"
#include "superslab/pool.hpp"
#include "unified_cache/heap_internal.hpp"
#include "unified_cache/medium.hpp"
#include "unified_cache/purge_pages.hpp"
#include "unified_cache/secure.hpp"

namespace hakmem {

std::uint32_t slab_collect_remote(Slab* s) {
  if (s->remote_free.load(std::memory_order_relaxed) == nullptr) return 0;
  FreeObject* chain = s->remote_free.exchange(nullptr, std::memory_order_acquire);
  std::uint32_t n = 0;
  FreeObject* tail = chain;
  for (FreeObject* o = chain; o; o = slab_list_next(s, o)) {
    ++n;
    tail = o;
  }
  if (chain) {
    HAK_ASSERT(n <= s->used);  // remote frees were handed out, so counted in used
    link_set(tail, s->local_free);
    s->local_free = chain;
    s->used -= n;
    s->purge_dirty = true;
  }
  return n;
}

// Collects s's remote frees and settles the slab as a local free would: a full slab goes
// back on its class's list, an empty one other than the class's current slab gives its
// units back. Objects freed by other threads into a slab that is not full were otherwise
// collected only when refill reached the slab, so a slab emptied from afar stayed carved
// (and only its pages were purged) for as long as its class needed no new objects; a
// full slab's frees collected here, after its notification was handled, would have left
// it off every list with free objects. True if s was released (*gone: and ss with it).
bool slab_settle_remote(ThreadHeap* h, SuperSlab* ss, Slab* s, bool* gone) {
  if (slab_collect_remote(s) == 0) return false;
  if (s->state == SlabState::kFull) {
    s->state = SlabState::kActive;
    if (s->used != 0) {
      partial_push_behind(h, s);
      return false;
    }
  } else if (s->used != 0 || h->partial[s->cls] == s) {
    return false;
  } else {
    partial_remove(h, s);
  }
  *gone = heap_slab_empty(h, ss, s);
  return true;
}

static void add_slow_path_faults(ThreadHeap* h, std::uint64_t n) {
  auto& f = h->counters.slow_path_faults;
  f.store(f.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

// Slabs not populated whole: pre-faults the pages the refill is about to hand out. Each
// page populated here is one fault (the pages are fresh or were purged); they are counted
// without a getrusage call, which would cost more than the populate itself.
static void slab_populate_for_bump(ThreadHeap* h, Slab* s) {
  SuperSlab* ss = superslab_of(s);
  if (os::policy().populate == os::PopulatePolicy::kNever) return;
  add_slow_path_faults(h, superslab_populate_slab(ss, s, s->bump) / os::kPageSize);
}

// Moves up to `want` objects of slab s into out[]; marks the objects as bin residents.
static std::uint32_t slab_take(ThreadHeap* h, Slab* s, void** out, std::uint32_t want) {
  HAK_ASSERT(s->state == SlabState::kActive && s->used <= s->capacity);
  HAK_ASSERT(superslab_of(s)->owner.load(std::memory_order_relaxed) == h);
  HAK_ASSERT(s->start <= s->bump && s->bump <= s->limit);
  std::uint32_t n = 0;
  if (!s->local_free) slab_collect_remote(s);
  if (!s->local_free && s->bump >= s->limit && s->purged_pages) {
    add_slow_path_faults(h, slab_unpark(superslab_of(s), s));
  }
  bool secure = secure_mode();
  // Pages a purge pass found all-free wait for the next pass to find them so again
  // (purge.cpp); one an object is handed out from was not free meanwhile, so it starts over.
  // Otherwise a program that works in bursts a little over a delay apart would have the
  // same pages found free at two passes, given back and faulted in again every burst.
  const char* page_base = slab_page_base(s);
  while (n < want && s->local_free) {
    FreeObject* o = s->local_free;
    s->local_free = slab_list_next(s, o);
    HAK_ASSERT(slab_holds_object(s, o));  // a corrupt link would hand out foreign memory
    if (s->purge_candidates) [[unlikely]] {
      s->purge_candidates &= ~purge_pages::object_pages(
          static_cast<std::size_t>(reinterpret_cast<char*>(o) - page_base), s->obj_size);
    }
    if (secure) o->link = 0;  // back to tag + zeros (secure.hpp)
    out[n++] = o;
  }
  if (n < want && s->bump < s->limit) {
    std::uint32_t avail = static_cast<std::uint32_t>((s->limit - s->bump) / s->obj_size);
    std::uint32_t k = want - n < avail ? want - n : avail;
    // Lowest address ends on top of the bin, so it is handed out first.
    for (std::uint32_t i = 0; i < k; ++i) out[n + i] = s->bump + std::size_t{k - 1 - i} * s->obj_size;
    s->bump += std::size_t{k} * s->obj_size;
    HAK_ASSERT(s->bump <= s->limit);
    slab_populate_for_bump(h, s);
    // Secure mode: recycled memory may hold an earlier object's bytes; new objects start as
    // a free leaves them, tagged (cache_refill_pop tags none in secure mode: a list object
    // whose tag a bug overwrote must stay untagged, so that its check refuses it).
    if (secure) {
      for (std::uint32_t i = 0; i < k; ++i) {
        secure_scrub(out[n + i], s->obj_size);
        static_cast<FreeObject*>(out[n + i])->tag = free_tag();
      }
    }
    n += k;
  }
  s->used += n;
  HAK_ASSERT(s->used <= s->capacity);
  return n;
}

static bool slab_has_free(const Slab* s) {
  return s->local_free || s->bump < s->limit || s->purged_pages ||
         s->remote_free.load(std::memory_order_relaxed) != nullptr;
}

static Slab* carve_for(ThreadHeap* h, SuperSlab* ss, unsigned cls, bool populate,
                       std::uint32_t allowed_units = kAllUnits) {
  std::uint32_t was_populated = ss->populated_units;
  Slab* s = superslab_carve_slab(ss, cls, kClassSize[cls], populate, bin_offset(cls),
                                 allowed_units);
  if (!s) return nullptr;
  HAK_ASSERT(s->cls == cls && s->obj_size == kClassSize[cls] && s->used == 0);
  HAK_ASSERT(reinterpret_cast<std::uintptr_t>(s->start) % 16 == 0);
  if (ss->populated_units != was_populated) {
    add_slow_path_faults(h, std::uint64_t{s->units} * kUnitSize / os::kPageSize);
  }
  if (h->class_slabs[cls] != 0xffff) ++h->class_slabs[cls];
  partial_push(h, s);
  // Full now: behind the others, or the scan for free units would stop at it and every
  // SuperSlab behind it would be left with its free units while new ones were mapped.
  if (ss->free_units == 0) owned_move_back(h, ss);
  return s;
}

// A new slab for cls: notifications, owned SuperSlabs, orphans, then the pool. A class that
// has filled a few slabs (pool_dense_threshold) allocates in bulk: its slabs are populated
// whole when carved, and a new SuperSlab taken for it may get huge pages (when the cost
// model says they pay). The first slabs of every class are populated page by page, so a
// small program or thread costs kilobytes.
static Slab* heap_new_slab(ThreadHeap* h, unsigned cls) {
  heap_process_notifications(h);
  if (h->partial[cls]) return h->partial[cls];
  bool populate_ok = os::policy().populate != os::PopulatePolicy::kNever;
  bool bulk = h->class_slabs[cls] >= pool_dense_threshold();
  bool populate = populate_ok && bulk;
  // Free units that are already resident (a huge-page SuperSlab's, or a purge's leftovers)
  // cost neither faults nor memory: take them first, then any free unit.
  for (SuperSlab* ss = h->owned; ss; ss = ss->next) {
    if (ss->free_units == 0) break;  // SuperSlabs with free units are kept in front
    std::uint32_t resident = ss->free_units & ss->populated_units;
    if (resident) {
      if (Slab* s = carve_for(h, ss, cls, populate, resident)) return s;
    }
  }
  for (SuperSlab* ss = h->owned; ss; ss = ss->next) {
    if (ss->free_units == 0) break;
    if (Slab* s = carve_for(h, ss, cls, populate)) return s;
  }
  while (SuperSlab* orphan = pool_orphan_pop()) {
    // Adoption may find it empty and hand it to the pool: it is not ours to touch then.
    bool kept = heap_adopt(h, orphan);
    if (h->partial[cls]) return h->partial[cls];
    if (!kept) continue;
    if (Slab* s = carve_for(h, orphan, cls, populate)) return s;
  }
  HAK_ASSERT(owned_order_ok(h));  // else free units were skipped above
  // Only a new SuperSlab can fault much (a whole populate, or a header on fresh memory):
  // faults are measured around that, not around every refill (getrusage is a syscall).
  std::uint64_t faults_before = os::minor_faults();
  SuperSlab* ss = pool_acquire(kChunkSmall, bulk);
  if (ss) superslab_init_small(ss, h);
  add_slow_path_faults(h, os::minor_faults() - faults_before);
  if (!ss) return nullptr;
  owned_push_front(h, ss);
  return carve_for(h, ss, cls, populate);
}

void* cache_refill_pop(unsigned cls) {
  LatencyTimer timer(Latency::kRefill);
  ThreadHeap* h = heap_current();
  if (!h) {
    errno = ENOMEM;
    return nullptr;
  }
  heap_note_slow_path(h);  // may return the caches of a thread back from idle
  LockGuard guard(h->lock);
  heap_maybe_purge(h);
  Bin& b = heap_bin(h, cls);
  std::uint32_t want = class_refill_batch(cls);
  // A class's first refills in a heap take one page, then two, of objects: the batch is
  // memory populated and tagged, and most classes of a short program or thread never need
  // a second refill (each page not handed out is a fault saved, ~90 per process start).
  std::uint64_t earlier = h->counters.class_refills[cls].load(std::memory_order_relaxed);
  if (earlier < 2) {
    std::uint32_t cap = static_cast<std::uint32_t>((os::kPageSize << earlier) / kClassSize[cls]);
    if (cap < 1) cap = 1;
    if (want > cap) want = cap;
  }
  std::uint32_t got = static_cast<std::uint32_t>(b.top - b.base);  // 0 unless re-entered
  HAK_ASSERT(b.base <= b.top && b.top <= b.limit && b.base + want <= b.limit);
  while (got < want) {
    Slab* s = h->partial[cls];
    if (!s) {
      s = heap_new_slab(h, cls);
      if (!s) break;
    }
    HAK_ASSERT(s->cls == cls && s->state == SlabState::kActive);
    got += slab_take(h, s, b.base + got, want - got);
    if (!slab_has_free(s)) {
      partial_remove(h, s);
      s->state = SlabState::kFull;
    }
  }
  // Bin residents carry the free tag in their first word (double-free detection); objects
  // from a slab's list have it already, newly carved ones get it here.
  std::uint32_t had = static_cast<std::uint32_t>(b.top - b.base);
  if (secure_mode()) {
    secure_shuffle(h, b.base + had, got - had);  // tagged by slab_take already
  } else {
    for (std::uint32_t i = had; i < got; ++i) {
      static_cast<FreeObject*>(b.base[i])->tag = free_tag();
    }
  }
  b.top = b.base + got;
  auto& c = h->counters;
  c.refills.store(c.refills.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  c.class_refills[cls].store(c.class_refills[cls].load(std::memory_order_relaxed) + 1,
                             std::memory_order_relaxed);
  heap_publish(h);

  if (got == 0) {
    errno = ENOMEM;
    return nullptr;
  }
  void* p = *--b.top;
  return p;
}

void heap_process_notifications(ThreadHeap* h) {
  if (!h->remote_pending.load(std::memory_order_relaxed)) return;
  h->remote_pending.exchange(false, std::memory_order_acquire);
  for (SuperSlab* ss = h->owned; ss;) {
    SuperSlab* next = ss->next;  // ss may leave the list when a slab empties it
    std::uint32_t mask = ss->remote_pending.load(std::memory_order_relaxed)
                             ? ss->remote_pending.exchange(0, std::memory_order_acq_rel)
                             : 0;
    while (mask) {
      unsigned unit = static_cast<unsigned>(__builtin_ctz(mask));
      mask &= mask - 1;
      Slab* s = &ss->slabs[unit];
      HAK_ASSERT(ss->owner.load(std::memory_order_relaxed) == h);
      // Only slabs set aside as full need it; others are collected when refill reaches them.
      if (s->state != SlabState::kFull || s->first_unit != unit) continue;
      bool gone = false;
      slab_settle_remote(h, ss, s, &gone);
      if (gone) break;  // ss went to the pool (maybe unmapped)
    }
    ss = next;
  }
}

}  // namespace hakmem
