// The heap profile's sampling countdown (see heap_profile.hpp).
//
// Allocations are sampled as the points of a Poisson process on allocated bytes, of mean
// interval R = HAKMEM_HEAP_SAMPLE bytes, as tcmalloc and jemalloc do: every byte has the
// same chance, and an allocation of s bytes is sampled with probability 1 - exp(-s/R).
// Each size class keeps its own countdown (the bytes before its next sample point), and so
// does the path beyond the slab classes: independent Poisson processes of the same rate on
// disjoint sets of bytes make one Poisson process of that rate on all of them.
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

#include <cstring>

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

// Per-thread state: zero-initialised, seeded at the thread's first sampling miss.
struct SampleThread {
  std::uint64_t rng;
  bool seeded;
  bool busy;  // inside the recording of a sample: allocations go unsampled
  std::uint32_t left[kNumClasses];  // bytes before the class's next sample point
  std::uint64_t left_beyond;
};
__thread SampleThread t_sample __attribute__((tls_model("initial-exec")));

// ---- math without libm (libhakmem.so links nothing but libc) ----
double ln(double x) {  // x > 0
  std::uint64_t bits;
  std::memcpy(&bits, &x, sizeof(bits));
  int e = static_cast<int>((bits >> 52) & 0x7ff) - 1023;
  bits = (bits & ((std::uint64_t{1} << 52) - 1)) | (std::uint64_t{1023} << 52);
  double m;
  std::memcpy(&m, &bits, sizeof(m));  // [1, 2)
  if (m > 1.4142135623730951) {
    m *= 0.5;
    ++e;
  }
  double t = (m - 1) / (m + 1), t2 = t * t;  // |t| <= 0.172
  double s = t * (2 + t2 * (2.0 / 3 + t2 * (2.0 / 5 + t2 * (2.0 / 7 + t2 * (2.0 / 9 + t2 * (2.0 / 11))))));
  return e * 0.6931471805599453 + s;
}
// 1 - exp(-x) for x >= 0, accurate for small x too.
double one_minus_exp_neg(double x) {
  if (x < 1e-3) return x * (1 - x * (0.5 - x * (1.0 / 6 - x / 24)));
  if (x > 40) return 1.0;
  int k = static_cast<int>(x / 0.6931471805599453);
  double r = x - k * 0.6931471805599453;  // [0, ln 2)
  double term = 1, sum = 1;
  for (int i = 1; i < 18; ++i) {
    term *= -r / i;
    sum += term;
  }
  while (k-- > 0) sum *= 0.5;
  return 1 - sum;
}

std::uint64_t next_random(SampleThread& t) {  // xorshift64*
  t.rng ^= t.rng >> 12;
  t.rng ^= t.rng << 25;
  t.rng ^= t.rng >> 27;
  return t.rng * 0x2545f4914f6cdd1dull;
}
// An exponential draw of mean R, in bytes, at least 1 and capped (a 2^-53 uniform is
// -ln = 36.7 means at most).
std::uint64_t draw(SampleThread& t) {
  double u = static_cast<double>((next_random(t) >> 11) + 1) * (1.0 / 9007199254740992.0);
  double v = -ln(u) * static_cast<double>(g_mean);
  return v < 1 ? 1 : static_cast<std::uint64_t>(v);
}
std::uint32_t draw32(SampleThread& t) {
  std::uint64_t v = draw(t);
  return v > 0xffffffffu ? 0xffffffffu : static_cast<std::uint32_t>(v);
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
  for (unsigned c = 0; c < kNumClasses; ++c) t.left[c] = draw32(t);
  t.left_beyond = draw(t);
  t.seeded = true;
}

void record(void* p, std::size_t bytes) {
  double prob = one_minus_exp_neg(static_cast<double>(bytes) / static_cast<double>(g_mean));
  auto wb = static_cast<std::uint64_t>(static_cast<double>(bytes) / prob + 0.5);
  auto wo = static_cast<std::uint64_t>(1 / prob + 0.5);
  heap_record_sample(p, bytes, wb, wo);
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
  bool sampled = t.left[cls] < size;
  if (sampled) {
    t.left[cls] = draw32(t);  // memoryless: the next interval starts after this object
  } else {
    t.left[cls] -= size;
  }
  // Expose the objects the countdown allows before its next sample point.
  auto avail = static_cast<std::uint32_t>(b.top - real);
  std::uint32_t k = t.left[cls] / size;
  std::uint32_t e = k < avail ? k : avail;
  t.left[cls] -= e * size;
  bin_expose(h, cls, e);
  popped(p);
  if (sampled) {
    t.busy = true;
    // Objects in the bin are free: sampled ones among them were freed and not yet flushed.
    if (heap_record_has_live()) heap_record_forget(real, avail);
    record(p, size);
    t.busy = false;
  }
  return p;
}

void heap_sample_beyond(void* p, std::size_t bytes) {
  SampleThread& t = t_sample;
  if (t.busy) return;
  if (!t.seeded) seed(t);
  if (t.left_beyond >= bytes) {
    t.left_beyond -= bytes;
    return;
  }
  t.left_beyond = draw(t);
  t.busy = true;
  record(p, bytes);
  t.busy = false;
}

void heap_sample_forget(void* p) {
  if (heap_record_has_live()) heap_record_forget(&p, 1);
}

}  // namespace hakmem
