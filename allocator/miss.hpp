// The fast paths' continuations (miss.cpp); their templates are declared in fast_path.hpp.
#pragma once

#include "allocator/fast_path.hpp"

namespace hakmem {

// Refills the empty bin of class cls and pops one object, tag cleared; nullptr (ENOMEM)
// when memory is exhausted. Uncounted: the caller counts the call.
HAK_NOINLINE void* refill_pop(unsigned cls);

// The allocation continuations' addresses, for the heap profile's frame filter in a static
// link (heap_unwind.cpp): a tail call can leave one on the stack without its entry point.
extern const void* const kMissFunctions[];
extern const unsigned kMissFunctionCount;

}  // namespace hakmem
