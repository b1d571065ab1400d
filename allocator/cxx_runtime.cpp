// What operator new needs from the C++ runtime when allocation fails: the new-handler loop
// and std::bad_alloc. The runtime's symbols are bound WEAKLY, so libhakmem.so does not
// depend on libstdc++. A C program under LD_PRELOAD would otherwise load libstdc++ and libm
// (about 1 MiB resident) plus libstdc++'s 72 KiB emergency exception pool, for nothing.
//
// Any program that calls operator new has a C++ runtime (libstdc++ or libc++abi, same
// Itanium ABI names) in its global scope, and the weak references bind to it at load time.
// The one case without one — a C program that dlopen'ed a C++ library RTLD_LOCAL — cannot
// throw; running out of memory in throwing operator new is then reported and aborts, which
// is what an uncaught std::bad_alloc would have done.
//
// This is the only translation unit of the library compiled with exceptions.
#include <cstddef>
#include <new>

#include <cstdlib>

#include "allocator/fmt.hpp"
#include "allocator/new_slow.hpp"
#include "hakmem/hakmem.h"

// Every runtime symbol this file references, made weak at the assembler level: .weak
// applies to all references in this object, including the ones the compiler generates for
// throw/catch (#pragma weak does not reach those).
__asm__(".weak _ZSt15get_new_handlerv");
__asm__(".weak __cxa_allocate_exception");
__asm__(".weak __cxa_free_exception");
__asm__(".weak __cxa_throw");
__asm__(".weak __cxa_begin_catch");
__asm__(".weak __cxa_end_catch");
__asm__(".weak __gxx_personality_v0");
__asm__(".weak _Unwind_Resume");
__asm__(".weak _ZTISt9bad_alloc");
__asm__(".weak _ZTVSt9bad_alloc");
__asm__(".weak _ZNSt9bad_allocD1Ev");
__asm__(".weak _ZNSt9bad_allocD0Ev");
__asm__(".weak _ZNKSt9bad_alloc4whatEv");

// A second, explicitly weak name for __cxa_throw (the compiler's own declaration of it
// cannot be redeclared), so the test below is not folded to "always present".
extern "C" void hak_cxa_throw_weak_ref() __asm__("__cxa_throw") __attribute__((weak));

namespace hakmem {
namespace {

bool runtime_present() { return &hak_cxa_throw_weak_ref != nullptr; }

std::new_handler current_handler() {
  // No runtime, no std::set_new_handler to have installed one.
  return runtime_present() ? std::get_new_handler() : nullptr;
}

[[noreturn]] void throw_bad_alloc(std::size_t size) {
  if (!runtime_present()) {
    TextBuf b;
    b.str("hakmem: operator new: out of memory for ").num(size)
        .str(" bytes, and no C++ runtime in the process's global scope to throw "
             "std::bad_alloc; aborting\n")
        .flush_stderr();
    std::abort();
  }
  throw std::bad_alloc();
}

}  // namespace

void* new_slow(std::size_t size, std::size_t align, bool nothrow) {
  for (;;) {
    void* p = inner_alloc(size, align);
    if (p) return p;
    std::new_handler handler = current_handler();
    if (!handler) {
      if (nothrow) return nullptr;
      throw_bad_alloc(size);
    }
    if (!nothrow) {
      handler();
      continue;
    }
    try {
      handler();
    } catch (...) {
      return nullptr;
    }
  }
}

}  // namespace hakmem
