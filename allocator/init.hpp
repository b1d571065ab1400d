// Process-wide start-up of hakmem (options, thread-exit hook, fork handlers) and error
// reporting. Start-up runs on the first slow-path call; it allocates nothing through
// malloc, and a malloc re-entering from inside it is served normally.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace hakmem {

extern std::atomic<int> g_init_state;  // 0 not started, 1 running, 2 done
void init_slow();
inline void ensure_init() {
  if (g_init_state.load(std::memory_order_acquire) != 2) [[unlikely]] init_slow();
}

// An invalid or double free, or a size mismatch: message on stderr (or abort, per
// HAKMEM_ON_ERROR); counted in hakmem_stats.
void report_bad_pointer(const char* what, const void* p);
// A span or huge block of `bytes` was freed: counts towards starting the purger
// (BACKGROUND=auto).
void note_freed_beyond_slabs(std::size_t bytes);
std::uint64_t invalid_free_count();

}  // namespace hakmem
