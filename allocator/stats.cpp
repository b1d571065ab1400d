// hakmem_stats_get / hakmem_stats_print: process-wide totals gathered from the layers.
#include <cstring>

#include "allocator/api_internal.hpp"
#include "allocator/fmt.hpp"
#include "allocator/init.hpp"
#include "allocator/large.hpp"
#include "hakmem/hakmem.h"
#include "superslab/os_stats.hpp"
#include "superslab/pool.hpp"

namespace hakmem {
namespace {

constexpr unsigned kFast = sizeof(FastCounters) / sizeof(std::uint64_t);

struct Totals {
  std::uint64_t fast[kFast];
  std::uint64_t refills, flushes, remote_frees, remote_batches, double_frees, faults;
};

void add_heap(const HeapCounters& c, Totals* t) {
  for (unsigned i = 0; i < kFast; ++i) t->fast[i] += c.published[i].load(std::memory_order_relaxed);
  t->refills += c.refills.load(std::memory_order_relaxed);
  t->flushes += c.flushes.load(std::memory_order_relaxed);
  t->remote_frees += c.remote_frees.load(std::memory_order_relaxed);
  t->remote_batches += c.remote_batches.load(std::memory_order_relaxed);
  t->double_frees += c.double_frees.load(std::memory_order_relaxed);
  t->faults += c.slow_path_faults.load(std::memory_order_relaxed);
}

void visit(const ThreadHeap* h, void* ctx) { add_heap(h->counters, static_cast<Totals*>(ctx)); }

}  // namespace
}  // namespace hakmem

using namespace hakmem;

extern "C" int hakmem_stats_get(hakmem_stats* out) {
  if (!out) return -1;
  ensure_init();
  if (t_cache != &g_sentinel_cache) heap_publish(heap_of(t_cache));
  Totals t{};
  add_heap(heap_exited_totals(), &t);
  heap_visit_live(visit, &t);
  std::memset(out, 0, sizeof(*out));
  out->version = HAKMEM_STATS_VERSION;
  const FastCounters* f = reinterpret_cast<const FastCounters*>(t.fast);
  out->malloc_calls = f->malloc_calls;
  out->free_calls = f->free_calls;
  out->calloc_calls = f->calloc_calls;
  out->realloc_calls = f->realloc_calls;
  out->aligned_calls = f->aligned_calls;
  out->refills = t.refills;
  out->flushes = t.flushes;
  out->remote_frees = t.remote_frees;
  out->remote_batches = t.remote_batches;
  const PoolStats& ps = pool_stats();
  out->superslabs_mapped = ps.mapped.load(std::memory_order_relaxed);
  out->superslabs_unmapped = 0;  // SuperSlab address space is reused, never unmapped
  out->superslabs_in_use = ps.in_use.load(std::memory_order_relaxed);
  out->superslabs_reserved = ps.reserved.load(std::memory_order_relaxed);
  const os::OsStats& os = os::g_os_stats;
  out->bytes_mapped = os.bytes_mapped.load(std::memory_order_relaxed);
  out->bytes_populated = os.bytes_populated.load(std::memory_order_relaxed);
  out->bytes_purged = os.bytes_purged.load(std::memory_order_relaxed) +
                      os.bytes_purged_lazy.load(std::memory_order_relaxed);
  out->madvise_calls = os.madvise_calls.load(std::memory_order_relaxed);
  out->hugepages_thp = os.hugepages_thp.load(std::memory_order_relaxed);
  out->hugepages_hugetlb = os.hugepages_hugetlb.load(std::memory_order_relaxed);
  LargeStats ls = large_stats();
  out->large_allocs = ls.allocs;
  out->large_cache_hits = ls.cache_hits;
  out->large_cache_misses = ls.cache_misses;
  out->invalid_frees = invalid_free_count();
  out->double_frees = t.double_frees;
  out->page_faults_slow_path = t.faults;
  out->threads_created = heaps_created();
  out->threads_exited = heaps_exited();
  const LockStats* locks[] = {&pool_lock().stats(), &heap_lock_stats()};
  for (const LockStats* l : locks) {
    out->lock_acquisitions += l->acquisitions.load(std::memory_order_relaxed);
    out->lock_contended += l->contended.load(std::memory_order_relaxed);
    out->lock_wait_ns += l->wait_ns.load(std::memory_order_relaxed);
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
      {"aligned calls", s.aligned_calls},       {"refills", s.refills},
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
}
