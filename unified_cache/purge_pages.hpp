// The page arithmetic of purging inside a slab (purge.cpp), as pure functions of the slab's
// geometry so that it can be tested without a heap (tests/internal/purge_pages_test.cpp).
//
// Pages are counted from the page holding the slab's first object ("page base"); a slab
// spans at most 4 units = 64 pages, so a page set is one 64-bit mask. Objects are numbered
// from the slab's first object.
#pragma once

#include <cstddef>
#include <cstdint>

#include "superslab/os.hpp"

namespace hakmem::purge_pages {

inline constexpr std::size_t kPage = os::kPageSize;
inline constexpr unsigned kMaxPages = 64;  // bits of a page mask

struct SlabGeometry {
  std::uint32_t lead;      // bytes from the page base to the first object (< kPage)
  std::uint32_t obj_size;
  std::uint32_t carved;    // objects handed out at least once: [start, bump)
};

// Object indices [lo, hi] overlapping page pg.
struct PageObjects {
  std::uint32_t lo, hi;
};
constexpr PageObjects objects_on_page(const SlabGeometry& g, unsigned pg) {
  std::size_t pstart = std::size_t{pg} * kPage;  // from the page base
  std::size_t first = pstart < g.lead ? 0 : (pstart - g.lead) / g.obj_size;
  std::size_t last = (pstart + kPage - 1 - g.lead) / g.obj_size;
  return PageObjects{static_cast<std::uint32_t>(first), static_cast<std::uint32_t>(last)};
}

// Does object i overlap any page in `pages`?
constexpr bool object_on_pages(const SlabGeometry& g, std::uint32_t i, std::uint64_t pages) {
  std::size_t ostart = g.lead + std::size_t{i} * g.obj_size;
  unsigned first = static_cast<unsigned>(ostart / kPage);
  unsigned last = static_cast<unsigned>((ostart + g.obj_size - 1) / kPage);
  for (unsigned q = first; q <= last && q < kMaxPages; ++q) {
    if ((pages >> q) & 1) return true;
  }
  return false;
}

// The pages an object overlaps that starts `offset` bytes after the page base and is
// `size` bytes long (offset + size <= kMaxPages * kPage).
constexpr std::uint64_t object_pages(std::size_t offset, std::uint32_t size) {
  unsigned first = static_cast<unsigned>(offset / kPage);
  unsigned n = static_cast<unsigned>((offset + size - 1) / kPage) - first + 1;
  return (n >= kMaxPages ? ~std::uint64_t{0} : (std::uint64_t{1} << n) - 1) << first;
}

// Pages wholly inside the carved part (the bump area stays populated).
constexpr unsigned carved_pages(const SlabGeometry& g) {
  std::size_t n = (g.lead + std::size_t{g.carved} * g.obj_size) / kPage;
  return n < kMaxPages ? static_cast<unsigned>(n) : kMaxPages;
}

constexpr bool bit(const std::uint64_t* b, std::uint32_t i) { return (b[i / 64] >> (i % 64)) & 1; }

// The pages that can be given back: wholly carved, not purged already, not shared with what
// precedes the first object (the SuperSlab header), and holding only free objects — listed
// in free_bits, or parked because they also overlap an already purged page.
constexpr std::uint64_t all_free_pages(const SlabGeometry& g, const std::uint64_t* free_bits,
                                       std::uint64_t purged) {
  std::uint64_t out = 0;
  unsigned pages = carved_pages(g);
  for (unsigned pg = 0; pg < pages; ++pg) {
    if ((purged >> pg) & 1) continue;
    if (std::size_t{pg} * kPage < g.lead) continue;  // shares its page with the header
    PageObjects po = objects_on_page(g, pg);
    if (po.hi >= g.carved) continue;
    bool all_free = true;
    for (std::uint32_t i = po.lo; i <= po.hi && all_free; ++i) {
      all_free = bit(free_bits, i) || object_on_pages(g, i, purged);
    }
    if (all_free) out |= std::uint64_t{1} << pg;
  }
  return out;
}

// Calls fn(first_page, page_count) for each run of consecutive set bits of mask, lowest
// first: one madvise per run instead of one per page.
template <typename Fn>
void for_each_run(std::uint64_t mask, Fn&& fn) {
  while (mask) {
    unsigned pg = static_cast<unsigned>(__builtin_ctzll(mask));
    unsigned end = pg;
    while (end < kMaxPages && (mask >> end) & 1) ++end;
    fn(pg, end - pg);
    mask &= end >= kMaxPages ? 0 : ~((std::uint64_t{1} << end) - 1);
  }
}

}  // namespace hakmem::purge_pages
