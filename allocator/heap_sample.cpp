// The heap profile's sampling countdown (see heap_profile.hpp).
//
// Allocations are sampled by bytes with stratified sampling: each size class's stream of
// allocated bytes (and the stream beyond the slab classes) is cut into consecutive blocks
// of R = HAKMEM_HEAP_SAMPLE bytes, and each block holds exactly one sample point, placed
// uniformly at random in it, independently of the other blocks. Every byte is a sample
// point with probability 1/R, as in the Poisson sampling of tcmalloc and jemalloc, so an
// allocation holding k points (usually 0 or 1) stands for k * R bytes, an unbiased
// estimate of its size. What differs is the spread. A site's count of points is a sum of
// one independent Bernoulli per block it touches, so its variance is never above the
// Poisson count's (sum p(1-p) <= sum p), whatever the program's allocation pattern; and a
// site whose bytes come in a run (a leak, a cache filling up) is off by at most one point,
// from the two blocks at the run's ends: 8 MiB at the default 512 KiB is 16 +- 1 points,
// within 6.25%, where a Poisson count has a 25% standard deviation. The independent point
// in each block is what keeps a program whose pattern repeats every R bytes (or R/2, ...)
// from aliasing with the sampler, which a fixed-interval sampler would.
//
// The countdown costs the fast path nothing: it rides on the bin bounds. When a miss of
// class c refills (or is the sample point), the bin is made to expose only the objects that
// the countdown allows before the next sample point, floor(left / size); the others stay in
// the bin below a raised base (unified_cache/bin_expose.cpp). The fast path pops until the
// exposed objects are gone, and the next miss is then exactly the sampled allocation.
//
// What the bins measure is net consumption: a free pushes an object back above base, and a
// pop that takes it again is not charged. A program that frees and allocates in the same
// class without net growth between two misses moves no sample point; its allocations are
// invisible to the profile, and when the next sample point comes, the allocation that
// reaches it is sampled whichever site made the growth. See PERF_NOTES.md (heap profile).
#include <dlfcn.h>
#include <sys/auxv.h>
#include <time.h>


#include "allocator/config.hpp"
#include "allocator/fast_path.hpp"
#include "allocator/heap_profile.hpp"
#include "allocator/heap_unwind.hpp"
#include "platform/clock.hpp"
#include "platform/platform.hpp"
#include "allocator/init.hpp"

