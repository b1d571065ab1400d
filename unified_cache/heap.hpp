// A thread heap: the thread's cache plus the slabs and SuperSlabs it owns. Refill takes a
// batch from the class's current slab (local free list, then its remote list in one atomic
// exchange, then never-used space); flush returns a batch, local objects to their slab's
// list, others to their owner's remote list with one atomic push per slab.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "superslab/lock.hpp"
#include "superslab/superslab.hpp"
#include "unified_cache/thread_cache.hpp"

namespace hakmem {

// Slow-path counters, written by the owner only (relaxed atomics so stats readers on other
// threads are race-free), plus the fast counters as last published.
struct HeapCounters {
  std::atomic<std::uint64_t> refills{0};
  std::atomic<std::uint64_t> flushes{0};
  std::atomic<std::uint64_t> remote_frees{0};
  std::atomic<std::uint64_t> remote_batches{0};
  std::atomic<std::uint64_t> double_frees{0};
  std::atomic<std::uint64_t> invalid_frees{0};
  std::atomic<std::uint64_t> slow_path_faults{0};
  std::atomic<std::uint64_t> class_refills[kNumClasses];
  std::atomic<std::uint64_t> class_flushes[kNumClasses];
  std::atomic<std::uint64_t> published[sizeof(FastCounters) / sizeof(std::uint64_t)];
  // Objects in each bin (hidden ones included) as of the last heap_publish, published only
  // while the profile record wants them (heap_set_accounting): the bins' own pointers are
  // the fast path's, owner-only and plain, so no other thread may read them.
  std::atomic<std::uint32_t> bin_objects[kNumClasses];
};

// The heap lock guards everything but the bins: the owner takes it (uncontended) on its
// slow paths, and the background purger try-locks idle heaps to give their free pages back.
// The fast path never touches it.
struct ThreadHeap {
  ThreadCache cache;                     // first: the fast path's TLS pointer points here
  Lock lock{"heap"};
  // Decay clock of heap_purge; atomic (relaxed) because the purger thread reads it without
  // the lock to leave heaps alone whose owner still purges them itself.
  std::atomic<std::uint64_t> last_purge_ns;
  // Purge feedback (purge.cpp): the heap's decay delay is PURGE_DELAY_MS shifted left by
  // purge_backoff, which rises while the heap populates again as much as its passes gave
  // back and falls while it does not. Atomic (relaxed) for the purger. Under h->lock.
  std::atomic<std::uint8_t> purge_backoff;
  std::uint8_t purge_quiet_passes;       // judged passes in a row that saw little populated
  std::uint64_t purged_last_pass;        // bytes the last pass that did anything gave back
  std::uint64_t faults_at_last_pass;     // counters.slow_path_faults then
  std::uint32_t owned_count;             // SuperSlabs owned
  Slab* partial[kNumClasses];            // slabs with free objects; head is the current one
  // Slabs carved per class (saturating): a class that has filled pool_dense_threshold()
  // slabs allocates in bulk, and its next slabs come from dense (huge-page) SuperSlabs.
  std::uint16_t class_slabs[kNumClasses];
  SuperSlab* owned;                      // owned SuperSlabs, ones with free units first
  std::atomic<bool> remote_pending;      // some owned SuperSlab has remote_pending bits
  std::uint64_t freed_bytes;             // flushed back to slabs, up to kPurgerAfterFreedBytes
  // The owner's last slow path and its call count then (medium.cpp, heap_note_slow_path):
  // how a thread back from idle is told from a busy one. Owner only; 0: none yet.
  std::uint64_t last_slow_ns;
  std::uint64_t last_slow_calls;
  ThreadHeap* next_live;                 // registry of live heaps (stats)
  ThreadHeap* prev_live;
  ThreadHeap* next_free;                 // heap pool; the parked list
  bool live;
  // Parked: its thread exited and the heap waits, bins and slabs intact, for the next
  // thread to start (heap_thread_exit); retired once parked longer than the purge delay.
  bool parked = false;
  std::uint64_t parked_ns = 0;
  // The owner's kernel thread id, set when a thread takes the heap while accounting is on
  // (0 otherwise), kParkedTid while parked: the memory breakdown names heaps by it (and
  // reads it instead of `parked`, which is written outside any lock it could hold).
  std::atomic<std::int32_t> tid{0};
  static constexpr std::int32_t kParkedTid = -1;
  HeapCounters counters;
  // Heap profile: samples recorded in each class on slabs this heap owns and not forgotten
  // yet (heap_sample_added / heap_sample_removed). A hint, not an invariant (a SuperSlab
  // can change owner under its samples): parking walks the bins only of classes that have
  // some, to forget the exited thread's frees among them.
  std::atomic<std::uint32_t> sampled_live[kNumClasses];
  // Secure mode only (unified_cache/secure.hpp): the bins the heap really uses, which the
  // fast path never sees (cache.bins are then empty and full at once, so every small malloc
  // and free takes the checked path), and the heap's random state for their order.
  Bin secure_bins[kNumClasses];
  std::uint64_t secure_rng;
  void* slots[kTotalBinSlots];
  // Medium blocks (spans of a medium class) this thread freed, kept for its next mallocs
  // (unified_cache/medium.cpp). Owner only, like the bins: no lock.
  std::uint32_t medium_count[kNumMediumClasses];
  std::uint8_t medium_refills[kNumMediumClasses];  // refills so far (slow start, saturating)
  // Cached over all classes. Written by the owner only; atomic (relaxed loads and stores,
  // plain moves on x86) so the memory breakdown can read it from another thread.
  std::atomic<std::size_t> medium_bytes;
  void* medium_slots[kMediumSlots];
};

inline ThreadHeap* heap_of(ThreadCache* tc) { return reinterpret_cast<ThreadHeap*>(tc); }

// The bin of class cls that the heap's slow paths fill and drain: the fast path's, or in
// secure mode the hidden one.
inline Bin& heap_bin(ThreadHeap* h, unsigned cls) {
  return secure_mode() ? h->secure_bins[cls] : h->cache.bins[cls];
}

// Sets up the layer (thread-exit key). Idempotent; never allocates through malloc.
void unified_cache_init();

// Slow paths of the fast path. `cls` is the class whose bin was empty/full.
HAK_NOINLINE void* cache_refill_pop(unsigned cls);
// Pushes p onto its full bin after flushing half of it (or onto the new heap's bin, for a
// thread's first free); false if no heap could be made and p went straight to its slab.
HAK_NOINLINE bool cache_flush_push(unsigned cls, void* p);
// A free whose tag says the object is already free: report it and drop the free.
HAK_NOINLINE void cache_free_suspect(void* p);

// The calling thread's first heap: created and installed; nullptr if memory is exhausted.
HAK_NOINLINE ThreadHeap* heap_create_current();
// The calling thread's heap, created if needed; nullptr if memory is exhausted. Inline: the
// slow paths that call it would otherwise each test t_cache themselves to save the call.
inline ThreadHeap* heap_current() {
  ThreadCache* tc = t_cache;
  if (tc != &g_sentinel_cache) [[likely]] return heap_of(tc);
  return heap_create_current();
}
// Returns every object in the calling thread's bins to its slab (hak_thread_flush).
void heap_flush_all(ThreadHeap* h);
// Gives back free memory inside h's slabs (whole free pages) and free units of its
// SuperSlabs, when the decay delay has passed since the last pass (always when force).
// Caller holds h->lock. Returns bytes released.
std::size_t heap_purge(ThreadHeap* h, bool force);
// Background purger: purges every live heap it can lock without waiting.
std::size_t heap_purge_idle_heaps(bool force);
// Decay delay for heap_purge (set from the options).
void heap_set_purge_delay(std::uint64_t ns);
// Thread exit: parks the heap for the next new thread when fewer than kMaxParkedHeaps are
// parked, else retires it: flush, hand SuperSlabs back (empty ones to the reserve, others as
// orphans).
void heap_thread_exit(ThreadHeap* h);
inline constexpr unsigned kMaxParkedHeaps = 8;
// Retires the parked heaps parked for longer than the purge delay (all of them when force).
// Returns how many.
unsigned heap_retire_parked(bool force);
std::uint64_t heap_purge_delay_ns();
// h's own decay delay: heap_purge_delay_ns() raised by its purge feedback (at most
// kMaxPurgeBackoff doublings).
std::uint64_t heap_purge_delay_of(const ThreadHeap* h);
inline constexpr unsigned kMaxPurgeBackoff = 4;
// Passes in a row that find what was given back left unused, per halving (purge.cpp).
inline constexpr unsigned kQuietPassesPerFall = 2;

// Visits live heaps under the heap lock (stats), and totals of exited ones.
using HeapVisitor = void (*)(const ThreadHeap* h, void* ctx);
void heap_visit_live(HeapVisitor fn, void* ctx);
const HeapCounters& heap_exited_totals();
std::uint64_t heaps_created();
std::uint64_t heaps_exited();
struct LockStats;
const LockStats& heap_lock_stats();
// Every thread heap's own lock summed into *out (stored, not added), live heaps and exited
// ones alike: exiting threads fold theirs in, so the totals never decrease.
void heap_locks_total(LockStats* out);

// Publishes the fast counters of h into h->counters.published (owner only), and the bin
// fill levels into h->counters.bin_objects while accounting is on.
void heap_publish(ThreadHeap* h);
// The bin fill levels alone, into h->counters.bin_objects: by the owner (heap_publish), or
// by the memory walk for a parked heap, whose bins no thread changes while the walk holds
// the registry lock (a heap parked while accounting was off has stale levels).
void heap_publish_bin_levels(ThreadHeap* h);
// Accounting (the profile record's memory breakdown): bin levels published, heaps named by
// their thread ids. Off by default: it costs a loop over the bins per slow path.
void heap_set_accounting(bool on);
bool heap_accounting();
// Heaps mapped so far (they are pooled, never unmapped): the breakdown's metadata.
std::uint64_t heaps_mapped();

void heap_fork_prepare();
void heap_fork_parent();
void heap_fork_child();

// Memory freed back to slabs, per heap, before the allocator layer is asked to start its
// purger thread (BACKGROUND=auto): a program that never frees much never gets one.
inline constexpr std::uint64_t kPurgerAfterFreedBytes = std::uint64_t{8} << 20;
// Called after a flush (no lock held) once a heap has freed kPurgerAfterFreedBytes; the
// hook may allocate (pthread_create does).
using PurgeWantedHook = void (*)();
void set_purge_wanted_hook(PurgeWantedHook hook);

// ---- Heap-profile sampling support (bin_expose.cpp; used by allocator/heap_sample.cpp) --
// With HAKMEM_HEAP_PROFILE the allocator layer shortens a bin so that its next miss lands on
// the next sampled allocation: objects below a raised `base` are hidden from the fast path
// (they stay in the bin, in [bin_real_base, base)). Every path that takes objects out of a
// bin wholesale (heap_flush_all, hence thread exit) first restores the real base, so hidden
// objects are never lost; cache_flush_push only moves objects above base and leaves hidden
// ones in place. Nothing here runs unless the heap profile is on.
inline void** bin_real_base(const ThreadHeap* h, unsigned cls) {
  return const_cast<void**>(&h->slots[kBinSlotOffset[cls]]);
}
// Hides all but the top n objects of class cls's bin (n <= objects in the bin).
inline void bin_expose(ThreadHeap* h, unsigned cls, std::uint32_t n) {
  Bin& b = h->cache.bins[cls];
  void** real = bin_real_base(h, cls);
  b.base = b.top - n < real ? real : b.top - n;
}
// Makes every hidden object of h's bins visible again (base = real base).
void bin_unhide_all(ThreadHeap* h);
// Called for each object heap_return_objects gives back to a slab (flush, heap_flush_all,
// remote returns) whose Slab::sampled count is not zero: lets the heap profile forget a
// sampled object; returns true when obj was one (the slab's count then drops). nullptr
// (the default) costs one load and branch per batch, and set, one byte test per object.
using ObjectReturnHook = bool (*)(void* obj);
void set_object_return_hook(ObjectReturnHook hook);
// The same for objects still in a bin (free, not yet returned): heap_sample_refill forgets
// those its sample may have made stale.
void forget_sampled_objects(ObjectReturnHook hook, void* const* objs, std::uint32_t n);
// The bookkeeping of a sample's entry for an object of slab s (owned by h): the slab's
// Slab::sampled count and its owner's ThreadHeap::sampled_live hint.
void heap_sample_added(ThreadHeap* h, Slab* s);
void heap_sample_removed(Slab* s);
// ---- end of heap-profile support ---------------------------------------------------------

// Reporting hook: set by the allocator layer; called with a message for invalid/double free.
using ErrorReporter = void (*)(const char* what, const void* p);
void set_error_reporter(ErrorReporter r);
void report_error(const char* what, const void* p);

}  // namespace hakmem
