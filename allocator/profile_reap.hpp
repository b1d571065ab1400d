// Records of processes that are gone do not pile up (issue 16's policy; README "Profiling"):
// a process that starts publishing a record first removes, in the directory its record
// goes to, the records of processes that are gone.
#pragma once

namespace hakmem {

// Once per process image, before its own records are created (profile_start,
// heap_record_create). Only names of the default form are touched, "hakmem-<pid>" with
// ".heap" or ".vfs" or nothing after it: a record under a name of the user's own
// (HAKMEM_PROFILE_PATH=/dir/name-%p) is kept, and session aggregates
// ("hakmem-session-NAME") are left to `hakmem-stat session`.
void profile_reap_gone();

}  // namespace hakmem
