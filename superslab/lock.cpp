#include "superslab/lock.hpp"

#include "platform/platform.hpp"
#include "superslab/os.hpp"

namespace hakmem {

void Lock::lock_contended() {
  std::uint64_t start = os::now_ns();
  // Brief spin: the holder is usually a short critical section on the other core.
  for (int i = 0; i < 64; ++i) {
    int expected = 0;
    if (state_.load(std::memory_order_relaxed) == 0 &&
        state_.compare_exchange_weak(expected, 1, std::memory_order_acquire,
                                     std::memory_order_relaxed)) {
      goto acquired;
    }
    __builtin_ia32_pause();
  }
  while (state_.exchange(2, std::memory_order_acquire) != 0) {
    platform::ops().futex_wait(&state_, 2);
  }
acquired:
  stats_.acquisitions.fetch_add(1, std::memory_order_relaxed);
  stats_.contended.fetch_add(1, std::memory_order_relaxed);
  stats_.wait_ns.fetch_add(os::now_ns() - start, std::memory_order_relaxed);
}

void Lock::wait_uncounted() {
  while (state_.exchange(2, std::memory_order_acquire) != 0) {
    platform::ops().futex_wait(&state_, 2);
  }
}

void Lock::wake() {
  platform::ops().futex_wake(&state_, 1);
}

}  // namespace hakmem
