// hakmem public C++ API: allocate/deallocate and an STL-compatible allocator that use
// hakmem without replacing the process's malloc (link libhakmem.a).
#pragma once

#include <cstddef>
#include <limits>
#include <new>

#include "hakmem/hakmem.h"

namespace hakmem {

// Throws std::bad_alloc on exhaustion, like operator new.
inline void* allocate(std::size_t size) {
  void* p = hak_malloc(size);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

inline void* allocate(std::size_t size, std::align_val_t alignment) {
  void* p = hak_aligned_alloc(static_cast<std::size_t>(alignment), size);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

inline void deallocate(void* p) noexcept { hak_free(p); }
inline void deallocate(void* p, std::size_t size) noexcept { hak_free_sized(p, size); }

inline std::size_t usable_size(const void* p) noexcept { return hak_malloc_usable_size(p); }

// STL allocator: std::vector<int, hakmem::Allocator<int>>.
template <class T>
class Allocator {
 public:
  using value_type = T;
  Allocator() noexcept = default;
  template <class U>
  Allocator(const Allocator<U>&) noexcept {}

  T* allocate(std::size_t n) {
    if (n > std::numeric_limits<std::size_t>::max() / sizeof(T)) throw std::bad_array_new_length();
    if constexpr (alignof(T) > alignof(std::max_align_t)) {
      return static_cast<T*>(hakmem::allocate(n * sizeof(T), std::align_val_t(alignof(T))));
    } else {
      return static_cast<T*>(hakmem::allocate(n * sizeof(T)));
    }
  }
  void deallocate(T* p, std::size_t) noexcept { hak_free(p); }

  template <class U>
  bool operator==(const Allocator<U>&) const noexcept { return true; }
};

}  // namespace hakmem
