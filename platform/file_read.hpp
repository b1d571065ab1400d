// Small whole-file reads (/proc, /sys) through the platform table: stack buffers, no stdio,
// no malloc, so they are safe wherever the allocator runs.
#pragma once

#include <cstddef>

namespace hakmem::platform {

// Reads the file at `path` into buf, at most cap - 1 bytes, NUL-terminated (cap > 0).
// Returns the length read, or -1 if the file cannot be opened (errno from open).
long read_small_file(const char* path, char* buf, std::size_t cap);

}  // namespace hakmem::platform
