// Built-in profiling (HAKMEM_PROFILE=1): a shared-memory record, /dev/shm/hakmem-<pid>
// (mode 0600; HAKMEM_PROFILE_PATH overrides), refreshed from the layers' counters every
// HAKMEM_PROFILE_INTERVAL_MS by a small publisher thread and once more at exit, and read
// from outside by tools/hakmem-stat. The layout is include/hakmem/profile_record.h.
//
// Nothing here touches the malloc/free fast path: its counters are the per-thread plain
// increments the owner publishes at refill/flush/thread exit; the publisher only reads
// what is already published, plus the slow-path atomics.
#pragma once

#include <cstddef>

#include "hakmem/profile_record.h"

namespace hakmem {

// Process-wide totals of every layer in the record's layout (defined in stats.cpp).
// Publishes the calling thread's fast counters first. Never allocates through malloc.
void stats_collect(hakmem_profile_data* out);

// Creates the record and starts the publisher (once; called by init when HAKMEM_PROFILE=1).
// On failure (no /dev/shm, no permission) prints one warning and leaves profiling off.
void profile_start();
// The path of this process's record (HAKMEM_PROFILE_PATH, default /dev/shm/hakmem-<pid>);
// false if it does not fit in n bytes. Other records of the process sit beside it.
bool profile_record_path(char* out, std::size_t n);
// True while this process publishes a record.
bool profile_active();
// The record's path while profile_active(), else nullptr.
const char* profile_path();
// hakmem_profile_restart: a record of its own for a forked child that goes on (a daemon).
bool profile_restart();

}  // namespace hakmem
