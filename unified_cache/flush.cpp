// Flush: the path a free takes when its bin is full, and the return of objects to slabs —
// locally to slabs this thread owns, remotely (one atomic push per slab group) otherwise.
#include <cstring>

#include "superslab/pool.hpp"
#include "unified_cache/heap_internal.hpp"
#include "unified_cache/medium.hpp"
#include "unified_cache/secure.hpp"

namespace hakmem {
namespace {

struct RemoteGroup {
  Slab* slab;
  SuperSlab* ss;
  FreeObject* head;
  FreeObject* tail;
  std::uint32_t count;
};
constexpr unsigned kMaxGroups = 16;

// Marks the slab's bit in its SuperSlab and raises the owner's flag. Both are idempotent
// stores into memory that stays mapped while the caller holds pool_remote_enter() (a
// SuperSlab header) or for good (pooled heaps), so a stale owner or a SuperSlab that
// changed hands meanwhile only causes a harmless extra scan.
void notify_owner(SuperSlab* ss, unsigned unit) {
  std::uint32_t bit = 1u << unit;
  if (!(ss->remote_pending.load(std::memory_order_relaxed) & bit)) {
    ss->remote_pending.fetch_or(bit, std::memory_order_release);
  }
  auto* owner = static_cast<ThreadHeap*>(ss->owner.load(std::memory_order_acquire));
  if (owner && !owner->remote_pending.load(std::memory_order_relaxed)) {
    owner->remote_pending.store(true, std::memory_order_release);
  }
}

void push_group(ThreadHeap* h, RemoteGroup& g) {
  HAK_ASSERT(g.count > 0 && link_next(g.tail) == nullptr && g.ss == superslab_of(g.slab));
  // Read before the push: once pushed, the slab may empty and be re-carved by its owner.
  unsigned unit = g.slab->first_unit;
  FreeObject* old = g.slab->remote_free.load(std::memory_order_relaxed);
  do link_set(g.tail, old);
  while (!g.slab->remote_free.compare_exchange_weak(old, g.head, std::memory_order_release,
                                                    std::memory_order_relaxed));
  notify_owner(g.ss, unit);
  if (!h) return;
  auto& c = h->counters;
  c.remote_frees.store(c.remote_frees.load(std::memory_order_relaxed) + g.count,
                       std::memory_order_relaxed);
  c.remote_batches.store(c.remote_batches.load(std::memory_order_relaxed) + 1,
                         std::memory_order_relaxed);
}

void count_double_free(ThreadHeap* h, const void* p) {
  auto& c = h->counters.double_frees;
  c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  report_error("double free", p);
}

}  // namespace

void heap_return_objects(ThreadHeap* h, void** objs, std::uint32_t n) {
  // The heap profile forgets sampled objects as they go back to slabs (bin_expose.cpp).
  const ObjectReturnHook hook = g_object_return_hook.load(std::memory_order_relaxed);
  RemoteGroup groups[kMaxGroups];
  unsigned ngroups = 0;
  bool remote = false;  // pool_remote_enter() taken: held until the last push's notify
  for (std::uint32_t i = 0; i < n; ++i) {
    auto* o = static_cast<FreeObject*>(objs[i]);
    SuperSlab* ss = superslab_of(o);
    Slab* s = slab_of(ss, o);
    // Only validated small objects reach a bin: a small SuperSlab's carved object start.
    HAK_ASSERT(chunk_kind(o) == kChunkSmall && ss->magic == kSuperSlabMagic);
    HAK_ASSERT(s->state != SlabState::kUnused);
    HAK_ASSERT(reinterpret_cast<char*>(o) >= s->start && reinterpret_cast<char*>(o) < s->limit &&
               static_cast<std::size_t>(reinterpret_cast<char*>(o) - s->start) % s->obj_size == 0);
    if (hook && s->sampled.load(std::memory_order_relaxed) != 0) [[unlikely]] {
      if (hook(o)) heap_sample_removed(s);
    }
    if (h && ss->owner.load(std::memory_order_relaxed) == h) {
      // o keeps the tag its free wrote (FreeObject::tag): a second free is caught on the
      // fast path whether o is in a bin or on a list.
      link_set(o, s->local_free);
      s->local_free = o;
      HAK_ASSERT(s->used > 0);
      --s->used;
      s->purge_dirty = true;
      if (s->state == SlabState::kFull) {
        s->state = SlabState::kActive;
        if (s->used == 0) heap_slab_empty(h, ss, s);
        else partial_push_behind(h, s);
      } else if (s->used == 0 && h->partial[s->cls] != s) {
        HAK_ASSERT(s->state == SlabState::kActive);
        // Empty and not the class's current slab: give the units back.
        partial_remove(h, s);
        heap_slab_empty(h, ss, s);
      }
      continue;
    }
    if (!remote) {
      pool_remote_enter();
      remote = true;
    }
    unsigned g = 0;
    while (g < ngroups && groups[g].slab != s) ++g;
    if (g == ngroups) {
      if (ngroups == kMaxGroups) {
        push_group(h, groups[0]);
        groups[0] = groups[--ngroups];
        g = ngroups;
      }
      groups[g] = RemoteGroup{s, ss, o, o, 0};
      link_set(o, nullptr);
      ++ngroups;
    } else {
      link_set(o, groups[g].head);
      groups[g].head = o;
    }
    ++groups[g].count;
  }
  for (unsigned g = 0; g < ngroups; ++g) push_group(h, groups[g]);
  if (remote) pool_remote_exit();
}

PurgeWantedHook g_purge_wanted_hook = nullptr;

void set_purge_wanted_hook(PurgeWantedHook hook) { g_purge_wanted_hook = hook; }

bool cache_flush_push(unsigned cls, void* p) {
  if (secure_mode()) secure_scrub(p, kClassSize[cls]);  // zero on free (secure.hpp)
  ThreadHeap* h = heap_current();
  if (!h) {
    // No heap and none can be made (OOM at thread start): return the object to its slab.
    static_cast<FreeObject*>(p)->tag = free_tag();
    heap_return_objects(nullptr, &p, 1);
    return false;
  }
  Bin& b = heap_bin(h, cls);
  bool want_purger = false;
  HAK_ASSERT(b.base <= b.top && b.top <= b.limit);
  if (b.top == b.limit) heap_note_slow_path(h);  // may empty the bins (a thread back from idle)
  if (b.top == b.limit) {
    LockGuard guard(h->lock);
    // Flush the older half (the bottom of the stack); keep the recently freed, warm half.
    std::uint32_t cap = static_cast<std::uint32_t>(b.limit - b.base);
    std::uint32_t n = cap / 2;
    heap_return_objects(h, b.base, n);
    std::memmove(b.base, b.base + n, sizeof(void*) * (cap - n));
    b.top -= n;
    HAK_ASSERT(b.base <= b.top && b.top < b.limit);
    auto& c = h->counters;
    c.flushes.store(c.flushes.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    c.class_flushes[cls].store(c.class_flushes[cls].load(std::memory_order_relaxed) + 1,
                               std::memory_order_relaxed);
    heap_publish(h);
    heap_process_notifications(h);
    heap_maybe_purge(h);
    if (h->freed_bytes < kPurgerAfterFreedBytes) {
      h->freed_bytes += std::uint64_t{n} * kClassSize[cls];
      want_purger = h->freed_bytes >= kPurgerAfterFreedBytes;
    }
  }
  *static_cast<std::uintptr_t*>(p) = free_tag();
  *b.top++ = p;
  // After the push and outside the lock: the hook may allocate (and so re-enter this heap).
  if (want_purger && g_purge_wanted_hook) g_purge_wanted_hook();
  return true;
}

void cache_free_suspect(void* p) {
  // The tag is a per-process secret, cleared whenever the object is handed out, so a match
  // cannot come from the program's own data (only from a value it read out of freed
  // memory): report, drop the free.
  ThreadHeap* h = heap_current();
  if (h) {
    count_double_free(h, p);
  } else {
    report_error("double free", p);
  }
}

}  // namespace hakmem
