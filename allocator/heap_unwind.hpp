// Call stacks for the heap profile: libunwind's local unwinder (the one jemalloc uses),
// loaded with dlopen when the heap profile starts, so libhakmem.so keeps no dependency
// beyond libc when the profile is off. Frames inside hakmem are dropped.
#pragma once

#include <cstdint>

namespace hakmem {

// Loads libunwind.so.8 and finds hakmem's own code. Call outside any allocator lock, after
// the C library is up (dlopen allocates). False (with a warning printed) if unavailable.
bool unwind_load();
// Return addresses of the calling thread's stack, innermost first, with hakmem's own frames
// (the sampling path and the entry point the program called) skipped, and cut before any
// further frame of hakmem's (an allocation a library made for hakmem). Returns the count
// (<= max). Never allocates itself; libunwind may, which the caller's guard serves unsampled.
unsigned unwind_stack(std::uint64_t* out, unsigned max, std::uint64_t* walked);

}  // namespace hakmem
