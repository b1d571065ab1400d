// Process-wide totals gathered from the layers: stats_collect (the profile record's
// snapshot), hakmem_stats_get / hakmem_stats_print built on it.
#include <cstring>

#include "allocator/api_internal.hpp"
#include "allocator/entry_count.hpp"
#include "allocator/fmt.hpp"
#include "allocator/init.hpp"
#include "allocator/large.hpp"
#include "allocator/profile.hpp"
#include "hakmem/hakmem.h"
#include "superslab/latency.hpp"
#include "superslab/lock.hpp"
#include "superslab/os_stats.hpp"
#include "superslab/pool.hpp"
#include "superslab/span.hpp"

namespace hakmem {
namespace {

constexpr unsigned kFast = sizeof(FastCounters) / sizeof(std::uint64_t);
static_assert(kNumClasses <= HAKMEM_PROFILE_MAX_CLASSES);
static_assert(kLatencyKinds <= HAKMEM_PROFILE_MAX_HISTS);
static_assert(kLatencyBuckets == HAKMEM_PROFILE_BUCKETS);

struct Totals {
  std::uint64_t fast[kFast];
  std::uint64_t refills, flushes, remote_frees, remote_batches, double_frees, faults;
  std::uint64_t class_refills[kNumClasses];
  std::uint64_t class_flushes[kNumClasses];
  bool exited_added;
};

std::uint64_t ld(const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); }

void add_heap(const HeapCounters& c, Totals* t) {
  for (unsigned i = 0; i < kFast; ++i) t->fast[i] += ld(c.published[i]);
  t->refills += ld(c.refills);
  t->flushes += ld(c.flushes);
  t->remote_frees += ld(c.remote_frees);
  t->remote_batches += ld(c.remote_batches);
  t->double_frees += ld(c.double_frees);
  t->faults += ld(c.slow_path_faults);
  for (unsigned i = 0; i < kNumClasses; ++i) {
    t->class_refills[i] += ld(c.class_refills[i]);
    t->class_flushes[i] += ld(c.class_flushes[i]);
  }
}

// Runs under the heap lock: exited totals are read there too, so a thread folding its
// counters into them at exit is counted exactly once.
void visit(const ThreadHeap* h, void* ctx) {
  auto* t = static_cast<Totals*>(ctx);
  if (!t->exited_added) {
    add_heap(heap_exited_totals(), t);
    t->exited_added = true;
  }
  add_heap(h->counters, t);
}

void put_lock(hakmem_profile_data* out, const char* name, const LockStats& s) {
  unsigned i = 0;
  while (i < HAKMEM_PROFILE_MAX_LOCKS && out->locks[i].name[0] != '\0') ++i;
  if (i == HAKMEM_PROFILE_MAX_LOCKS) return;
  hakmem_profile_lock& l = out->locks[i];
  std::strncpy(l.name, name, sizeof(l.name) - 1);
  l.acquisitions = ld(s.acquisitions);
  l.contended = ld(s.contended);
  l.wait_ns = ld(s.wait_ns);
}

}  // namespace

