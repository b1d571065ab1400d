// Secure mode's checked paths (secure.hpp).
#include "unified_cache/secure.hpp"

#include <cerrno>

#include "superslab/assert.hpp"
#include "unified_cache/heap_internal.hpp"

namespace hakmem {
namespace {

// xorshift64*: a few instructions per draw; unpredictability comes from the seed (the
// per-process key mixed with the heap's address), which is enough to keep the next
// address from being read off the last free.
std::uint64_t next_random(ThreadHeap* h) {
  std::uint64_t x = h->secure_rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  h->secure_rng = x;
  return x * 0x2545f4914f6cdd1dull;
}

// Uniform enough in [0, n) for n <= bin capacity (a few hundred): 64-bit draw, high bits.
std::uint32_t random_below(ThreadHeap* h, std::uint32_t n) {
  return static_cast<std::uint32_t>((static_cast<unsigned __int128>(next_random(h)) * n) >> 64);
}

}  // namespace

void secure_seed(ThreadHeap* h) {
  std::uint64_t seed = g_link_key ^ reinterpret_cast<std::uintptr_t>(h) ^ 0x9e3779b97f4a7c15ull;
  h->secure_rng = seed ? seed : 1;  // xorshift must not start at 0
}

void secure_shuffle(ThreadHeap* h, void** objs, std::uint32_t n) {
  for (std::uint32_t i = n; i > 1; --i) {
    std::uint32_t j = random_below(h, i);
    void* t = objs[i - 1];
    objs[i - 1] = objs[j];
    objs[j] = t;
  }
}

FreeObject* secure_bad_link(const Slab* s, FreeObject* o) {
  (void)s;
  report_error("corrupted free-list link (secure mode: heap overflow or write after free)", o);
  link_set(o, nullptr);  // the objects past it are lost, never handed out
  o->tag = 0;  // o itself was written to: its check at allocation keeps it from going out
  return nullptr;
}

void* cache_secure_pop(unsigned cls) {
  ThreadHeap* h = heap_current();
  if (!h) {
    errno = ENOMEM;
    return nullptr;
  }
  Bin& b = h->secure_bins[cls];
  for (;;) {
    void* p;
    std::uint32_t n = static_cast<std::uint32_t>(b.top - b.base);
    if (n == 0) {
      p = cache_refill_pop(cls);  // fills the bin (shuffled) and pops one
      if (!p) return nullptr;
    } else {
      void** pick = b.base + random_below(h, n);
      p = *pick;
      *pick = b.top[-1];
      --b.top;
    }
    if (secure_object_clean(p, kClassSize[cls])) [[likely]] {
      *static_cast<std::uintptr_t*>(p) = 0;  // clear the free tag, as the fast path does
      return p;
    }
    // Changed while free: it is never handed out again (its slab counts it as in use).
    report_error("write after free (secure mode: a freed object changed before reuse)", p);
  }
}

}  // namespace hakmem
