// Clock readings in nanoseconds through the platform table (vDSO clock_gettime by default:
// no system call, tens of nanoseconds).
#pragma once

#include <time.h>

#include <cstdint>

#include "platform/platform.hpp"

namespace hakmem::platform {

inline std::uint64_t clock_ns(clockid_t clock) {
  struct timespec ts {};
  ops().clock_gettime(clock, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

}  // namespace hakmem::platform