void stats_collect(hakmem_profile_data* out) {
  ensure_init();
  if (t_cache != &g_sentinel_cache) heap_publish(heap_of(t_cache));
  std::memset(out, 0, sizeof(*out));
  Totals t{};
  heap_visit_live(visit, &t);
  if (!t.exited_added) add_heap(heap_exited_totals(), &t);

  hakmem_profile_counters& c = out->counters;
  // Published by the heaps, plus the counts of threads that have no heap.
  FastCounters f, heapless{};
  std::memcpy(&f, t.fast, sizeof(f));
  heapless_add_to(&heapless);
  const auto* hl = reinterpret_cast<const std::uint64_t*>(&heapless);
  auto* all = reinterpret_cast<std::uint64_t*>(&f);
  for (unsigned i = 0; i < kFast; ++i) all[i] += hl[i];
  // Published fields only, each of which grows (entry_count.hpp); threads without a heap
  // have no bins, so their cache totals stay 0.
  auto calls = [&f](Entry e) { return f.calls[entry_index(e)]; };
  c.malloc_calls = calls(Entry::kMalloc);
  c.free_calls = calls(Entry::kFree);
  c.calloc_calls = calls(Entry::kCalloc);
  c.realloc_calls = calls(Entry::kRealloc);
  c.aligned_calls = calls(Entry::kAligned);
  c.new_calls = calls(Entry::kNew);
  c.delete_calls = calls(Entry::kDelete);
  c.cache_allocs = f.cache_allocs;  // every bin pop, whoever called
  c.cache_frees = f.cache_frees;
  c.bytes_requested = f.bytes_requested;
  c.bytes_served = f.bytes_served;
  c.refills = t.refills;
  c.flushes = t.flushes;
  c.remote_frees = t.remote_frees;
  c.remote_batches = t.remote_batches;
  c.double_frees = t.double_frees;
  c.page_faults_slow_path = t.faults;
  for (unsigned i = 0; i < kNumClasses; ++i) {
    out->class_size[i] = kClassSize[i];
    out->class_refills[i] = t.class_refills[i];
    out->class_flushes[i] = t.class_flushes[i];
  }

  const PoolStats& ps = pool_stats();
  c.superslabs_mapped = ld(ps.mapped);
  c.superslabs_in_use = ld(ps.in_use);
  c.superslabs_reserved = ld(ps.reserved);
  c.superslabs_purged = ld(ps.purged_idle);
  c.superslabs_orphaned = ld(ps.orphaned);
  c.purge_rounds = ld(ps.purge_rounds);
  const os::OsStats& os = os::g_os_stats;
  c.bytes_mapped = ld(os.bytes_mapped);
  c.bytes_populated = ld(os.bytes_populated);
  c.bytes_purged = ld(os.bytes_purged);
  c.bytes_purged_lazy = ld(os.bytes_purged_lazy);
  c.mmap_calls = ld(os.mmap_calls);
  c.munmap_calls = ld(os.munmap_calls);
  c.madvise_calls = ld(os.madvise_calls);
  c.hugepages_thp = ld(os.hugepages_thp);
  c.hugepages_hugetlb = ld(os.hugepages_hugetlb);
  LargeStats ls = large_stats();
  c.large_allocs = ls.allocs;
  c.large_cache_hits = ls.cache_hits;
  c.large_cache_misses = ls.cache_misses;
  c.large_cached_bytes = ls.cached_bytes;
  c.large_live_bytes = ls.live_bytes;
  c.invalid_frees = invalid_free_count();
  c.threads_created = heaps_created();
  c.threads_exited = heaps_exited();

  // Every internal lock (superslab/lock.hpp), each with its own counts.
  put_lock(out, pool_lock().name(), pool_lock().stats());
  put_lock(out, "heap_registry", heap_lock_stats());
  put_lock(out, "span", span_lock_stats());
  put_lock(out, "large", large_lock_stats());
  LockStats heaps;
  heap_locks_total(&heaps);
  put_lock(out, "thread_heaps", heaps);

  for (unsigned k = 0; k < kLatencyKinds; ++k) {
    LatencySnapshot h;
    latency_read(static_cast<Latency>(k), &h);
    hakmem_profile_histogram& o = out->hists[k];
    std::strncpy(o.name, latency_name(static_cast<Latency>(k)), sizeof(o.name) - 1);
    o.count = h.count;
    o.sum_ns = h.sum_ns;
    o.max_ns = h.max_ns;
    std::memcpy(o.buckets, h.buckets, sizeof(o.buckets));
  }
}

}  // namespace hakmem

using namespace hakmem;

