#include "superslab/pool.hpp"

#include <cerrno>

#include "superslab/account.hpp"
#include "superslab/assert.hpp"
#include "superslab/latency.hpp"
#include "superslab/numa.hpp"
#include "superslab/os.hpp"
#include "superslab/os_stats.hpp"
#include "superslab/page_cost.hpp"

namespace hakmem {
extern std::atomic<std::uint32_t> g_dense_threshold;
std::atomic<int> g_numa_mode{0};  // NUMA (pool_configure)

namespace {

Lock g_pool_lock("superslab_pool");
PoolConfig g_cfg;
PoolStats g_stats;

// Doubly linked lists guarded by g_pool_lock. The reserve is kept in release order (oldest
// at the head) so decay looks only at the head.
struct List {
  SuperSlab* head = nullptr;
  SuperSlab* tail = nullptr;
  std::size_t count = 0;

  void push_back(SuperSlab* ss) {
    ss->next = nullptr;
    ss->prev = tail;
    if (tail) tail->next = ss; else head = ss;
    tail = ss;
    ++count;
  }
  SuperSlab* pop_back() {
    SuperSlab* ss = tail;
    if (ss) remove(ss);
    return ss;
  }
  SuperSlab* pop_front() {
    SuperSlab* ss = head;
    if (ss) remove(ss);
    return ss;
  }
  void remove(SuperSlab* ss) {
    HAK_ASSERT(count > 0);
    HAK_ASSERT(ss->prev ? ss->prev->next == ss : head == ss);  // on this list
    HAK_ASSERT(ss->next ? ss->next->prev == ss : tail == ss);
    if (ss->prev) ss->prev->next = ss->next; else head = ss->next;
    if (ss->next) ss->next->prev = ss->prev; else tail = ss->prev;
    ss->next = ss->prev = nullptr;
    --count;
  }
};

List g_reserve;   // empty, populated, newest at the tail
List g_lazy;      // empty, MADV_FREE'd: cheap to reuse, RSS may still count them
List g_purged;    // empty, MADV_DONTNEED'd: address space only
List g_orphans;
std::atomic<std::uint64_t> g_next_purge_ns{0};
std::atomic<std::uint64_t> g_remote_in_flight{0};

// Waits (briefly) for a moment with no remote push in flight; false if none came, and the
// caller then keeps its SuperSlab mapped rather than risk a late write into freed memory.
bool remote_quiescent() {
  for (int i = 0; i < 4096; ++i) {
    if (g_remote_in_flight.load(std::memory_order_seq_cst) == 0) return true;
    if (i >= 64) os::yield_cpu(); else __builtin_ia32_pause();
  }
  return false;
}

// Unmaps a SuperSlab that has left every list and the registry, once no remote push can be
// inside it. Returns false (nothing done) if pushes never paused.
bool unmap_when_quiescent(SuperSlab* ss) {
  if (!remote_quiescent()) return false;
  os::unmap(ss, kSuperSlabSize);
  g_stats.unmapped.fetch_add(1, std::memory_order_relaxed);
  return true;
}

std::size_t payload_size() { return kSuperSlabSize - kSuperSlabHeaderSize; }
char* payload(SuperSlab* ss) { return reinterpret_cast<char*>(ss) + kSuperSlabHeaderSize; }

// Whether a fresh SuperSlab handed out for `dense` use should be advised huge pages.
// HUGEPAGES=hugetlb falls back to THP (as thp does) when no hugetlb page is free; auto asks
// the measured cost model (page_cost.hpp), dense SuperSlabs only.
bool thp_wanted(bool dense) {
  os::Policy pol = os::policy();
  if (pol.huge == os::HugePolicy::kThp || pol.huge == os::HugePolicy::kHugetlb) return true;
  return pol.huge == os::HugePolicy::kAuto && dense && os::thp_mode() != os::kThpNever &&
         page_cost_want_huge(g_stats.mapped.load(std::memory_order_relaxed));
}

bool populate_enabled() { return os::policy().populate != os::PopulatePolicy::kNever; }

// Applies the populate policy to a recycled SuperSlab about to be handed out. Only huge-page
// SuperSlabs (and POPULATE=always) are populated whole here: a huge page must be faulted as
// one. Everything else is populated where it is used: slab by slab for classes that
// allocate in bulk, page by page for the others (superslab_carve_slab), so a heap's RSS
// follows what it hands out, not the 2 MiB it reserved. populates_whole: whether it will.
bool populates_whole(const SuperSlab* ss) {
  os::Policy pol = os::policy();
  bool whole = pol.populate == os::PopulatePolicy::kAlways ||
               (pol.populate == os::PopulatePolicy::kAuto && (ss->huge_page || ss->hugetlb));
  return whole && (ss->purged || ss->populated_units != kAllUnits);
}

void prepare_memory(SuperSlab* ss) {
  os::Policy pol = os::policy();
  bool forced_thp = pol.huge == os::HugePolicy::kThp || pol.huge == os::HugePolicy::kHugetlb;
  if (forced_thp && !ss->hugetlb && !ss->huge_page && os::advise_hugepage(ss, kSuperSlabSize)) {
    ss->huge_page = true;
    os::g_os_stats.hugepages_thp.fetch_add(1, std::memory_order_relaxed);
  }
  if (populates_whole(ss)) {
    os::populate(ss, kSuperSlabSize);
    ss->populated_units = kAllUnits;
    ss->purged = false;
  }
  ss->dense = ss->huge_page || ss->hugetlb;
}

SuperSlab* map_new(bool dense) {
  os::Policy pol = os::policy();
  bool try_hugetlb = pol.huge == os::HugePolicy::kHugetlb;
  bool got_hugetlb = false;
  void* mem = os::map_aligned(kSuperSlabSize, kSuperSlabSize, try_hugetlb, &got_hugetlb);
  if (!mem && pool_unmap_idle() > 0) {
    mem = os::map_aligned(kSuperSlabSize, kSuperSlabSize, try_hugetlb, &got_hugetlb);
  }
  if (!mem) {
    errno = ENOMEM;
    return nullptr;
  }
  // Before anything touches it: place the memory on the taking thread's NUMA node (a no-op,
  // without a syscall, on a single-node machine).
  if (!got_hugetlb) {
    numa_place(mem, kSuperSlabSize, kNumaCurrentNode,
               static_cast<NumaMode>(g_numa_mode.load(std::memory_order_relaxed)));
  }
  auto* ss = static_cast<SuperSlab*>(mem);
  // Huge pages must be advised before the first write: writing the header first would
  // fault in a 4 KiB page and a page table, and the range could then never get a huge page
  // at fault time. And populated before it too: MADV_POPULATE_WRITE of the 2 MiB is cheaper
  // than the first-touch fault of the same huge page (../shared/BENCHMARKING.md); the time
  // it took feeds the cost model, which decides whether the next one gets huge pages.
  bool thp = !got_hugetlb && thp_wanted(dense) && os::advise_hugepage(ss, kSuperSlabSize);
  bool populated = got_hugetlb;
  if (thp) {
    os::g_os_stats.hugepages_thp.fetch_add(1, std::memory_order_relaxed);
    if (populate_enabled()) {
      std::uint64_t t0 = os::now_ns();
      os::populate(ss, kSuperSlabSize);
      page_cost_note_huge(os::now_ns() - t0);
      populated = true;
    }
  }
  ss->magic = kSuperSlabMagic;
  ss->owner.store(nullptr, std::memory_order_relaxed);
  ss->hugetlb = got_hugetlb;
  ss->guarded = false;
  ss->huge_page = thp || got_hugetlb;
  ss->purged = false;
  ss->touched_units = 0;
  ss->populated_units = populated ? kAllUnits : 0;  // hugetlb pages are faulted whole
  ss->numa_node = -1;
  if (got_hugetlb) os::g_os_stats.hugepages_hugetlb.fetch_add(1, std::memory_order_relaxed);
  g_stats.mapped.fetch_add(1, std::memory_order_relaxed);
  return ss;
}

}  // namespace

void pool_configure(const PoolConfig& cfg) {
  LockGuard g(g_pool_lock);
  g_cfg = cfg;
  g_dense_threshold.store(cfg.dense_threshold, std::memory_order_relaxed);
  g_numa_mode.store(cfg.numa_mode, std::memory_order_relaxed);
}
PoolConfig pool_config() {
  LockGuard g(g_pool_lock);
  return g_cfg;
}
const PoolStats& pool_stats() { return g_stats; }
Lock& pool_lock() { return g_pool_lock; }

std::atomic<std::uint32_t> g_dense_threshold{0};  // DENSE_AFTER_SLABS (pool_configure)

std::uint32_t pool_dense_threshold() { return g_dense_threshold.load(std::memory_order_relaxed); }

SuperSlab* pool_acquire(ChunkKind kind, bool dense) {
  LatencyTimer timer(Latency::kSuperSlabAcquire);
  SuperSlab* ss = nullptr;
  bool zeroed = false;
  {
    LockGuard g(g_pool_lock);
    // Newest warm one first (most likely still in cache), then lazily purged, then purged.
    if ((ss = g_reserve.pop_back())) {
      g_stats.reserved.fetch_sub(1, std::memory_order_relaxed);
    } else if ((ss = g_lazy.pop_back())) {
      g_stats.purged_idle.fetch_sub(1, std::memory_order_relaxed);
    } else if ((ss = g_purged.pop_back())) {
      g_stats.purged_idle.fetch_sub(1, std::memory_order_relaxed);
      zeroed = true;
    }
  }
  if (!ss) {
    ss = map_new(dense);
    if (!ss) return nullptr;
    zeroed = true;
  }
  ss->zeroed = zeroed;
  ss->kind = kind;
  HAK_ASSERT(superslab_of(ss) == ss && ss->magic == kSuperSlabMagic);
  HAK_ASSERT(kind == kChunkSmall || kind == kChunkSpan);
  HAK_ASSERT(ss->owner.load(std::memory_order_relaxed) == nullptr);
  g_stats.in_use.fetch_add(1, std::memory_order_relaxed);
  // Secure mode guards small SuperSlabs only: a span's pages are handed out whole. Guards
  // come off before a whole populate too (it would stop at them), and go back after.
  bool want_guards = kind == kChunkSmall && secure_mode();
  if (ss->guarded && (!want_guards || populates_whole(ss))) superslab_set_guards(ss, false);
  prepare_memory(ss);
  if (want_guards) superslab_set_guards(ss, true);  // kept off if the kernel refuses
  registry_set(ss, kSuperSlabSize, kind, kind);
  return ss;
}

void pool_release(SuperSlab* ss) {
  HAK_ASSERT(chunk_kind(ss) == ss->kind && (ss->kind == kChunkSmall || ss->kind == kChunkSpan));
  HAK_ASSERT(ss->kind != kChunkSmall || superslab_is_empty(ss));  // spans: span.cpp checks
  ss->owner.store(nullptr, std::memory_order_release);
  // While empty it is not ours to free into: a stray free() there is reported as invalid.
  registry_clear(ss, kSuperSlabSize);
  ss->released_ns = os::now_ns();
  g_stats.in_use.fetch_sub(1, std::memory_order_relaxed);
  bool over_budget;
  {
    LockGuard g(g_pool_lock);
    g_reserve.push_back(ss);
    g_stats.reserved.fetch_add(1, std::memory_order_relaxed);
    over_budget = g_reserve.count * kSuperSlabSize > g_cfg.reserve_bytes;
    if (g_next_purge_ns.load(std::memory_order_relaxed) == 0) {
      g_next_purge_ns.store(ss->released_ns + g_cfg.purge_delay_ns, std::memory_order_relaxed);
    }
  }
  if (over_budget) pool_purge(false);
}

void pool_remote_enter() { g_remote_in_flight.fetch_add(1, std::memory_order_seq_cst); }
void pool_remote_exit() { g_remote_in_flight.fetch_sub(1, std::memory_order_release); }

void pool_orphan_push(SuperSlab* ss) {
  // Only small SuperSlabs have owners; an empty one goes to the reserve instead.
  HAK_ASSERT(ss->kind == kChunkSmall && chunk_kind(ss) == kChunkSmall);
  HAK_ASSERT(!superslab_is_empty(ss) && ss->next == nullptr && ss->prev == nullptr);
  ss->owner.store(nullptr, std::memory_order_release);
  LockGuard g(g_pool_lock);
  g_orphans.push_back(ss);
  g_stats.orphaned.fetch_add(1, std::memory_order_relaxed);
}

SuperSlab* pool_orphan_pop() {
  if (g_stats.orphaned.load(std::memory_order_relaxed) == 0) return nullptr;
  LockGuard g(g_pool_lock);
  SuperSlab* ss = g_orphans.pop_front();
  HAK_ASSERT(!ss || ss->owner.load(std::memory_order_relaxed) == nullptr);
  if (ss) g_stats.orphaned.fetch_sub(1, std::memory_order_relaxed);
  return ss;
}

std::size_t pool_purge(bool force) {
  LatencyTimer timer(Latency::kPurge);
  std::size_t released = 0;
  std::uint64_t now = os::now_ns();
  LockGuard g(g_pool_lock);
  g_stats.purge_rounds.fetch_add(1, std::memory_order_relaxed);
  std::uint64_t delay = g_cfg.purge_delay_ns;
  // Stage 2: lazily freed ones that stayed unused another delay are dropped for real.
  while (SuperSlab* ss = g_lazy.head) {
    if (!force && now - ss->released_ns < 2 * delay) break;
    g_lazy.remove(ss);
    os::purge_now(payload(ss), payload_size());
    g_purged.push_back(ss);
    released += payload_size();
  }
  // Stage 1: reserve entries past the delay, or beyond the budget, are MADV_FREE'd (or
  // dropped at once when forced, so malloc_trim lowers RSS immediately).
  while (SuperSlab* ss = g_reserve.head) {
    bool over = g_reserve.count * kSuperSlabSize > g_cfg.reserve_bytes;
    if (!force && !over && now - ss->released_ns < delay) break;
    g_reserve.remove(ss);
    g_stats.reserved.fetch_sub(1, std::memory_order_relaxed);
    if (ss->hugetlb) {
      // hugetlb pages go back only whole: MADV_DONTNEED of the payload (not 2 MiB-aligned)
      // fails with EINVAL, and a whole-page purge would take the header with it. Empty and
      // out of the registry, the SuperSlab can be unmapped once no remote push is inside.
      if (unmap_when_quiescent(ss)) {
        released += kSuperSlabSize;
      } else {
        g_reserve.push_back(ss);  // busy pushers: try again at the next purge
        g_stats.reserved.fetch_add(1, std::memory_order_relaxed);
        break;
      }
      continue;
    }
    g_stats.purged_idle.fetch_add(1, std::memory_order_relaxed);
    ss->purged = true;
    ss->populated_units = 0;
    ss->touched_units = 0;
    if (force || ss->hugetlb || !os::purge_lazy(payload(ss), payload_size())) {
      os::purge_now(payload(ss), payload_size());
      g_purged.push_back(ss);
    } else {
      g_lazy.push_back(ss);
    }
    released += payload_size();
  }
  SuperSlab* next_due = g_reserve.head ? g_reserve.head : g_lazy.head;
  g_next_purge_ns.store(next_due ? next_due->released_ns + delay : 0, std::memory_order_relaxed);
  return released;
}

std::size_t pool_unmap_idle() {
  std::size_t n = 0;
  LockGuard g(g_pool_lock);
  for (List* list : {&g_purged, &g_lazy}) {
    while (SuperSlab* ss = list->pop_front()) {
      if (!unmap_when_quiescent(ss)) {
        list->push_back(ss);
        return n;
      }
      g_stats.purged_idle.fetch_sub(1, std::memory_order_relaxed);
      ++n;
    }
  }
  return n;
}

void pool_maybe_purge() {
  std::uint64_t due = g_next_purge_ns.load(std::memory_order_relaxed);
  if (due != 0 && os::now_ns() >= due) pool_purge(false);
}

void pool_account(PoolAccount* out, OrphanVisitor orphan, void* ctx) {
  UncountedLockGuard g(g_pool_lock);  // the profiler's look: not in the lock table
  for (SuperSlab* ss = g_reserve.head; ss; ss = ss->next) {
    // A released span SuperSlab has its pages in touched_units too (span.cpp, drop_locked).
    out->reserve_resident += superslab_units_bytes(ss->populated_units | ss->touched_units);
  }
  out->reserve_lazy += g_lazy.count * payload_size();
  out->reserve_purged += g_purged.count * payload_size();
  out->orphans += g_orphans.count;
  if (orphan) {
    for (SuperSlab* ss = g_orphans.head; ss; ss = ss->next) orphan(ss, ctx);
  }
  // Purging keeps the header (only the payload goes back): every mapped SuperSlab has one.
  std::uint64_t mapped = g_stats.mapped.load(std::memory_order_relaxed) -
                         g_stats.unmapped.load(std::memory_order_relaxed);
  out->headers += mapped * kSuperSlabHeaderSize;
}

void pool_fork_prepare() { g_pool_lock.lock(); }
void pool_fork_parent() { g_pool_lock.unlock(); }
void pool_fork_child() { g_pool_lock.reset_after_fork(); }

}  // namespace hakmem
