// Heap-profile support in the cache layer (see the block in heap.hpp): the real bottom of a
// bin, hiding objects below a raised base, and the hook heap_return_objects calls. The bins
// of a heap are consecutive ranges of ThreadHeap::slots, in class order (reset_heap), so a
// bin's real base is a fixed offset into slots.
#include <array>

#include "unified_cache/heap_internal.hpp"

namespace hakmem {

std::atomic<ObjectReturnHook> g_object_return_hook{nullptr};


void bin_unhide_all(ThreadHeap* h) {
  // Secure mode runs no heap profile, and its fast-path bins must stay empty and full.
  if (secure_mode()) return;
  for (unsigned c = 0; c < kNumClasses; ++c) h->cache.bins[c].base = bin_real_base(h, c);
}

void set_object_return_hook(ObjectReturnHook hook) {
  g_object_return_hook.store(hook, std::memory_order_release);
}

void forget_sampled_objects(ObjectReturnHook hook, void* const* objs, std::uint32_t n) {
  // A bin's objects come in runs from the same 64 KiB unit (a refill carves or pops them
  // together): a unit whose slab has no samples is looked up once per run.
  std::uintptr_t clean_unit = 0;
  for (std::uint32_t i = 0; i < n; ++i) {
    std::uintptr_t unit = reinterpret_cast<std::uintptr_t>(objs[i]) >> kUnitShift;
    if (unit == clean_unit) continue;
    Slab* s = slab_of(superslab_of(objs[i]), objs[i]);
    if (s->sampled.load(std::memory_order_relaxed) == 0) {
      clean_unit = unit;
      continue;
    }
    if (hook(objs[i])) heap_sample_removed(s);
  }
}

void heap_sample_added(ThreadHeap* h, Slab* s) {
  slab_sampled_add(s);
  h->sampled_live[s->cls].fetch_add(1, std::memory_order_relaxed);
}

void heap_sample_removed(Slab* s) {
  slab_sampled_remove(s);
  auto* owner = static_cast<ThreadHeap*>(superslab_of(s)->owner.load(std::memory_order_relaxed));
  if (!owner) return;
  std::atomic<std::uint32_t>& n = owner->sampled_live[s->cls];
  std::uint32_t v = n.load(std::memory_order_relaxed);
  while (v != 0 && !n.compare_exchange_weak(v, v - 1, std::memory_order_relaxed)) {
  }
}

}  // namespace hakmem
