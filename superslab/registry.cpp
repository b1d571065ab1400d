#include "superslab/registry.hpp"

#include "superslab/assert.hpp"

namespace hakmem {

extern "C" {
alignas(4096) std::uint8_t hakmem_chunk_registry[kRegistryEntries];
}

void registry_set(const void* base, std::size_t size, ChunkKind first_kind, ChunkKind kind) {
  HAK_ASSERT((reinterpret_cast<std::uintptr_t>(base) & (kChunkSize - 1)) == 0);
  HAK_ASSERT(first_kind <= kChunkHugeAligned && kind <= kChunkHugeAligned);
  std::uintptr_t first = reinterpret_cast<std::uintptr_t>(base) >> kChunkShift;
  std::uintptr_t count = (size + kChunkSize - 1) >> kChunkShift;
  for (std::uintptr_t i = 0; i < count; ++i) {
    if (first + i >= kRegistryEntries) break;
    __atomic_store_n(&hakmem_chunk_registry[first + i],
                     static_cast<std::uint8_t>(i == 0 ? first_kind : kind), __ATOMIC_RELEASE);
  }
}

void registry_clear(const void* base, std::size_t size) {
  registry_set(base, size, kChunkNone, kChunkNone);
}

}  // namespace hakmem
