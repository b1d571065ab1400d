// Profiling sessions (HAKMEM_PROFILE_SESSION=NAME; include/hakmem/profile_session.h): at
// exit a process folds its records into the session's aggregates and removes them.
#pragma once

#include <cstdint>

#include "hakmem/heap_profile_record.h"
#include "hakmem/profile_record.h"

namespace hakmem {

// This process's session id (0: none); reads HAKMEM_PROFILE_SESSION once (a bad name is
// reported and ignored).
std::uint64_t session_id();
// Adds the final counters / heap profile into the aggregate under its file lock. True when
// folded: the caller then removes its own record.
bool session_fold_counters(const hakmem_profile_record& r);
bool session_fold_heap(const hakmem_heap_record& r);

}  // namespace hakmem
