// operator new's failure path (cxx_runtime.cpp): calls the new-handler until allocation
// succeeds, then returns nullptr (nothrow) or throws std::bad_alloc.
#pragma once

#include <cstddef>

namespace hakmem {

[[gnu::noinline]] void* new_slow(std::size_t size, std::size_t align, bool nothrow);

}  // namespace hakmem
