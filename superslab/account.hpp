// Where a small-object SuperSlab's memory is, read from its slab metadata alone (for the
// profile record's memory breakdown, allocator/profile_memory.cpp). Nothing here touches an
// object or a free list: a SuperSlab costs one pass over its carved slabs' headers, so the
// breakdown stays cheap with thousands of SuperSlabs.
//
// The caller must keep the metadata still: hold the owning heap's lock (its owner changes
// slabs only under it), or the pool lock for an orphan (nobody changes an orphan's slabs
// while it is listed; remote frees only push onto the atomic remote lists).
#pragma once

#include <cstdint>

#include "superslab/superslab.hpp"

namespace hakmem {

// Bytes of one size class's slabs. Every field is added to, never reset.
struct SlabBytes {
  std::uint64_t in_use = 0;  // objects out of the slabs' lists (in bins, in use, or freed
                             // remotely and not collected yet): used x object size
  std::uint64_t free = 0;    // carved objects back on the slab's lists, minus purged pages
  std::uint64_t purged = 0;  // slab pages given back while their objects were all free
  std::uint64_t tail = 0;    // pre-faulted memory past the bump pointer, never handed out
};

struct SuperSlabBytes {
  std::uint64_t free_units = 0;  // free units that may hold pages (populated or touched)
  std::uint64_t slabs = 0;       // carved slabs looked at
};

// Adds ss's slabs to per_class[cls] (classes >= num_classes are ignored) and its free units
// to *total.
void superslab_account(const SuperSlab* ss, SlabBytes* per_class, unsigned num_classes,
                       SuperSlabBytes* total);

// Bytes of the given units (a bitmap) of a SuperSlab, without the header in unit 0.
std::uint64_t superslab_units_bytes(std::uint32_t units);

}  // namespace hakmem
