// Thread heaps: creation (from hakmem's own mappings, never malloc), the pool that recycles
// them across thread churn, thread exit, orphan adoption, and fork.
#include <pthread.h>

#include <cerrno>
#include <cstring>
#include <new>

#include "platform/platform.hpp"
#include "superslab/lock.hpp"
#include "superslab/os.hpp"
#include "superslab/pool.hpp"
#include "unified_cache/heap_internal.hpp"
#include "unified_cache/medium.hpp"
#include "unified_cache/secure.hpp"

namespace hakmem {

ThreadCache g_sentinel_cache{};
__thread ThreadCache* t_cache = &g_sentinel_cache;
std::uintptr_t g_free_tag_key = 0x5a17c0de5a17c0deull;

namespace {

Lock g_heap_lock("heap_registry");
ThreadHeap* g_live = nullptr;
ThreadHeap* g_free_heaps = nullptr;
// Heaps of exited threads, most recent first, kept whole for the next thread to start: a
// short-lived thread then begins with warm bins and slabs instead of refilling every class
// and flushing it all again at exit (the cost of thread churn, PERF_NOTES.md).
ThreadHeap* g_parked = nullptr;
unsigned g_parked_count = 0;
HeapCounters g_exited;
LockStats g_exited_heap_locks;  // heap locks of exited threads (guarded by g_heap_lock)
std::atomic<std::uint64_t> g_created{0};
std::atomic<std::uint64_t> g_exited_count{0};
std::atomic<std::uint64_t> g_heaps_mapped{0};
std::atomic<bool> g_accounting{false};
pthread_key_t g_exit_key;
std::atomic<bool> g_key_ready{false};
ErrorReporter g_reporter = nullptr;

void add(std::atomic<std::uint64_t>& dst, const std::atomic<std::uint64_t>& src) {
  dst.fetch_add(src.load(std::memory_order_relaxed), std::memory_order_relaxed);
}

void fold_into_exited(ThreadHeap* h) {
  auto& c = h->counters;
  add(g_exited.refills, c.refills);
  add(g_exited.flushes, c.flushes);
  add(g_exited.remote_frees, c.remote_frees);
  add(g_exited.remote_batches, c.remote_batches);
  add(g_exited.double_frees, c.double_frees);
  add(g_exited.invalid_frees, c.invalid_frees);
  add(g_exited.slow_path_faults, c.slow_path_faults);
  for (unsigned i = 0; i < kNumClasses; ++i) {
    add(g_exited.class_refills[i], c.class_refills[i]);
    add(g_exited.class_flushes[i], c.class_flushes[i]);
  }
  for (unsigned i = 0; i < sizeof(FastCounters) / sizeof(std::uint64_t); ++i) {
    add(g_exited.published[i], c.published[i]);
  }
}

void reset_heap(ThreadHeap* h) {
  // A late notification meant for this heap's previous thread may still raise
  // remote_pending: it only causes one extra scan.
  std::uint32_t slot = 0;
  for (unsigned c = 0; c < kNumClasses; ++c) {
    Bin& b = heap_bin(h, c);
    b.base = b.top = &h->slots[slot];
    slot += class_bin_capacity(c);
    b.limit = &h->slots[slot];
    // Secure mode: the fast path's bin is empty and full at once (see ThreadHeap).
    if (secure_mode()) h->cache.bins[c] = Bin{h->slots, h->slots, h->slots};
    h->partial[c] = nullptr;
    h->class_slabs[c] = 0;
  }
  if (secure_mode()) secure_seed(h);
  std::memset(&h->cache.counters, 0, sizeof(h->cache.counters));
  for (unsigned m = 0; m < kNumMediumClasses; ++m) h->medium_count[m] = h->medium_refills[m] = 0;
  h->medium_bytes.store(0, std::memory_order_relaxed);
  h->owned = nullptr;
  h->owned_count = 0;
  h->freed_bytes = 0;
  h->last_slow_ns = h->last_slow_calls = 0;
  h->last_purge_ns.store(os::now_ns(), std::memory_order_relaxed);
  h->purge_backoff.store(0, std::memory_order_relaxed);
  h->purged_last_pass = 0;
  h->purge_quiet_passes = 0;
  h->faults_at_last_pass = 0;  // the counters start from zero just below
  auto& c = h->counters;
  for (auto* a : {&c.refills, &c.flushes, &c.remote_frees, &c.remote_batches, &c.double_frees,
                  &c.invalid_frees, &c.slow_path_faults}) {
    a->store(0, std::memory_order_relaxed);
  }
  for (unsigned i = 0; i < kNumClasses; ++i) {
    c.class_refills[i].store(0, std::memory_order_relaxed);
    c.class_flushes[i].store(0, std::memory_order_relaxed);
  }
  for (auto& p : c.published) p.store(0, std::memory_order_relaxed);
  for (auto& n : c.bin_objects) n.store(0, std::memory_order_relaxed);
}

ThreadHeap* create_heap() {
  ThreadHeap* h;
  {
    LockGuard g(g_heap_lock);
    if ((h = g_parked)) {  // the most recently parked: its memory is the warmest
      g_parked = h->next_free;
      --g_parked_count;
      h->parked = false;
      h->tid.store(0, std::memory_order_relaxed);  // heap_current names the new owner
      // The new thread's slow paths start their own idle clock: the last owner's would
      // make its first one return the warm caches it was parked with (medium.cpp).
      h->last_slow_ns = 0;
      return h;  // still live, counters and all: a heap's counts are not per thread
    }
    h = g_free_heaps;
    if (h) g_free_heaps = h->next_free;
  }
  if (!h) {
    void* mem = os::map(sizeof(ThreadHeap));
    if (!mem) return nullptr;
    h = new (mem) ThreadHeap();
    g_heaps_mapped.fetch_add(1, std::memory_order_relaxed);
  }
  reset_heap(h);
  LockGuard g(g_heap_lock);
  h->live = true;
  h->prev_live = nullptr;
  h->next_live = g_live;
  if (g_live) g_live->prev_live = h;
  g_live = h;
  g_created.fetch_add(1, std::memory_order_relaxed);
  return h;
}

void on_thread_exit(void* arg) {
  auto* h = static_cast<ThreadHeap*>(arg);
  // Later destructors of this thread may still allocate: they get a fresh heap.
  t_cache = &g_sentinel_cache;
  heap_thread_exit(h);
}

}  // namespace

void unified_cache_init() {
  bool expected = false;
  if (g_key_ready.load(std::memory_order_acquire)) return;
  if (platform::ops().tls_key_create(&g_exit_key, on_thread_exit) == 0) {
    g_key_ready.compare_exchange_strong(expected, true, std::memory_order_acq_rel);
  }
}

ThreadHeap* heap_create_current() {
  ThreadHeap* h = create_heap();
  if (!h) return nullptr;
  t_cache = &h->cache;  // installed first: pthread_setspecific may itself call malloc
  if (g_key_ready.load(std::memory_order_acquire)) platform::ops().tls_set(g_exit_key, h);
  if (heap_accounting()) h->tid.store(platform::ops().gettid(), std::memory_order_relaxed);
  return h;
}

void heap_publish(ThreadHeap* h) {
  FastCounters& f = h->cache.counters;
  // Every bin pop or push is one call (or inner operation) that a bin served: the owner
  // derives the totals here, from one view of its own counters, so each published total
  // only grows (a reader summing fields could see them torn).
  std::uint64_t pops = 0, pushes = 0;
  for (unsigned e = 0; e < kCountedEntries; ++e) {
    std::uint64_t served = f.calls[e] - f.not_from_bins[e];
    if (entry_allocates(static_cast<Entry>(e))) pops += served;
    if (entry_frees(static_cast<Entry>(e))) pushes += served;
  }
  f.cache_allocs = pops;
  f.cache_frees = pushes;
  const auto* src = reinterpret_cast<const std::uint64_t*>(&f);
  for (unsigned i = 0; i < sizeof(FastCounters) / sizeof(std::uint64_t); ++i) {
    h->counters.published[i].store(src[i], std::memory_order_relaxed);
  }
  if (heap_accounting()) [[unlikely]] heap_publish_bin_levels(h);
}

void heap_publish_bin_levels(ThreadHeap* h) {
  // From the real base (bins are consecutive ranges of slots, as reset_heap lays them out):
  // objects the heap profile hides are in the bin all the same.
  std::uint32_t slot = 0;
  for (unsigned c = 0; c < kNumClasses; ++c) {
    auto n = static_cast<std::uint32_t>(heap_bin(h, c).top - &h->slots[slot]);
    h->counters.bin_objects[c].store(n, std::memory_order_relaxed);
    slot += class_bin_capacity(c);
  }
}

void heap_set_accounting(bool on) {
  g_accounting.store(on, std::memory_order_relaxed);
  // The caller's heap may predate this (the thread that started profiling): name it now.
  if (on && t_cache != &g_sentinel_cache) {
    heap_of(t_cache)->tid.store(platform::ops().gettid(), std::memory_order_relaxed);
  }
}
bool heap_accounting() { return g_accounting.load(std::memory_order_relaxed); }
std::uint64_t heaps_mapped() { return g_heaps_mapped.load(std::memory_order_relaxed); }

bool heap_slab_empty(ThreadHeap* h, SuperSlab* ss, Slab* s) {
  HAK_ASSERT(superslab_of(s) == ss && ss->owner.load(std::memory_order_relaxed) == h);
  HAK_ASSERT(s->used == 0 && h->partial[s->cls] != s);  // caller took it off its list
  superslab_release_slab(ss, s);
  if (superslab_is_empty(ss) && !(h->owned == ss && ss->next == nullptr)) {
    // Any notification still pending for it is stale once it leaves this heap.
    owned_remove(h, ss);
    pool_release(ss);
    return true;
  }
  // It has free units again: keep it in front so new slabs come from it.
  if (h->owned != ss) {
    owned_remove(h, ss);
    owned_push_front(h, ss);
  }
  return false;
}

bool heap_adopt(ThreadHeap* h, SuperSlab* ss) {
  HAK_ASSERT(ss->kind == kChunkSmall && ss->owner.load(std::memory_order_relaxed) == nullptr);
  ss->owner.store(h, std::memory_order_release);
  ss->remote_pending.store(0, std::memory_order_relaxed);
  owned_push_front(h, ss);
  for (unsigned u = 0; u < kUnitsPerSuperSlab; ++u) {
    Slab* s = &ss->slabs[u];
    if (s->state == SlabState::kUnused || s->first_unit != u) continue;
    HAK_ASSERT(s->cls < kNumClasses && s->used <= s->capacity);
    slab_collect_remote(s);
    s->purge_dirty = true;  // new to this heap's purge passes
    s->next = s->prev = nullptr;
    if (s->used == 0) {
      if (heap_slab_empty(h, ss, s)) return false;  // went to the pool
    } else if (s->local_free || s->bump < s->limit || s->purged_pages) {
      s->state = SlabState::kActive;
      partial_push(h, s);
    } else {
      s->state = SlabState::kFull;
    }
  }
  if (ss->free_units == 0) owned_move_back(h, ss);  // in front only with free units
  return true;
}

void heap_flush_all(ThreadHeap* h) {
  medium_flush_all(h);  // first, without h->lock: it takes the span lock
  LockGuard guard(h->lock);
  bin_unhide_all(h);  // objects hidden by the heap profile go back too
  for (unsigned c = 0; c < kNumClasses; ++c) {
    Bin& b = heap_bin(h, c);
    std::uint32_t n = static_cast<std::uint32_t>(b.top - b.base);
    if (n) heap_return_objects(h, b.base, n);
    b.top = b.base;
  }
  heap_publish(h);
  heap_process_notifications(h);
}

namespace {

// Objects of other heaps' SuperSlabs go back to their owners now, as a flush would send them
// (a consumer thread's exit must not keep its producer's memory); the heap's own stay in
// the bins for the next thread.
void return_foreign_objects(ThreadHeap* h) {
  constexpr unsigned kBatch = 256;
  void* foreign[kBatch];
  unsigned nf = 0;
  for (unsigned c = 0; c < kNumClasses; ++c) {
    Bin& b = heap_bin(h, c);
    void** keep = b.base;
    for (void** it = b.base; it < b.top; ++it) {
      if (superslab_of(*it)->owner.load(std::memory_order_relaxed) == h) {
        *keep++ = *it;
        continue;
      }
      foreign[nf++] = *it;
      if (nf == kBatch) {
        heap_return_objects(h, foreign, nf);
        nf = 0;
      }
    }
    b.top = keep;
  }
  if (nf) heap_return_objects(h, foreign, nf);
}

bool heap_park(ThreadHeap* h) {
  {
    LockGuard g(g_heap_lock);
    if (g_parked_count >= kMaxParkedHeaps) return false;
  }
  // Medium blocks go back to the spans (up to 4 MiB a heap): too much memory to hold for a
  // thread that may never come.
  medium_flush_all(h);  // without h->lock: it takes the span lock
  {
    LockGuard guard(h->lock);
    return_foreign_objects(h);
    // With the heap profile on, a freed sample is forgotten when it leaves the bins
    // (set_object_return_hook); a parked heap keeps its bins, so its samples go now, or
    // the profile would go on counting the exited thread's frees as live.
    if (ObjectReturnHook hook = g_object_return_hook.load(std::memory_order_relaxed)) {
      for (unsigned c = 0; c < kNumClasses; ++c) {
        if (h->sampled_live[c].load(std::memory_order_relaxed) == 0) continue;
        void** real = bin_real_base(h, c);
        forget_sampled_objects(hook, real, static_cast<std::uint32_t>(heap_bin(h, c).top - real));
      }
    }
    heap_publish(h);
    heap_process_notifications(h);
  }
  LockGuard g(g_heap_lock);
  if (g_parked_count >= kMaxParkedHeaps) return false;  // others parked meanwhile
  h->parked = true;
  h->tid.store(ThreadHeap::kParkedTid, std::memory_order_relaxed);  // what the memory breakdown reads
  h->parked_ns = os::now_ns();
  h->next_free = g_parked;
  g_parked = h;
  ++g_parked_count;
  g_exited_count.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void heap_retire(ThreadHeap* h, bool thread_exit);

}  // namespace

unsigned heap_retire_parked(bool force) {
  ThreadHeap* due = nullptr;
  {
    LockGuard g(g_heap_lock);
    std::uint64_t now = os::now_ns(), delay = heap_purge_delay_ns();
    for (ThreadHeap** link = &g_parked; *link;) {
      ThreadHeap* h = *link;
      if (force || now - h->parked_ns >= delay) {
        *link = h->next_free;
        --g_parked_count;
        h->next_free = due;
        due = h;
      } else {
        link = &h->next_free;
      }
    }
  }
  unsigned n = 0;
  while (ThreadHeap* h = due) {  // off the list: no thread can take them now
    due = h->next_free;
    h->parked = false;
    heap_retire(h, false);
    ++n;
  }
  return n;
}

void heap_thread_exit(ThreadHeap* h) {
  if (heap_park(h)) {
    heap_retire_parked(false);  // one exit also ends the wait of long-parked heaps
    return;
  }
  heap_retire(h, true);
}

namespace {

void heap_retire(ThreadHeap* h, bool thread_exit) {
  heap_flush_all(h);
  h->lock.lock();
  for (unsigned c = 0; c < kNumClasses; ++c) {
    while (Slab* s = h->partial[c]) partial_remove(h, s);
  }
  while (SuperSlab* ss = h->owned) {
    owned_remove(h, ss);
    for (unsigned u = 0; u < kUnitsPerSuperSlab; ++u) {
      Slab* s = &ss->slabs[u];
      if (s->state == SlabState::kUnused || s->first_unit != u) continue;
      slab_collect_remote(s);
      if (s->used == 0) superslab_release_slab(ss, s);
    }
    if (superslab_is_empty(ss)) pool_release(ss);
    else pool_orphan_push(ss);
  }
  h->lock.unlock();
  LockGuard g(g_heap_lock);
  fold_into_exited(h);
  h->lock.drain_stats_into(g_exited_heap_locks);  // the heap is reused from zero
  if (h->prev_live) h->prev_live->next_live = h->next_live; else g_live = h->next_live;
  if (h->next_live) h->next_live->prev_live = h->prev_live;
  h->live = false;
  h->next_free = g_free_heaps;
  g_free_heaps = h;
  if (thread_exit) g_exited_count.fetch_add(1, std::memory_order_relaxed);  // else at park
}

}  // namespace

void heap_visit_live(HeapVisitor fn, void* ctx) {
  LockGuard g(g_heap_lock);
  for (ThreadHeap* h = g_live; h; h = h->next_live) fn(h, ctx);
}
const HeapCounters& heap_exited_totals() { return g_exited; }
std::uint64_t heaps_created() { return g_created.load(std::memory_order_relaxed); }
std::uint64_t heaps_exited() { return g_exited_count.load(std::memory_order_relaxed); }
const LockStats& heap_lock_stats() { return g_heap_lock.stats(); }

void heap_locks_total(LockStats* out) {
  auto ld = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  LockGuard g(g_heap_lock);
  std::uint64_t acq = ld(g_exited_heap_locks.acquisitions);
  std::uint64_t contended = ld(g_exited_heap_locks.contended);
  std::uint64_t wait = ld(g_exited_heap_locks.wait_ns);
  for (const ThreadHeap* h = g_live; h; h = h->next_live) {
    const LockStats& s = h->lock.stats();
    acq += ld(s.acquisitions);
    contended += ld(s.contended);
    wait += ld(s.wait_ns);
  }
  out->acquisitions.store(acq, std::memory_order_relaxed);
  out->contended.store(contended, std::memory_order_relaxed);
  out->wait_ns.store(wait, std::memory_order_relaxed);
}

void heap_fork_prepare() { g_heap_lock.lock(); }
void heap_fork_parent() { g_heap_lock.unlock(); }
void heap_fork_child() { g_heap_lock.reset_after_fork(); }

void set_error_reporter(ErrorReporter r) { g_reporter = r; }
void report_error(const char* what, const void* p) {
  if (g_reporter) g_reporter(what, p);
}

}  // namespace hakmem
