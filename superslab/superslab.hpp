// A SuperSlab: 2 MiB, 2 MiB-aligned, owned by one thread heap at a time. Its header (first
// 8 KiB) describes 32 units of 64 KiB; a slab is 1, 2 or 4 consecutive units holding objects
// of one size class. Unit 0 starts after the header and hosts only classes up to 4 KiB.
//
// Free lists are intrusive: a free object's second word links to the next (encoded, see
// superslab/hardening.hpp); its first holds the free tag (unified_cache/thread_cache.hpp),
// as in a thread's bin. Three lists per
// slab, as in mimalloc: `local_free` and the bump area belong to the owner thread;
// `remote_free` is an atomic stack other threads push batches onto.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "superslab/hardening.hpp"
#include "superslab/registry.hpp"

namespace hakmem {

inline constexpr std::size_t kSuperSlabSize = kChunkSize;
inline constexpr unsigned kUnitShift = 16;
inline constexpr std::size_t kUnitSize = std::size_t{1} << kUnitShift;
inline constexpr unsigned kUnitsPerSuperSlab = kSuperSlabSize / kUnitSize;  // 32
inline constexpr std::size_t kSuperSlabHeaderSize = 8192;
inline constexpr std::uint64_t kSuperSlabMagic = 0x48414b4d454d5353ull;  // "HAKMEMSS"
inline constexpr std::uint32_t kAllUnits = 0xffffffffu;  // a unit bitmap with every unit set
static_assert(kUnitsPerSuperSlab == 32, "unit bitmaps are 32-bit words");
inline constexpr std::size_t kUnitZeroMaxObject = 4096;

// Two words: every class (16 bytes and up) holds both.
struct FreeObject {
  std::uintptr_t tag;   // free_tag() while free: what free() checks for a double free
  std::uintptr_t link;  // the next object XOR g_link_key (0 unless secure mode): link_next
};
static_assert(sizeof(FreeObject) == 16);
inline FreeObject* link_next(const FreeObject* o) {
  return reinterpret_cast<FreeObject*>(o->link ^ g_link_key);
}
inline void link_set(FreeObject* o, const FreeObject* next) {
  o->link = reinterpret_cast<std::uintptr_t>(next) ^ g_link_key;
}

enum class SlabState : std::uint8_t { kUnused, kActive, kFull };

struct alignas(64) Slab {
  // ---- owner-thread fields: exactly one cache line ----
  FreeObject* local_free = nullptr;
  char* bump = nullptr;       // next never-used object
  char* limit = nullptr;      // end of the last whole object
  char* start = nullptr;      // first object
  Slab* next = nullptr;       // heap's per-class list of slabs with free objects
  Slab* prev = nullptr;
  std::uint32_t used = 0;     // objects out of the slab's lists (in caches or in use)
  std::uint32_t capacity = 0;
  std::uint16_t obj_size = 0; // <= 32 KiB
  std::uint8_t cls = 0;
  std::uint8_t first_unit = 0;
  std::uint8_t units = 0;
  SlabState state = SlabState::kUnused;
  // Sparse SuperSlabs only: pages of the slab (from its first unit's start) pre-faulted so
  // far; refill populates in step with the bump pointer, so a class holding a handful of
  // objects costs a page or two, not a 64 KiB unit.
  std::uint8_t populated_pages = 0;
  // ---- shared: its own cache line, so remote pushes do not false-share the above ----
  alignas(64) std::atomic<FreeObject*> remote_free{nullptr};
  // Owner-only, rarely touched: pages of the slab given back to the OS while all objects on
  // them were free. Those objects are parked off the free list until the pages return.
  std::uint64_t purged_pages = 0;
  // Owner-only: pages whose objects were all free at the last purge pass. A page is given
  // back only when it is still all-free at the next pass, i.e. unused for at least one
  // decay delay: purging pages freed a moment ago would refault them under steady churn.
  std::uint64_t purge_candidates = 0;
  // Owner-only: objects came back to the slab's lists since the last purge pass. A pass
  // looks only at slabs with this set or candidates pending: nothing else can have gained
  // an all-free page, and walking every free list of a large heap each pass costs more than
  // the purge saves.
  bool purge_dirty = false;
  // Heap profile: this slab's objects in the profile's table of live samples, so that a
  // flush looks objects up only in slabs that have some. Written by whichever thread
  // records or forgets a sample (atomic; rare), read by the flush (relaxed). Saturates at
  // kSampledSticky: from there every object of the slab is looked up (correct, slower).
  // On this line, not the owner's: a remote flush touches this line anyway (remote_free),
  // and reading the owner's line would cost a coherence miss per remote object.
  std::atomic<std::uint8_t> sampled{0};
};
static_assert(sizeof(Slab) == 128);

constexpr std::uint8_t kSampledSticky = 0xff;
inline void slab_sampled_add(Slab* s) {
  std::uint8_t v = s->sampled.load(std::memory_order_relaxed);
  while (v != kSampledSticky &&
         !s->sampled.compare_exchange_weak(v, static_cast<std::uint8_t>(v + 1), std::memory_order_relaxed)) {
  }
}
inline void slab_sampled_remove(Slab* s) {
  std::uint8_t v = s->sampled.load(std::memory_order_relaxed);
  while (v != 0 && v != kSampledSticky &&
         !s->sampled.compare_exchange_weak(v, static_cast<std::uint8_t>(v - 1), std::memory_order_relaxed)) {
  }
}

// Where a unit's slab keeps its objects, for the free path's exact-object check in one
// multiply and one compare: p is an object start iff (p - first) * magic < limit, mod 2^64.
// With d the object size, magic = ceil(2^64 / d) (2^64 / d + 1 for a power of two), so
// d * magic = 2^64 + e with 0 < e <= d. For rel = p - first = k*d + r inside the SuperSlab
// (|rel| < 2^21): rel * magic = k*e + r*magic mod 2^64. An object start (r = 0, 0 <= k <
// capacity) gives k*e < capacity*e = limit; any other r gives at least magic >= 2^64/d,
// far above limit, and a negative rel wraps to nearly 2^64. So one test covers "inside the
// slab" and "at an object start" (Lemire, "Faster remainder by direct computation"). A free
// unit has limit 0, which nothing passes. Checked exhaustively per class by the internal
// tests.
struct alignas(32) UnitGeometry {
  std::uint64_t first;  // address of the slab's first object
  std::uint64_t magic;
  std::uint64_t limit;  // capacity * e; 0 for a free unit
  // A value of the owning layer's choosing, read by free() from the same 32-byte entry:
  // the thread cache stores the byte offset of the class's bin, so free indexes its bins
  // without a multiply. Written when the slab is carved, before objects are handed out.
  std::uint32_t owner_tag;
};
static_assert(sizeof(UnitGeometry) == 32);

// SuperSlab::unit_info: the size class in the low byte, the first unit of the unit's slab in
// the high byte. A free unit holds kUnitFree (class 0xff, no slab).
inline constexpr unsigned kUnitInfoFirstShift = 8;
inline constexpr std::uint16_t kUnitInfoClassMask = 0xff;
inline constexpr std::uint16_t kUnitFree = 0xff;
constexpr std::uint16_t unit_info_pack(unsigned first_unit, unsigned cls) {
  return static_cast<std::uint16_t>((first_unit << kUnitInfoFirstShift) |
                                    (cls & kUnitInfoClassMask));
}
constexpr unsigned unit_info_class(std::uint16_t info) { return info & kUnitInfoClassMask; }
constexpr unsigned unit_info_first(std::uint16_t info) { return info >> kUnitInfoFirstShift; }

// Bitmap of the `units` units starting at `first` (units + first <= 32).
constexpr std::uint32_t unit_run_mask(unsigned first, unsigned units) {
  return (units >= kUnitsPerSuperSlab ? kAllUnits : ((1u << units) - 1)) << first;
}
// Bitmap of units [from, to) (to <= 32).
constexpr std::uint32_t unit_range_mask(unsigned from, unsigned to) {
  return unit_run_mask(from, to - from);
}

constexpr UnitGeometry unit_geometry(std::uintptr_t first, std::uint32_t obj_size,
                                     std::uint32_t capacity, std::uint32_t owner_tag) {
  bool pow2 = (obj_size & (obj_size - 1)) == 0;
  // ceil(2^64 / d); for a power of two one more, or e would be 0 and the limit with it.
  std::uint64_t magic = ~std::uint64_t{0} / obj_size + 1 + (pow2 ? 1 : 0);
  std::uint64_t e = magic * obj_size;  // d * magic - 2^64 (wraps)
  return UnitGeometry{first, magic, e * capacity, owner_tag};
}
// A free unit's geometry: limit 0, which no pointer passes.
inline constexpr UnitGeometry kFreeUnitGeometry{0, 1, 0, 0};

// Exact check that p is the start of an object of the slab g describes (see UnitGeometry).
inline __attribute__((always_inline)) bool object_start_valid(const UnitGeometry& g,
                                                              const void* p) {
  return (reinterpret_cast<std::uintptr_t>(p) - g.first) * g.magic < g.limit;
}

struct SuperSlab {
  std::uint64_t magic;
  std::atomic<void*> owner;            // the owning thread heap, nullptr when orphaned/reserved
  ChunkKind kind;                      // kChunkSmall or kChunkSpan
  bool huge_page;                      // advised MADV_HUGEPAGE or hugetlb-backed
  bool hugetlb;
  bool purged;                         // units were given back (need re-populate)
  bool zeroed;                         // payload known to be zero (fresh or MADV_DONTNEED)
  bool guarded;                        // secure mode's guard pages are on (hardening.hpp)
  // Dense: backed by huge pages and pre-faulted whole when acquired, for size classes that
  // allocate in bulk. Otherwise each slab is populated when carved (bulk classes) or page
  // by page as refills hand its objects out (the first slabs of every class).
  bool dense;
  std::uint32_t free_units;            // bitmap: unit i is free (owner only)
  std::uint32_t populated_units;       // bitmap: unit i is pre-faulted whole (owner only)
  std::uint32_t touched_units;         // bitmap: unit i may hold resident pages (sparse use)
  std::uint32_t free_seen_units;       // bitmap: unit i was free at the last purge pass
  // Per unit: size class and first unit of its slab, packed by unit_info_pack (below); read
  // by free() from any thread without a lock (written before objects are handed out).
  std::uint16_t unit_info[kUnitsPerSuperSlab];
  UnitGeometry geometry[kUnitsPerSuperSlab];
  std::atomic<std::uint32_t> remote_pending;  // bit i: slab at unit i got remote frees
  SuperSlab* next;                            // owner's list, reserve or orphan list
  SuperSlab* prev;
  std::uint64_t released_ns;                  // when it entered the reserve (decay clock)
  int numa_node;
  alignas(64) Slab slabs[kUnitsPerSuperSlab];  // indexed by first unit
};
static_assert(sizeof(SuperSlab) <= kSuperSlabHeaderSize);

inline SuperSlab* superslab_of(const void* p) {
  return reinterpret_cast<SuperSlab*>(reinterpret_cast<std::uintptr_t>(p) &
                                      ~(kSuperSlabSize - 1));
}
inline unsigned unit_of(const void* p) {
  return static_cast<unsigned>((reinterpret_cast<std::uintptr_t>(p) >> kUnitShift) &
                               (kUnitsPerSuperSlab - 1));
}
// The SuperSlab of registry chunk idx (chunk_index): free's ownership test has the index in a
// register already, and one shift of it is shorter than a copy and a mask of the pointer.
inline SuperSlab* superslab_at_chunk(std::uintptr_t idx) {
  static_assert(kSuperSlabSize == kChunkSize);
  return reinterpret_cast<SuperSlab*>(idx << kChunkShift);
}
// The geometry of p's unit in SuperSlab ss, its byte offset taken from p in one shift and
// one mask (unit_of(p) * 32 written out, which compilers otherwise compute in three).
inline const UnitGeometry& unit_geometry_in(const SuperSlab* ss, const void* p) {
  static_assert(sizeof(UnitGeometry) == 32 && kUnitShift > 5);
  const std::uintptr_t off = (reinterpret_cast<std::uintptr_t>(p) >> (kUnitShift - 5)) &
                             (std::uintptr_t{kUnitsPerSuperSlab - 1} << 5);
  return *reinterpret_cast<const UnitGeometry*>(
      reinterpret_cast<const char*>(ss->geometry) + off);
}
inline const UnitGeometry& unit_geometry_of(const void* p) {
  return superslab_of(p)->geometry[unit_of(p)];
}
inline char* unit_address(SuperSlab* ss, unsigned unit) {
  return reinterpret_cast<char*>(ss) + (std::size_t{unit} << kUnitShift);
}
inline unsigned unit_class(const SuperSlab* ss, unsigned unit) {
  return unit_info_class(ss->unit_info[unit]);
}
inline Slab* slab_of(SuperSlab* ss, const void* p) {
  return &ss->slabs[unit_info_first(ss->unit_info[unit_of(p)])];
}

// Units a slab of `obj_size` spans: enough for at least 8 objects.
inline unsigned slab_units_for(std::size_t obj_size) {
  if (obj_size <= kUnitSize / 8) return 1;
  if (obj_size <= 2 * kUnitSize / 8) return 2;
  return 4;
}

// Initialises a fresh (or recycled) small-object SuperSlab header for `owner`.
void superslab_init_small(SuperSlab* ss, void* owner);
// Carves a slab for class `cls`/`obj_size` from the free units in `allowed_units`; nullptr
// if no run fits. `populate`: pre-fault the slab's units now (a class allocating in bulk);
// otherwise refill populates it page by page (superslab_populate_slab). Owner only.
// `owner_tag` goes into every unit's geometry (UnitGeometry::owner_tag).
Slab* superslab_carve_slab(SuperSlab* ss, unsigned cls, std::uint32_t obj_size, bool populate,
                           std::uint32_t owner_tag, std::uint32_t allowed_units = kAllUnits);
// Slabs not populated whole: pre-faults the slab's pages up to `end` (exclusive) that are not yet.
// Returns the bytes populated (0 when nothing was needed). Owner only.
std::size_t superslab_populate_slab(SuperSlab* ss, Slab* slab, const char* end);
// Returns an empty slab's units to the SuperSlab. Owner only.
void superslab_release_slab(SuperSlab* ss, Slab* slab);
inline bool superslab_is_empty(const SuperSlab* ss) { return ss->free_units == kAllUnits; }
// Gives back the memory of free, populated units (MADV_DONTNEED): those already free at the
// previous call (unused for a whole decay period), or all of them when `force`. Owner only.
// Returns bytes.
std::size_t superslab_purge_free_units(SuperSlab* ss, bool force);

}  // namespace hakmem
