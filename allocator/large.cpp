#include "allocator/large.hpp"

#include <atomic>
#include <cerrno>
#include <cstring>

#include "superslab/os_stats.hpp"
#include "superslab/page_cost.hpp"
#include "superslab/lock.hpp"
#include "superslab/os.hpp"
#include "superslab/pool.hpp"
#include "superslab/registry.hpp"

namespace hakmem {
namespace {

constexpr std::uint64_t kHugeMagic = 0x48414b4d454d4847ull;  // "HAKMEMHG"
constexpr std::size_t kHeaderRoom = 64;
constexpr std::size_t kPopulateLimit = std::size_t{64} << 20;  // beyond: let it fault sparsely
constexpr unsigned kCacheSlots = 32;
// Largest request served (64 TiB): beyond it the rounding up of sizes could wrap, and no
// machine this runs on has the memory anyway.
constexpr std::size_t kMaxLargeRequest = std::size_t{1} << 46;

struct HugeHeader {
  std::uint64_t magic;
  char* map_base;
  std::size_t map_size;
  char* user;
  std::size_t populated;  // bytes from map_base known faulted
  bool aligned_layout;    // header in the page before user (alignment >= 2 MiB)
};

struct CacheEntry {
  char* base;
  std::size_t size;
  std::size_t populated;
  std::uint64_t freed_ns;
};

Lock g_large_lock("large");
CacheEntry g_cache[kCacheSlots];
unsigned g_cache_count = 0;
std::size_t g_cache_bytes = 0;
// LARGE_CACHE_MB and PURGE_DELAY_MS, set by large_set_cache_limit at start-up (the defaults
// are the option table's, allocator/config.cpp): nothing is cached before then.
std::size_t g_cache_limit = 0;
std::uint64_t g_delay_ns = 0;
// Oldest cached entry's expiry (0: cache empty), read without the lock by large_maybe_purge
// so slow paths can age the cache out without a background thread.
std::atomic<std::uint64_t> g_next_expiry{0};

void update_next_expiry() {
  std::uint64_t next = 0;
  for (unsigned i = 0; i < g_cache_count; ++i) {
    std::uint64_t due = g_cache[i].freed_ns + g_delay_ns;
    if (next == 0 || due < next) next = due;
  }
  g_next_expiry.store(next, std::memory_order_relaxed);
}
LargeStats g_stats{};

std::size_t round_up(std::size_t v, std::size_t a) { return (v + a - 1) & ~(a - 1); }

HugeHeader* header_of(const void* p) {
  ChunkKind k = chunk_kind(p);
  std::uintptr_t a = reinterpret_cast<std::uintptr_t>(p);
  HugeHeader* h;
  if (k == kChunkHuge) {
    h = reinterpret_cast<HugeHeader*>(a & ~(kChunkSize - 1));
  } else if (k == kChunkHugeAligned) {
    if (a & (kChunkSize - 1)) return nullptr;
    h = reinterpret_cast<HugeHeader*>(a - os::kPageSize);
  } else {
    return nullptr;
  }
  if (h->magic != kHugeMagic || h->user != p) return nullptr;
  return h;
}

void ensure_populated(HugeHeader* h, std::size_t upto) {
  if (os::policy().populate == os::PopulatePolicy::kNever) return;
  upto = round_up(upto, os::kPageSize);
  if (upto > h->map_size) upto = h->map_size;
  if (upto > kPopulateLimit && os::policy().populate != os::PopulatePolicy::kAlways) {
    upto = kPopulateLimit;
  }
  if (upto > h->populated) {
    os::populate(h->map_base + h->populated, upto - h->populated);
    h->populated = upto;
  }
}

// Takes the best-fitting cached mapping of at least `need` bytes (and not absurdly larger).
bool cache_take(std::size_t need, CacheEntry* out) {
  int best = -1;
  for (unsigned i = 0; i < g_cache_count; ++i) {
    const CacheEntry& e = g_cache[i];
    if (e.size < need || e.size > 2 * need + kChunkSize) continue;
    if (best < 0 || e.size < g_cache[best].size) best = static_cast<int>(i);
  }
  if (best < 0) return false;
  *out = g_cache[best];
  g_cache[best] = g_cache[--g_cache_count];
  g_cache_bytes -= out->size;
  return true;
}

void cache_evict_oldest() {
  unsigned oldest = 0;
  for (unsigned i = 1; i < g_cache_count; ++i) {
    if (g_cache[i].freed_ns < g_cache[oldest].freed_ns) oldest = i;
  }
  CacheEntry e = g_cache[oldest];
  g_cache[oldest] = g_cache[--g_cache_count];
  g_cache_bytes -= e.size;
  os::unmap(e.base, e.size);
}

}  // namespace

void* large_alloc(std::size_t size, std::size_t align, bool* fresh) {
  if (align < 16) align = 16;
  bool aligned_layout = align >= kChunkSize;
  std::size_t lead = aligned_layout ? 0 : (align > kHeaderRoom ? align : kHeaderRoom);
  std::size_t need = lead + size;
  if (need < size || size > kMaxLargeRequest) {
    errno = ENOMEM;
    return nullptr;
  }
  char* base = nullptr;
  std::size_t map_size;
  std::size_t populated = 0;
  bool is_fresh = true;
  {
    // Aligned layout: the object starts at a multiple of align, its header in the page
    // before; any 2 MiB-aligned mapping of map_size bytes has room for that, so cached
    // blocks serve both layouts (not caching aligned ones made posix_memalign(2 MiB, 2 MiB)
    // map and populate 2 MiB on every call: 0.49 ms against the peers' 3 us).
    map_size = aligned_layout ? round_up(size + align + os::kPageSize, kChunkSize)
                              : round_up(need, kChunkSize);
    CacheEntry e;
    bool hit = false;
    {
      LockGuard g(g_large_lock);
      hit = cache_take(map_size, &e);
      g_stats.allocs++;
      if (hit) g_stats.cache_hits++; else g_stats.cache_misses++;
    }
    if (hit) {
      base = e.base;
      map_size = e.size;
      populated = e.populated;
      is_fresh = false;
    } else {
      base = static_cast<char*>(os::map_aligned(map_size, kChunkSize));
    }
  }
  if (!base) {
    // Out of address space or memory: give back what is cached or idle, then try once more.
    large_purge(true);
    pool_unmap_idle();
    base = static_cast<char*>(os::map_aligned(map_size, kChunkSize));
    populated = 0;
    is_fresh = true;
  }
  if (!base) {
    errno = ENOMEM;
    return nullptr;
  }
  char* user;
  HugeHeader* h;
  if (aligned_layout) {
    user = reinterpret_cast<char*>(round_up(reinterpret_cast<std::uintptr_t>(base) + os::kPageSize, align));
    h = reinterpret_cast<HugeHeader*>(user - os::kPageSize);
  } else {
    user = base + lead;
    h = reinterpret_cast<HugeHeader*>(base);
  }
  h->magic = kHugeMagic;
  h->map_base = base;
  h->map_size = map_size;
  h->user = user;
  h->populated = populated;
  h->aligned_layout = aligned_layout;
  // Fresh mappings of 2 MiB or more: huge pages when forced, or under auto when the measured
  // cost model says they pay on this machine (superslab/page_cost.hpp); this populate is
  // then a sample for it, as the SuperSlabs' are.
  bool huge = false;
  if (is_fresh && map_size >= kChunkSize) {
    os::HugePolicy hp = os::policy().huge;
    huge = hp == os::HugePolicy::kThp || hp == os::HugePolicy::kHugetlb ||
           (hp == os::HugePolicy::kAuto && os::thp_mode() != os::kThpNever &&
            page_cost_want_huge(os::g_os_stats.bytes_mapped.load(std::memory_order_relaxed) /
                                kChunkSize));
    if (huge) huge = os::advise_hugepage(base, map_size);
  }
  std::size_t before = h->populated;
  std::uint64_t t0 = os::now_ns();
  ensure_populated(h, static_cast<std::size_t>(user - base) + size);
  std::size_t faulted = h->populated - before;
  if (is_fresh && faulted >= kChunkSize) {
    std::uint64_t ns = os::now_ns() - t0;
    if (huge) page_cost_note_huge(ns / (faulted / kChunkSize));
    else page_cost_note_small(faulted, ns);
  }
  if (aligned_layout) {
    registry_set(base, map_size, kChunkHugeBody, kChunkHugeBody);
    registry_set(user, kChunkSize, kChunkHugeAligned, kChunkHugeAligned);
  } else {
    registry_set(base, map_size, kChunkHuge, kChunkHugeBody);
  }
  {
    LockGuard g(g_large_lock);
    g_stats.live_bytes += map_size;
  }
  if (fresh) *fresh = is_fresh;
  return user;
}

int large_free(void* p) {
  HugeHeader* h = header_of(p);
  if (!h) return -1;
  char* base = h->map_base;
  std::size_t size = h->map_size;
  std::size_t populated = h->populated;
  h->magic = 0;  // a second free of p now fails validation
  registry_clear(base, size);
  LockGuard g(g_large_lock);
  g_stats.live_bytes -= size;
  if (size <= g_cache_limit) {
    while (g_cache_count > 0 &&
           (g_cache_count == kCacheSlots || g_cache_bytes + size > g_cache_limit)) {
      cache_evict_oldest();
    }
    g_cache[g_cache_count++] = CacheEntry{base, size, populated, os::now_ns()};
    g_cache_bytes += size;
    update_next_expiry();
    return 0;
  }
  os::unmap(base, size);
  return 0;
}

std::size_t large_usable_size(const void* p) {
  HugeHeader* h = header_of(p);
  if (!h) return 0;
  return static_cast<std::size_t>(h->map_base + h->map_size - h->user);
}

void* large_realloc(void* p, std::size_t new_size) {
  HugeHeader* h = header_of(p);
  if (!h || h->aligned_layout) return nullptr;
  std::size_t lead = static_cast<std::size_t>(h->user - h->map_base);
  if (new_size > kMaxLargeRequest) return nullptr;  // also keeps round_up from wrapping
  std::size_t need = round_up(lead + new_size, kChunkSize);
  if (need == h->map_size || (need < h->map_size && need >= h->map_size / 2)) {
    ensure_populated(h, lead + new_size);
    return p;
  }
  if (need < h->map_size) {
    // Shrink by more than half: give the tail back.
    registry_clear(h->map_base + need, h->map_size - need);
    os::unmap(h->map_base + need, h->map_size - need);
    {
      LockGuard g(g_large_lock);
      g_stats.live_bytes -= h->map_size - need;
    }
    h->map_size = need;
    if (h->populated > need) h->populated = need;
    return p;
  }
  // Grow: move the pages (no copy) to a fresh 2 MiB-aligned range.
  void* target = os::reserve_aligned(need, kChunkSize);
  if (!target) return nullptr;
  char* old_base = h->map_base;
  std::size_t old_size = h->map_size;
  void* moved = os::remap_into(old_base, old_size, need, target);
  if (!moved) {
    os::release_reservation(target, need);
    return nullptr;
  }
  registry_clear(old_base, old_size);
  auto* nh = static_cast<HugeHeader*>(moved);
  nh->map_base = static_cast<char*>(moved);
  nh->map_size = need;
  nh->user = nh->map_base + lead;
  if (os::policy().huge != os::HugePolicy::kOff && (os::policy().huge != os::HugePolicy::kAuto ||
                                                    page_cost_stats().huge_on)) {
    os::advise_hugepage(moved, need);
  }
  ensure_populated(nh, lead + new_size);
  registry_set(moved, need, kChunkHuge, kChunkHugeBody);
  LockGuard g(g_large_lock);
  g_stats.live_bytes += need - old_size;
  return nh->user;
}

std::size_t large_purge(bool force) {
  std::size_t released = 0;
  std::uint64_t now = os::now_ns();
  LockGuard g(g_large_lock);
  for (unsigned i = 0; i < g_cache_count;) {
    if (force || now - g_cache[i].freed_ns >= g_delay_ns) {
      CacheEntry e = g_cache[i];
      g_cache[i] = g_cache[--g_cache_count];
      g_cache_bytes -= e.size;
      os::unmap(e.base, e.size);
      released += e.size;
    } else {
      ++i;
    }
  }
  update_next_expiry();
  return released;
}

void large_maybe_purge() {
  std::uint64_t due = g_next_expiry.load(std::memory_order_relaxed);
  if (due != 0 && os::now_ns() >= due) large_purge(false);
}

void large_set_cache_limit(std::size_t bytes, std::uint64_t delay_ns) {
  LockGuard g(g_large_lock);
  g_cache_limit = bytes;
  g_delay_ns = delay_ns;
  while (g_cache_count > 0 && g_cache_bytes > g_cache_limit) cache_evict_oldest();
}

LargeStats large_stats() {
  LockGuard g(g_large_lock);
  LargeStats s = g_stats;
  s.cached_bytes = g_cache_bytes;
  return s;
}

const LockStats& large_lock_stats() { return g_large_lock.stats(); }

void large_fork_prepare() { g_large_lock.lock(); }
void large_fork_parent() { g_large_lock.unlock(); }
void large_fork_child() { g_large_lock.reset_after_fork(); }

}  // namespace hakmem
