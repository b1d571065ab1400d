#include "superslab/account.hpp"

#include "superslab/os.hpp"

namespace hakmem {

std::uint64_t superslab_units_bytes(std::uint32_t units) {
  std::uint64_t bytes = std::uint64_t{static_cast<unsigned>(__builtin_popcount(units))} * kUnitSize;
  return (units & 1u) ? bytes - kSuperSlabHeaderSize : bytes;
}

namespace {

// Pre-faulted bytes past the bump pointer. A slab whose units were populated whole (a bulk
// class, a huge-page SuperSlab) holds its whole tail; otherwise refill populated its pages
// in step with the bump pointer, up to populated_pages (a slab purge clears the whole-unit
// bit but leaves the tail resident: then only the populated_pages part is counted).
std::uint64_t tail_bytes(const SuperSlab* ss, const Slab* s) {
  const char* base = reinterpret_cast<const char*>(ss) + (std::size_t{s->first_unit} << kUnitShift);
  const char* end = base + std::size_t{s->units} * kUnitSize;
  const char* resident_end = ((ss->populated_units >> s->first_unit) & 1u)
                                 ? end
                                 : base + std::size_t{s->populated_pages} * os::kPageSize;
  return resident_end > s->bump ? static_cast<std::uint64_t>(resident_end - s->bump) : 0;
}

}  // namespace

void superslab_account(const SuperSlab* ss, SlabBytes* per_class, unsigned num_classes,
                       SuperSlabBytes* total) {
  total->free_units += superslab_units_bytes(ss->free_units & (ss->populated_units | ss->touched_units));
  // Slabs start at their first unit; the units they cover after it are skipped.
  std::uint32_t carved = ~ss->free_units;
  while (carved) {
    unsigned u = static_cast<unsigned>(__builtin_ctz(carved));
    const Slab* s = &ss->slabs[u];
    unsigned units = s->state != SlabState::kUnused && s->first_unit == u && s->units ? s->units : 1;
    carved &= ~unit_run_mask(u, units);
    if (s->state == SlabState::kUnused || s->first_unit != u || s->cls >= num_classes) continue;
    ++total->slabs;
    SlabBytes& b = per_class[s->cls];
    const std::uint64_t size = s->obj_size;
    const std::uint64_t handed = static_cast<std::uint64_t>(s->bump - s->start) / size;
    // Most slabs have no purged page: skip the popcount (a libgcc call without -mpopcnt).
    const std::uint64_t purged =
        s->purged_pages
            ? std::uint64_t{static_cast<unsigned>(__builtin_popcountll(s->purged_pages))} * os::kPageSize
            : 0;
    const std::uint64_t free_objects = handed > s->used ? (handed - s->used) * size : 0;
    b.in_use += std::uint64_t{s->used} * size;
    b.free += free_objects > purged ? free_objects - purged : 0;
    b.purged += purged;
    b.tail += tail_bytes(ss, s);
  }
}

}  // namespace hakmem
