// The fast paths' continuations (fast_path.hpp): one noinline function per entry point and
// kind of miss, which completes the call from scratch and counts it exactly once
// (entry_count.hpp). Written once as templates; the entry points pick their instance.
#include "allocator/miss.hpp"

#include "allocator/api_internal.hpp"
#include "allocator/entry_count.hpp"
#include "allocator/heap_profile.hpp"
#include "allocator/init.hpp"
#include "allocator/large.hpp"
#include "unified_cache/secure.hpp"

namespace hakmem {

// An empty bin (or the sentinel cache of a thread's first malloc): refill it and pop.
void* refill_pop(unsigned cls) {
  ensure_init();
  large_maybe_purge();  // freed huge blocks go back within the delay, also without a thread
  void* p = heap_sampling() ? heap_sample_refill(cls) : cache_refill_pop(cls);
  if (p) *static_cast<std::uintptr_t*>(p) = 0;  // clear the free tag (see alloc_from_bin)
  return p;
}

template <Entry E>
void* bin_miss(std::size_t bin) {
  void* p;
  if (secure_mode()) {
    // Every small malloc comes here (the fast-path bins stay empty): checked, tag cleared.
    large_maybe_purge();
    p = cache_secure_pop(class_of_bin_offset(bin));
  } else {
    p = refill_pop(class_of_bin_offset(bin));
  }
  count_call(E, p != nullptr);  // after the pop: the refill published before it
  return p;
}

template <Entry E>
void* malloc_miss(std::size_t n) {
  if (n <= kSmallMax) return alloc_from_bin<E>(bin_offset(class_of(n)));
  bool fresh;
  return alloc_beyond_slabs(n, 16, &fresh, E);  // counts the call
}

template <Entry E>
void free_miss(void* p) {
  if (p == nullptr) return;  // not counted: free(NULL) is no call on the heap
  if (chunk_kind(p) != kChunkSmall) {
    free_beyond(p);  // a span or huge block, or reported
    count_call(E, false);
    return;
  }
  const UnitGeometry& g = unit_geometry_of(p);
  if (!object_start_valid(g, p)) {
    ensure_init();
    report_bad_pointer("invalid free (not the start of a block)", p);
    count_call(E, false);
    return;
  }
  if (*static_cast<std::uintptr_t*>(p) == free_tag()) {
    cache_free_suspect(p);  // reports the double free and drops it
    count_call(E, false);
    return;
  }
  // A full bin, or the sentinel cache (the thread's first free makes its heap).
  bool to_bin = cache_flush_push(class_of_bin_offset(g.owner_tag), p);
  count_call(E, to_bin);  // after the push: a flush publishes before it
}

#define HAK_MISS_INSTANCES(E)                               \
  template void* bin_miss<E>(std::size_t);                   \
  template void* malloc_miss<E>(std::size_t);               \
  template void free_miss<E>(void*);
HAK_MISS_INSTANCES(Entry::kMalloc)
HAK_MISS_INSTANCES(Entry::kFree)
HAK_MISS_INSTANCES(Entry::kCalloc)
HAK_MISS_INSTANCES(Entry::kAligned)
HAK_MISS_INSTANCES(Entry::kNew)
HAK_MISS_INSTANCES(Entry::kDelete)
HAK_MISS_INSTANCES(Entry::kInnerAlloc)
HAK_MISS_INSTANCES(Entry::kInnerFree)
#undef HAK_MISS_INSTANCES

const void* const kMissFunctions[] = {
    reinterpret_cast<const void*>(&refill_pop),
#define HAK_MISS_ADDRESSES(E)                                   \
  reinterpret_cast<const void*>(&bin_miss<E>),                  \
      reinterpret_cast<const void*>(&malloc_miss<E>),
    HAK_MISS_ADDRESSES(Entry::kMalloc) HAK_MISS_ADDRESSES(Entry::kCalloc)
    HAK_MISS_ADDRESSES(Entry::kAligned) HAK_MISS_ADDRESSES(Entry::kNew)
    HAK_MISS_ADDRESSES(Entry::kInnerAlloc)
#undef HAK_MISS_ADDRESSES
};
const unsigned kMissFunctionCount = sizeof(kMissFunctions) / sizeof(kMissFunctions[0]);

}  // namespace hakmem