extern "C" int hakmem_stats_get(hakmem_stats* out) {
  if (!out) return -1;
  hakmem_profile_data d;
  stats_collect(&d);
  const hakmem_profile_counters& c = d.counters;
  std::memset(out, 0, sizeof(*out));
  out->version = HAKMEM_STATS_VERSION;
  out->malloc_calls = c.malloc_calls;
  out->free_calls = c.free_calls;
  out->calloc_calls = c.calloc_calls;
  out->realloc_calls = c.realloc_calls;
  out->aligned_calls = c.aligned_calls;
  out->refills = c.refills;
  out->flushes = c.flushes;
  out->remote_frees = c.remote_frees;
  out->remote_batches = c.remote_batches;
  out->superslabs_mapped = c.superslabs_mapped;
  out->superslabs_unmapped = pool_stats().unmapped.load(std::memory_order_relaxed);
  out->superslabs_in_use = c.superslabs_in_use;
  out->superslabs_reserved = c.superslabs_reserved;
  out->bytes_mapped = c.bytes_mapped;
  out->bytes_populated = c.bytes_populated;
  out->bytes_purged = c.bytes_purged + c.bytes_purged_lazy;
  out->madvise_calls = c.madvise_calls;
  out->hugepages_thp = c.hugepages_thp;
  out->hugepages_hugetlb = c.hugepages_hugetlb;
  out->large_allocs = c.large_allocs;
  out->large_cache_hits = c.large_cache_hits;
  out->large_cache_misses = c.large_cache_misses;
  out->invalid_frees = c.invalid_frees;
  out->double_frees = c.double_frees;
  out->page_faults_slow_path = c.page_faults_slow_path;
  out->threads_created = c.threads_created;
  out->threads_exited = c.threads_exited;
  out->new_calls = c.new_calls;
  out->delete_calls = c.delete_calls;
  out->cache_allocs = c.cache_allocs;
  out->cache_frees = c.cache_frees;
  out->bytes_requested = c.bytes_requested;
  out->bytes_served = c.bytes_served;
  static_assert(HAKMEM_STATS_MAX_LOCKS == HAKMEM_PROFILE_MAX_LOCKS);
  static_assert(HAKMEM_STATS_LOCK_NAME_LEN == HAKMEM_PROFILE_NAME_LEN);
  for (const hakmem_profile_lock& l : d.locks) {
    if (l.name[0] == '\0') break;
    hakmem_lock_stats& o = out->locks[out->num_locks++];
    std::memcpy(o.name, l.name, sizeof(o.name));
    o.acquisitions = l.acquisitions;
    o.contended = l.contended;
    o.wait_ns = l.wait_ns;
    out->lock_acquisitions += l.acquisitions;
    out->lock_contended += l.contended;
    out->lock_wait_ns += l.wait_ns;
  }
  return 0;
}

extern "C" void hakmem_stats_print(void) {
  hakmem_stats s;
  hakmem_stats_get(&s);
  struct Row {
    const char* name;
    std::uint64_t value;
  } rows[] = {
      {"malloc calls", s.malloc_calls},         {"free calls", s.free_calls},
      {"calloc calls", s.calloc_calls},         {"realloc calls", s.realloc_calls},
      {"aligned calls", s.aligned_calls},       {"new calls", s.new_calls},
      {"delete calls", s.delete_calls},         {"thread-cache allocs", s.cache_allocs},
      {"thread-cache frees", s.cache_frees},    {"bytes requested", s.bytes_requested},
      {"bytes served", s.bytes_served},         {"refills", s.refills},
      {"flushes", s.flushes},                   {"remote frees", s.remote_frees},
      {"remote batches", s.remote_batches},     {"superslabs mapped", s.superslabs_mapped},
      {"superslabs in use", s.superslabs_in_use}, {"superslabs reserved", s.superslabs_reserved},
      {"bytes mapped", s.bytes_mapped},         {"bytes populated", s.bytes_populated},
      {"bytes purged", s.bytes_purged},         {"madvise calls", s.madvise_calls},
      {"THP superslabs", s.hugepages_thp},      {"hugetlb superslabs", s.hugepages_hugetlb},
      {"large allocs", s.large_allocs},         {"large cache hits", s.large_cache_hits},
      {"large cache misses", s.large_cache_misses}, {"invalid frees", s.invalid_frees},
      {"double frees", s.double_frees},         {"faults in slow paths", s.page_faults_slow_path},
      {"threads created", s.threads_created},   {"threads exited", s.threads_exited},
      {"lock acquisitions", s.lock_acquisitions}, {"lock contended", s.lock_contended},
      {"lock wait ns", s.lock_wait_ns},
  };
  TextBuf b;
  b.str("hakmem: statistics\n").flush_stderr();
  for (const Row& r : rows) b.str("hakmem:   ").str(r.name).pad_to(34).num(r.value).str("\n").flush_stderr();
  // Per lock: acquisitions, contended acquisitions, wait time, kept apart.
  for (std::uint32_t i = 0; i < s.num_locks; ++i) {
    const hakmem_lock_stats& l = s.locks[i];
    b.str("hakmem:   lock ").str(l.name).pad_to(34).num(l.acquisitions).str(" acquired, ")
        .num(l.contended).str(" contended, ").num(l.wait_ns).str(" ns waiting\n").flush_stderr();
  }
}
