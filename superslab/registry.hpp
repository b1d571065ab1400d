// Ownership registry: one byte per 2 MiB chunk of the 47-bit user address space (64 MiB of
// lazily-faulted .bss), telling in O(1) and without dereferencing a pointer whether hakmem
// owns the chunk it falls in, and what lives there. free() consults it before touching
// anything, so a pointer from another allocator, the stack or a foreign mmap is recognised.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hakmem {

inline constexpr unsigned kChunkShift = 21;  // 2 MiB
inline constexpr std::size_t kChunkSize = std::size_t{1} << kChunkShift;
inline constexpr unsigned kAddressBits = 47;
inline constexpr std::size_t kRegistryEntries = std::size_t{1} << (kAddressBits - kChunkShift);

enum ChunkKind : std::uint8_t {
  kChunkNone = 0,       // not hakmem's
  kChunkSmall = 1,      // a SuperSlab of small-object slabs (header at the chunk base)
  kChunkSpan = 2,       // a SuperSlab of page spans (medium objects, blocks)
  kChunkHuge = 3,       // first chunk of a huge mapping, header at the chunk base
  kChunkHugeBody = 4,   // later chunks of a huge mapping (no object starts here)
  kChunkHugeAligned = 5 // huge mapping with alignment >= 2 MiB: header in the page before
};

extern "C" {
// Hidden so the fast path addresses it RIP-relative, with no GOT load.
extern std::uint8_t hakmem_chunk_registry[kRegistryEntries]
    __attribute__((visibility("hidden")));
}

inline ChunkKind chunk_kind(const void* p) {
  std::uintptr_t idx = reinterpret_cast<std::uintptr_t>(p) >> kChunkShift;
  if (idx >= kRegistryEntries) [[unlikely]] return kChunkNone;
  return static_cast<ChunkKind>(__atomic_load_n(&hakmem_chunk_registry[idx], __ATOMIC_RELAXED));
}

// The free fast path's ownership test: is p inside a small-object SuperSlab? A plain byte
// load, which the compiler folds into one compare (an atomic load it will not fold): a
// byte is never torn on x86-64, and a stale value means a chunk that is being mapped or
// unmapped, which no live object of the caller's can be in. TSan builds keep the atomic
// load, so its race detector sees what the code does.
inline bool small_chunk_at(std::uintptr_t idx) {
  if (idx >= kRegistryEntries) [[unlikely]] return false;
#if defined(__SANITIZE_THREAD__)
  return __atomic_load_n(&hakmem_chunk_registry[idx], __ATOMIC_RELAXED) == kChunkSmall;
#else
  return hakmem_chunk_registry[idx] == kChunkSmall;
#endif
}
inline std::uintptr_t chunk_index(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p) >> kChunkShift;
}
inline bool in_small_chunk(const void* p) { return small_chunk_at(chunk_index(p)); }

// Marks [base, base+size) (chunk aligned) as `kind`; the first chunk gets `first_kind`.
void registry_set(const void* base, std::size_t size, ChunkKind first_kind, ChunkKind kind);
void registry_clear(const void* base, std::size_t size);

}  // namespace hakmem
