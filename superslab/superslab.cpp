#include "superslab/superslab.hpp"

#include <new>

#include "superslab/assert.hpp"
#include "superslab/os.hpp"
#include "superslab/page_cost.hpp"

namespace hakmem {

void superslab_init_small(SuperSlab* ss, void* owner) {
  HAK_ASSERT(superslab_of(ss) == ss);  // 2 MiB aligned: free() finds it by masking
  // Keep populated_units/purged across recycling: they describe the memory, not the use.
  ss->magic = kSuperSlabMagic;
  ss->owner.store(owner, std::memory_order_relaxed);
  ss->kind = kChunkSmall;
  ss->free_units = kAllUnits;
  ss->free_seen_units = 0;
  for (auto& info : ss->unit_info) info = kUnitFree;
  for (auto& g : ss->geometry) g = kFreeUnitGeometry;
  ss->remote_pending.store(0, std::memory_order_relaxed);
  ss->next = ss->prev = nullptr;
  ss->released_ns = 0;
  for (auto& slab : ss->slabs) {
    slab.local_free = nullptr;
    slab.bump = slab.limit = slab.start = nullptr;
    slab.used = slab.capacity = slab.obj_size = 0;
    slab.state = SlabState::kUnused;
    slab.next = slab.prev = nullptr;
    slab.remote_free.store(nullptr, std::memory_order_relaxed);
  }
}

static int find_free_run(std::uint32_t free_units, unsigned units, bool allow_unit0) {
  std::uint32_t run_mask = unit_run_mask(0, units);
  // Multi-unit slabs start at a multiple of their size so large objects stay aligned.
  for (unsigned u = allow_unit0 ? 0 : units; u + units <= kUnitsPerSuperSlab; u += units) {
    if (((free_units >> u) & run_mask) == run_mask) return static_cast<int>(u);
  }
  return -1;
}

Slab* superslab_carve_slab(SuperSlab* ss, unsigned cls, std::uint32_t obj_size, bool populate,
                           std::uint32_t owner_tag, std::uint32_t allowed_units) {
  HAK_ASSERT(ss->magic == kSuperSlabMagic && ss->kind == kChunkSmall);
  HAK_ASSERT(obj_size >= sizeof(FreeObject) && obj_size % 16 == 0);  // link + free tag
  HAK_ASSERT(cls <= kUnitInfoClassMask && cls != unit_info_class(kUnitFree));
  unsigned units = slab_units_for(obj_size);
  // Unit 0 is shorter (the header); prefer it for small classes only.
  int u = find_free_run(ss->free_units & allowed_units, units,
                        units == 1 && obj_size <= kUnitZeroMaxObject);
  if (u < 0) return nullptr;
  unsigned first = static_cast<unsigned>(u);
  std::uint32_t run_mask = unit_run_mask(first, units);
  HAK_ASSERT((ss->free_units & run_mask) == run_mask);
  HAK_ASSERT(first % units == 0 && (first != 0 || obj_size <= kUnitZeroMaxObject));
  HAK_ASSERT(ss->slabs[first].state == SlabState::kUnused);
  ss->free_units &= ~run_mask;
  ss->free_seen_units &= ~run_mask;

  Slab* slab = &ss->slabs[first];
  char* begin = unit_address(ss, first);
  char* end = begin + units * kUnitSize;
  if (first == 0) begin += kSuperSlabHeaderSize + (ss->guarded ? kGuardSize : 0);
  if (ss->guarded && first + units == kUnitsPerSuperSlab) end -= kGuardSize;
  slab->start = begin;
  slab->bump = begin;
  slab->obj_size = static_cast<std::uint16_t>(obj_size);
  slab->capacity = static_cast<std::uint32_t>((end - begin) / obj_size);
  slab->limit = begin + std::size_t{slab->capacity} * obj_size;
  // Every object is aligned to the largest power of two dividing its size (16 at least):
  // class_of_aligned (allocator/) relies on it for aligned requests.
  HAK_ASSERT((begin - reinterpret_cast<char*>(ss)) % (obj_size & (~obj_size + 1)) == 0);
  HAK_ASSERT(slab->capacity >= 1 && slab->limit <= end);
  slab->local_free = nullptr;
  slab->used = 0;
  slab->cls = static_cast<std::uint8_t>(cls);
  slab->first_unit = static_cast<std::uint8_t>(first);
  slab->units = static_cast<std::uint8_t>(units);
  slab->state = SlabState::kActive;
  slab->next = slab->prev = nullptr;
  slab->remote_free.store(nullptr, std::memory_order_relaxed);
  slab->purged_pages = 0;
  slab->purge_candidates = 0;
  slab->purge_dirty = false;
  slab->populated_pages = 0;
  UnitGeometry geo =
      unit_geometry(reinterpret_cast<std::uintptr_t>(begin), obj_size, slab->capacity, owner_tag);
  for (unsigned i = first; i < first + units; ++i) {
    ss->geometry[i] = geo;
    ss->unit_info[i] = unit_info_pack(first, cls);
  }
  // A bulk class's slab is populated whole now (one madvise, and a sample for the cost
  // model); any other slab page by page as refill reaches its pages.
  ss->touched_units |= run_mask;
  if (populate && (ss->populated_units & run_mask) != run_mask) {
    std::uint64_t t0 = os::now_ns();
    std::size_t len = static_cast<std::size_t>(end - begin);
    os::populate(begin, len);
    if (!ss->huge_page) page_cost_note_small(len, os::now_ns() - t0);
    ss->populated_units |= run_mask;
  }
  return slab;
}

std::size_t superslab_populate_slab(SuperSlab* ss, Slab* slab, const char* end) {
  HAK_ASSERT(slab->state != SlabState::kUnused && &ss->slabs[slab->first_unit] == slab);
  HAK_ASSERT(end >= slab->start && end <= slab->limit);
  char* base = unit_address(ss, slab->first_unit);
  std::size_t want = (static_cast<std::size_t>(end - base) + os::kPageSize - 1) / os::kPageSize;
  if (want <= slab->populated_pages) return 0;
  // Pages before the first object (unit 0's header, and a guard page) are never populated:
  // the header is resident already, and a guard page would stop the populate.
  std::size_t first_object_page = static_cast<std::size_t>(slab->start - base) / os::kPageSize;
  std::size_t from = slab->populated_pages > first_object_page ? slab->populated_pages
                                                               : first_object_page;
  HAK_ASSERT(want <= std::size_t{slab->units} * kUnitSize / os::kPageSize);  // fits the uint8_t
  slab->populated_pages = static_cast<std::uint8_t>(want);
  if (want <= from) return 0;
  if ((ss->populated_units >> slab->first_unit) & 1) return 0;  // already whole
  std::size_t len = (want - from) * os::kPageSize;
  os::populate(base + from * os::kPageSize, len);
  return len;
}

std::size_t superslab_purge_free_units(SuperSlab* ss, bool force) {
  std::uint32_t candidates = ss->free_units & (ss->populated_units | ss->touched_units);
  // hugetlb pages cannot be given back piecemeal (MADV_DONTNEED needs whole 2 MiB pages);
  // the pool unmaps the SuperSlab once it is empty.
  if (ss->hugetlb) return 0;
  std::uint32_t seen = ss->free_seen_units;
  ss->free_seen_units = ss->free_units;
  if (!force) candidates &= seen;
  std::size_t released = 0;
  while (candidates) {
    unsigned u = static_cast<unsigned>(__builtin_ctz(candidates));
    unsigned end = u;
    while (end < kUnitsPerSuperSlab && (candidates >> end) & 1) ++end;
    char* begin = unit_address(ss, u);
    if (u == 0) begin += kSuperSlabHeaderSize;  // the header stays
    std::size_t len = static_cast<std::size_t>(unit_address(ss, 0) + end * kUnitSize - begin);
    std::uint32_t mask = unit_range_mask(u, end);
    // Only free units, page-aligned, never the header.
    HAK_ASSERT((ss->free_units & mask) == mask);
    HAK_ASSERT(reinterpret_cast<std::uintptr_t>(begin) % os::kPageSize == 0 && len % os::kPageSize == 0);
    HAK_ASSERT(begin >= reinterpret_cast<char*>(ss) + kSuperSlabHeaderSize &&
               begin + len <= reinterpret_cast<char*>(ss) + kSuperSlabSize);
    os::purge_now(begin, len);
    released += len;
    ss->populated_units &= ~mask;
    ss->touched_units &= ~mask;
    candidates &= ~mask;
  }
  return released;
}

void superslab_release_slab(SuperSlab* ss, Slab* slab) {
  unsigned first = slab->first_unit;
  unsigned units = slab->units;
  std::uint32_t run_mask = unit_run_mask(first, units);
  // An empty slab of this SuperSlab, off every list, whose units are all still carved.
  HAK_ASSERT(&ss->slabs[first] == slab && slab->state != SlabState::kUnused);
  HAK_ASSERT(slab->used == 0 && slab->next == nullptr && slab->prev == nullptr);
  HAK_ASSERT(slab->remote_free.load(std::memory_order_relaxed) == nullptr);  // counted in used
  HAK_ASSERT((ss->free_units & run_mask) == 0);
  for (unsigned i = first; i < first + units; ++i) {
    HAK_ASSERT(unit_info_first(ss->unit_info[i]) == first);
    ss->unit_info[i] = kUnitFree;
    ss->geometry[i] = kFreeUnitGeometry;
  }
  ss->free_units |= run_mask;
  slab->state = SlabState::kUnused;
  slab->local_free = nullptr;
  slab->used = 0;
  slab->next = slab->prev = nullptr;
}

}  // namespace hakmem
