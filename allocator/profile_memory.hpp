// The profile record's memory breakdown (hakmem_profile_memory, version 3 of the record):
// where the process's resident memory is, gathered from every layer's metadata at a
// refresh of the record, never on an allocation path.
#pragma once

#include "hakmem/profile_record.h"

namespace hakmem {

// Fills *out with a fresh breakdown, or with the last one while the walk is rate-limited:
// a walk costs time in proportion to the SuperSlabs and slabs it reads and holds each
// heap's lock for its share, so the next one waits 100 times the last one's cost as
// estimated from those counts (at most 1% of a core however many SuperSlabs there are;
// every refresh below ~10,000 slabs at the default interval). `force`: walk now (the
// final refresh at exit). Caller serialises calls (the profile's refresh lock). Needs
// heap_set_accounting(true) for bins to be counted. Never allocates.
void memory_collect(hakmem_profile_memory* out, bool force);

}  // namespace hakmem
