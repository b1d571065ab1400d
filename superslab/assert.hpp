// Runtime assertions on the allocator's invariants, usable from every layer (this folder is
// the bottom one). HAK_ASSERT(cond) is checked in a -DHAKMEM_DEBUG=ON build and compiled out
// of a release build: the condition is then not evaluated (it stays inside sizeof, so it
// still has to compile, and variables used only by assertions are not "unused").
//
// A failure writes "file:line: assertion failed: expr" to fd 2 with write(2) and aborts.
// It must not call printf or allocate: an assertion may fail inside malloc, with the very
// heap it would allocate from in a broken state.
//
// Not for the inline malloc/free fast paths (allocator/fast_path.hpp and the exports): even
// a debug build should time and count those as shipped.
#pragma once

namespace hakmem {
[[noreturn]] void assert_fail(const char* file, int line, const char* expr,
                              const char* msg) noexcept;
}  // namespace hakmem

#if defined(HAKMEM_DEBUG) && HAKMEM_DEBUG
inline constexpr bool kHakDebug = true;
#define HAK_ASSERT(cond) \
  ((cond) ? static_cast<void>(0) : ::hakmem::assert_fail(__FILE__, __LINE__, #cond, nullptr))
#define HAK_ASSERT_MSG(cond, msg) \
  ((cond) ? static_cast<void>(0) : ::hakmem::assert_fail(__FILE__, __LINE__, #cond, msg))
#else
inline constexpr bool kHakDebug = false;
#define HAK_ASSERT(cond) static_cast<void>(sizeof(!(cond)))
#define HAK_ASSERT_MSG(cond, msg) static_cast<void>(sizeof(!(cond)) + sizeof(msg))
#endif
