/* Profiling sessions (HAKMEM_PROFILE_SESSION=NAME): every process of the session folds its
 * final counters (and heap profile) into the session's aggregate records at exit, and
 * removes its own records. The aggregates sit beside the process records:
 *   <dir>/hakmem-session-NAME        a hakmem_profile_record (pid 0, state EXITED), counters
 *                                    summed over the exited processes; gauges are not summed
 *   <dir>/hakmem-session-NAME.heap   a hakmem_heap_record whose frames are module-relative:
 *                                    module i (0-based) is reported at bias (i + 1) << 40
 * Folding holds an exclusive flock on the aggregate file, so any number of processes may
 * exit at once. Running members carry the session's id (hakmem_session_id) in
 * header.reserved[0] of both their records, so readers add them to the aggregate.
 */
#ifndef HAKMEM_PROFILE_SESSION_H
#define HAKMEM_PROFILE_SESSION_H

#include <stdint.h>

#include "hakmem/profile_record.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HAKMEM_SESSION_PREFIX "hakmem-session-"
#define HAKMEM_SESSION_NAME_MAX 64
/* header.reserved[1] of the aggregate: processes folded into it. */
#define HAKMEM_SESSION_FOLDED_SLOT 1
#define HAKMEM_SESSION_MODULE_SHIFT 40

/* FNV-1a of the name, never 0 (0: not in a session). */
static inline uint64_t hakmem_session_id(const char* name) {
  uint64_t h = 1469598103934665603ull;
  for (; *name; ++name) h = (h ^ (unsigned char)*name) * 1099511628211ull;
  return h ? h : 1;
}

/* Names: 1..64 characters of [A-Za-z0-9._-]. */
static inline int hakmem_session_name_ok(const char* name) {
  int n = 0;
  for (; name[n]; ++n) {
    char c = name[n];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '.' || c == '_' || c == '-';
    if (!ok || n >= HAKMEM_SESSION_NAME_MAX) return 0;
  }
  return n > 0 && !(n == 1 && name[0] == '.') && !(n == 2 && name[0] == '.' && name[1] == '.');
}

/* dst += src for everything that adds up: counters (kind 'c'), per-class refills and
 * flushes, lock and latency statistics (maxima: the larger). Gauges are left alone. */
static inline void hakmem_profile_data_add(hakmem_profile_data* dst, const hakmem_profile_data* src) {
  unsigned i, k;
#define HAKMEM_ADD_(name, kind, help) \
  if ((kind) == 'c') dst->counters.name += src->counters.name;
  HAKMEM_PROFILE_COUNTERS(HAKMEM_ADD_)
#undef HAKMEM_ADD_
  for (i = 0; i < HAKMEM_PROFILE_MAX_CLASSES; ++i) {
    if (dst->class_size[i] == 0) dst->class_size[i] = src->class_size[i];
    dst->class_refills[i] += src->class_refills[i];
    dst->class_flushes[i] += src->class_flushes[i];
  }
  for (i = 0; i < HAKMEM_PROFILE_MAX_LOCKS; ++i) {
    if (dst->locks[i].name[0] == '\0') {
      for (k = 0; k < HAKMEM_PROFILE_NAME_LEN; ++k) dst->locks[i].name[k] = src->locks[i].name[k];
    }
    dst->locks[i].acquisitions += src->locks[i].acquisitions;
    dst->locks[i].contended += src->locks[i].contended;
    dst->locks[i].wait_ns += src->locks[i].wait_ns;
  }
  for (i = 0; i < HAKMEM_PROFILE_MAX_HISTS; ++i) {
    hakmem_profile_histogram* d = &dst->hists[i];
    const hakmem_profile_histogram* s = &src->hists[i];
    if (d->name[0] == '\0') {
      for (k = 0; k < HAKMEM_PROFILE_NAME_LEN; ++k) d->name[k] = s->name[k];
    }
    d->count += s->count;
    d->sum_ns += s->sum_ns;
    if (s->max_ns > d->max_ns) d->max_ns = s->max_ns;
    for (k = 0; k < HAKMEM_PROFILE_BUCKETS; ++k) d->buckets[k] += s->buckets[k];
  }
}

#ifdef __cplusplus
}
#endif

#endif /* HAKMEM_PROFILE_SESSION_H */