namespace hakmem {

std::atomic<bool> g_heap_sampling{false};

namespace {

std::atomic<bool> g_ctor_done{false};
std::atomic<bool> g_wanted{false};     // heap_profile_start ran and the record exists
std::atomic<bool> g_enabling{false};   // one thread loads libunwind
std::atomic<std::uint64_t> g_thread_seq{0};
std::uint64_t g_mean = 524288;         // R, bytes
std::uint64_t g_seed = 0;              // HAKMEM_HEAP_SEED (0: random)

// One stream of allocated bytes: where its next sample point is.
struct Stream {
  std::uint64_t left;    // bytes before the next sample point
  std::uint64_t offset;  // that point's offset in its block of R bytes, in [0, R)
};

// Per-thread state: zero-initialised, seeded at the thread's first sampling miss.
struct SampleThread {
  std::uint64_t rng;
  bool seeded;
  bool busy;  // inside the recording of a sample: allocations go unsampled
  Stream cls[kNumClasses];
  Stream beyond;  // the allocations beyond the slab classes
};
__thread SampleThread t_sample __attribute__((tls_model("initial-exec")));

std::uint64_t next_random(SampleThread& t) {  // xorshift64*
  t.rng ^= t.rng >> 12;
  t.rng ^= t.rng << 25;
  t.rng ^= t.rng >> 27;
  return t.rng * 0x2545f4914f6cdd1dull;
}
// A uniform offset in a block: [0, R).
std::uint64_t draw_offset(SampleThread& t) {
  return static_cast<std::uint64_t>((static_cast<unsigned __int128>(next_random(t)) * g_mean) >> 64);
}

// The first block of a stream starts where the stream does.
void start(SampleThread& t, Stream& s) {
  s.offset = draw_offset(t);
  s.left = s.offset;
}

// An allocation of `bytes` bytes takes the next bytes of stream s: how many sample points
// it holds (0 unless left < bytes; more than 1 only if it reaches into a further block).
// Positions are from the object's start. Blocks wholly inside the object hold one point
// each wherever it is, so only the block at the object's end draws: a 1 GiB block at
// HAKMEM_HEAP_SAMPLE=16 costs two draws, not 2^26.
std::uint64_t take(SampleThread& t, Stream& s, std::uint64_t bytes) {
  if (s.left >= bytes) {
    s.left -= bytes;
    return 0;
  }
  std::uint64_t points = 1;                          // the point at s.left
  std::uint64_t end = s.left + (g_mean - s.offset);  // where that point's block ends
  if (end < bytes) {
    std::uint64_t whole = (bytes - end) / g_mean;
    points += whole;
    end += whole * g_mean;  // the block from `end` holds the object's last byte
  }
  std::uint64_t next = draw_offset(t);  // the point of the block starting at `end`
  if (end + next < bytes) {
    ++points;
    end += g_mean;
    next = draw_offset(t);
  }
  s.offset = next;
  s.left = end + next - bytes;
  return points;
}

void seed(SampleThread& t) {
  std::uint64_t n = g_thread_seq.fetch_add(1, std::memory_order_relaxed);
  std::uint64_t s;
  if (g_seed != 0) {
    s = g_seed * 0x9e3779b97f4a7c15ull + n;  // deterministic per thread creation order
  } else {
    s = platform::clock_ns(CLOCK_MONOTONIC) ^ reinterpret_cast<std::uintptr_t>(&t) ^
        (n << 32) ^ g_free_tag_key;
  }
  t.rng = s ? s : 1;
  for (int i = 0; i < 8; ++i) next_random(t);
  for (unsigned c = 0; c < kNumClasses; ++c) start(t, t.cls[c]);
  start(t, t.beyond);
  t.seeded = true;
}

// An allocation holding `points` sample points stands for points * R bytes, and for that
// many bytes' worth of allocations of its size (rounded; at least one).
int record(void* p, std::size_t bytes, std::uint64_t points) {
  std::uint64_t wb = points * g_mean;
  std::uint64_t wo = (wb + bytes / 2) / bytes;
  return heap_record_sample(p, bytes, wb, wo ? wo : 1);
}

// What the fast path does after a pop (alloc_from_bin): clear the free tag. The caller
// (bin_miss) counts the call.
void* popped(void* p) {
  *static_cast<std::uintptr_t*>(p) = 0;
  return p;
}

// Unsampled service of a miss (inside the recording of a sample): one hidden object if
// there is one, else a plain refill. The countdown is not charged.
void* plain_miss(ThreadHeap* h, unsigned cls) {
  Bin& b = h->cache.bins[cls];
  if (b.base > bin_real_base(h, cls)) {
    b.top = --b.base;  // the miss found top == base; the bin stays empty
    return popped(*b.base);
  }
  void* p = cache_refill_pop(cls);
  return p ? popped(p) : nullptr;
}

void enable_now() {
  if (g_enabling.exchange(true, std::memory_order_acq_rel)) return;
  // libunwind's own start-up may allocate: that must not sample (nothing is on yet).
  if (!unwind_load()) return;
  set_object_return_hook(heap_record_forget);
  g_heap_sampling.store(true, std::memory_order_release);
}

__attribute__((constructor)) void heap_sample_constructor() {
  g_ctor_done.store(true, std::memory_order_release);
  if (g_wanted.load(std::memory_order_acquire)) enable_now();
}

void on_fork_child() {
  // Only the forking thread survives, with this record being the parent's: stop writing it
  // and show the fast path the whole bins again.
  if (!g_heap_sampling.load(std::memory_order_relaxed)) return;
  g_heap_sampling.store(false, std::memory_order_relaxed);
  set_object_return_hook(nullptr);
  if (t_cache != &g_sentinel_cache) bin_unhide_all(heap_of(t_cache));
  heap_record_fork_child();
}

}  // namespace

void heap_profile_start() {
  if (g_wanted.load(std::memory_order_acquire)) return;
  long mean = option(Opt::kHeapSample);
  g_mean = static_cast<std::uint64_t>(mean);
  g_seed = static_cast<std::uint64_t>(option(Opt::kHeapSeed));
  if (!heap_record_create(g_mean)) return;
  platform::ops().atfork(nullptr, nullptr, on_fork_child);
  g_wanted.store(true, std::memory_order_release);
  if (g_ctor_done.load(std::memory_order_acquire)) enable_now();
}

void* heap_sample_refill(unsigned cls) {
  ThreadHeap* h = heap_current();
  if (!h) return cache_refill_pop(cls);  // sets ENOMEM
  SampleThread& t = t_sample;
  if (t.busy) {
    heap_record_nested_alloc();
    return plain_miss(h, cls);
  }
  if (!t.seeded) seed(t);
  Bin& b = h->cache.bins[cls];
  void** real = bin_real_base(h, cls);
  void* p;
  if (b.base > real) {
    b.base = real;  // the hidden objects; top == the old base
    p = *--b.top;
  } else {
    p = cache_refill_pop(cls);
    if (!p) return nullptr;
  }
  const std::uint32_t size = kClassSize[cls];
  Stream& s = t.cls[cls];
  std::uint64_t points = take(t, s, size);
  // Expose the objects the countdown allows before its next sample point.
  auto avail = static_cast<std::uint32_t>(b.top - real);
  // All of the bin, unless the next point comes first (the division only then).
  std::uint32_t e = std::uint64_t{avail} * size <= s.left ? avail : static_cast<std::uint32_t>(s.left / size);
  s.left -= std::uint64_t{e} * size;
  bin_expose(h, cls, e);
  popped(p);
  if (points != 0) {
    t.busy = true;
    // Objects in the bin are free: sampled ones among them were freed and not yet flushed.
    if (heap_record_has_live()) forget_sampled_objects(heap_record_forget, real, avail);
    Slab* slab = slab_of(superslab_of(p), p);
    int change = record(p, size, points);
    if (change > 0) heap_sample_added(h, slab);
    if (change < 0) heap_sample_removed(slab);
    t.busy = false;
  }
  return p;
}

void heap_sample_beyond(void* p, std::size_t bytes) {
  SampleThread& t = t_sample;
  if (t.busy) return;
  if (!t.seeded) seed(t);
  std::uint64_t points = take(t, t.beyond, bytes);
  if (points == 0) return;
  t.busy = true;
  record(p, bytes, points);
  t.busy = false;
}

void heap_sample_exclude_thread() { t_sample.busy = true; }

void heap_sample_forget(void* p) {
  heap_record_forget(p);
}

}  // namespace hakmem
