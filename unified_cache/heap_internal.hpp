// Helpers shared by the heap's translation units (refill, flush, lifecycle). Owner-thread
// operations unless said otherwise.
#pragma once

#include "superslab/assert.hpp"
#include "superslab/os.hpp"
#include "unified_cache/heap.hpp"

namespace hakmem {

// A slab is on its class's partial list exactly while it is kActive with next/prev linking
// it there; off every list both links are nullptr (carve, release and removal clear them).
inline bool partial_listed(const ThreadHeap* h, const Slab* s) {
  return s->prev ? s->prev->next == s : h->partial[s->cls] == s;
}

inline void partial_push(ThreadHeap* h, Slab* s) {
  HAK_ASSERT(s->state == SlabState::kActive && s->cls < kNumClasses);
  HAK_ASSERT(s->next == nullptr && s->prev == nullptr && h->partial[s->cls] != s);
  HAK_ASSERT(superslab_of(s)->owner.load(std::memory_order_relaxed) == h);
  HAK_ASSERT(s->used < s->capacity || s->local_free || s->purged_pages ||
             s->remote_free.load(std::memory_order_relaxed));
  s->prev = nullptr;
  s->next = h->partial[s->cls];
  if (s->next) s->next->prev = s;
  h->partial[s->cls] = s;
}
// A full slab that frees made partial again: second on its list, behind the class's
// current slab (the head, which refill takes from). The free path keeps the head even when
// it empties (a malloc/free ping-pong must not release and re-carve a slab each time) and
// gives back every other slab that empties; pushed in front, the slab would hide an empty
// head from that rule for good (nothing frees into an empty slab again): freeing 300k
// listpacks of 8 KiB in redis left every one of their slabs empty and carved, 335 MiB that
// no other class could use (PERF_NOTES.md, 2026-12-06).
inline void partial_push_behind(ThreadHeap* h, Slab* s) {
  Slab* head = h->partial[s->cls];
  if (!head) {
    partial_push(h, s);
    return;
  }
  HAK_ASSERT(s->state == SlabState::kActive && s->next == nullptr && s->prev == nullptr);
  HAK_ASSERT(head != s && superslab_of(s)->owner.load(std::memory_order_relaxed) == h);
  s->prev = head;
  s->next = head->next;
  if (s->next) s->next->prev = s;
  head->next = s;
}
inline void partial_remove(ThreadHeap* h, Slab* s) {
  HAK_ASSERT(partial_listed(h, s) && (!s->next || s->next->prev == s));
  if (s->prev) s->prev->next = s->next; else h->partial[s->cls] = s->next;
  if (s->next) s->next->prev = s->prev;
  s->next = s->prev = nullptr;
}

inline void owned_push_front(ThreadHeap* h, SuperSlab* ss) {
  HAK_ASSERT(ss->kind == kChunkSmall && ss->owner.load(std::memory_order_relaxed) == h);
  HAK_ASSERT(ss->next == nullptr && ss->prev == nullptr && h->owned != ss);
  ss->prev = nullptr;
  ss->next = h->owned;
  if (ss->next) ss->next->prev = ss;
  h->owned = ss;
  ++h->owned_count;
}
inline void owned_remove(ThreadHeap* h, SuperSlab* ss) {
  HAK_ASSERT(h->owned_count > 0 && ss->owner.load(std::memory_order_relaxed) == h);
  HAK_ASSERT(ss->prev ? ss->prev->next == ss : h->owned == ss);
  HAK_ASSERT(!ss->next || ss->next->prev == ss);
  if (ss->prev) ss->prev->next = ss->next; else h->owned = ss->next;
  if (ss->next) ss->next->prev = ss->prev;
  ss->next = ss->prev = nullptr;
  --h->owned_count;
}
// A SuperSlab that has just run out of free units goes behind all others, so the ones
// with free units stay in front, where heap_new_slab's scan stops at the first full one.
inline void owned_move_back(ThreadHeap* h, SuperSlab* ss) {
  if (!ss->next) return;
  SuperSlab* tail = ss->next;
  while (tail->next) tail = tail->next;
  owned_remove(h, ss);
  ss->prev = tail;
  tail->next = ss;
  ++h->owned_count;
}
// The order heap_new_slab relies on: no SuperSlab with free units behind a full one.
[[maybe_unused]] inline bool owned_order_ok(const ThreadHeap* h) {
  bool full_seen = false;
  for (const SuperSlab* ss = h->owned; ss; ss = ss->next) {
    if (ss->free_units == 0) full_seen = true;
    else if (full_seen) return false;
  }
  return true;
}

// The page holding a slab's first object: purge page masks (purge_pages.hpp) count from it.
inline char* slab_page_base(const Slab* s) {
  return reinterpret_cast<char*>(reinterpret_cast<std::uintptr_t>(s->start) &
                                 ~(os::kPageSize - 1));
}

// The heap-profile hook (bin_expose.cpp), nullptr unless the heap profile is on.
extern std::atomic<ObjectReturnHook> g_object_return_hook HAK_HIDDEN;

// Moves the slab's remote frees onto its local list; returns how many came back.
std::uint32_t slab_collect_remote(Slab* s);
// Collects s's remote frees and settles the slab as a local free would (refill.cpp): a full
// slab goes back on its list, an empty one other than its class's current slab gives its
// units back. True if s was released; *gone: its SuperSlab went to the pool with it.
bool slab_settle_remote(ThreadHeap* h, SuperSlab* ss, Slab* s, bool* gone);
// A slab of h with no object out, not on a partial list: give its units back, and the
// SuperSlab to the pool if that empties it (keeping at least one SuperSlab per heap).
// Returns true when the SuperSlab went to the pool: the caller must not touch it again (the
// pool may have unmapped it already).
bool heap_slab_empty(ThreadHeap* h, SuperSlab* ss, Slab* s);
// Drains h's notification stack: full slabs with remote frees become partial again.
void heap_process_notifications(ThreadHeap* h);
// Takes ownership of an orphaned SuperSlab and files its slabs into h's lists. Returns
// false when it turned out empty and went to the pool (then it is not to be touched).
bool heap_adopt(ThreadHeap* h, SuperSlab* ss);
// Returns n objects (from any heap's slabs) to their slabs. Caller holds h->lock.
void heap_return_objects(ThreadHeap* h, void** objs, std::uint32_t n);
// Brings a slab's purged pages back (populate) and their parked objects onto its free list.
// Returns the pages populated.
std::uint32_t slab_unpark(SuperSlab* ss, Slab* s);
// Owner slow paths call this: runs heap_purge and the pool's decay when they are due.
void heap_maybe_purge(ThreadHeap* h);

}  // namespace hakmem
