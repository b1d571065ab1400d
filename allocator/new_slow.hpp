// operator new's failure path (cxx_runtime.cpp): calls the new-handler until allocation
// succeeds, then returns nullptr (nothrow) or throws std::bad_alloc.
#pragma once

#include <cstddef>

namespace hakmem {

[[gnu::noinline]] void* new_slow(std::size_t size, std::size_t align, bool nothrow);
// new_slow's retries (api.cpp): an allocation inside the operator new call, which the fast
// path's miss has counted already.
void* inner_alloc(std::size_t size, std::size_t align);

}  // namespace hakmem
