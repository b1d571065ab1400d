// Shared by the entry-point files (api.cpp, malloc_export.cpp, stats.cpp).
#pragma once

#include <cstddef>

#include "allocator/fast_path.hpp"

namespace hakmem {

inline constexpr std::size_t os_page() { return 4096; }

void* alloc_beyond_slabs(std::size_t n, std::size_t align, bool* fresh);
void* aligned_impl(std::size_t align, std::size_t n);
void* realloc_impl(void* p, std::size_t n);
// Frees a span or huge block, or reports an invalid pointer (then false). Not counted as a
// free call: entry points other than free use it (entry_count.hpp).
bool free_beyond(void* p);
std::size_t usable_size(const void* p);

}  // namespace hakmem
