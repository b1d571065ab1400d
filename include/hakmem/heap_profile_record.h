/* hakmem heap profile record: the sampled heap profile a process running with
 * HAKMEM_HEAP_PROFILE=1 publishes beside its profile record, in "<record>.heap"
 * (/dev/shm/hakmem-<pid>.heap by default), read live from outside by `hakmem-stat heap`.
 *
 * Sampling: allocated bytes are sampled with one sample point per block of
 * header.sample_bytes (R, HAKMEM_HEAP_SAMPLE) bytes, uniform within the block (stratified;
 * each byte is a point with probability 1 / R). A sampled allocation of s bytes holding k
 * points (usually 1) stands for k * R bytes and k * R / s allocations (rounded, at least
 * 1), the "weights" summed below. Its free subtracts them again. Sizes are the allocator's
 * (the size class of a small object).
 *
 * Layout rules (as profile_record.h): fixed-size types only, naturally aligned, no pointers;
 * any change bumps HAKMEM_HEAP_VERSION; magic is written last at creation.
 *
 * Consistency without a global lock (many threads record samples at once): every counter is
 * a 64-bit word updated with atomic adds, so a reader never sees a torn value, only totals
 * a few samples apart. A stack entry is claimed (state 1), its hash, depth and frames
 * written, then published (state 2, release): frames never change afterwards, so a reader
 * that sees state 2 (acquire) may copy them at any time. Modules are published the same way.
 *
 * Frames are return addresses in the process (innermost first), none inside hakmem. The
 * module table (the mapped objects the frames fall in, with their load bias) lets a reader
 * symbolise the frames after the process is gone.
 */
#ifndef HAKMEM_HEAP_PROFILE_RECORD_H
#define HAKMEM_HEAP_PROFILE_RECORD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* "HAKMHEAP" in memory order on a little-endian machine. */
#define HAKMEM_HEAP_MAGIC 0x504145484d4b4148ull
#define HAKMEM_HEAP_VERSION 1u
#define HAKMEM_HEAP_SUFFIX ".heap"

#define HAKMEM_HEAP_MAX_DEPTH 32    /* frames kept per stack */
#define HAKMEM_HEAP_MAX_STACKS 2048 /* distinct stacks (power of two); entry 0: overflow */
#define HAKMEM_HEAP_MAX_MODULES 128 /* mapped objects frames fall in */
#define HAKMEM_HEAP_PATH_LEN 240

/* header.state (as profile_record.h) */
#define HAKMEM_HEAP_STATE_RUNNING 1u
#define HAKMEM_HEAP_STATE_EXITED 2u

typedef struct hakmem_heap_header {
  uint64_t magic;          /* HAKMEM_HEAP_MAGIC */
  uint32_t version;        /* HAKMEM_HEAP_VERSION */
  uint32_t header_size;    /* sizeof(hakmem_heap_header) */
  uint64_t record_size;    /* sizeof(hakmem_heap_record) */
  int64_t pid;
  uint64_t start_ticks;    /* field 22 of /proc/<pid>/stat (tells pid reuse apart) */
  uint64_t start_time_ns;  /* CLOCK_REALTIME at start */
  char comm[16];
  uint64_t sample_bytes;   /* mean sampling interval in bytes */
  uint32_t max_depth;      /* HAKMEM_HEAP_MAX_DEPTH */
  uint32_t max_stacks;     /* HAKMEM_HEAP_MAX_STACKS */
  uint32_t max_modules;
  uint32_t state;          /* HAKMEM_HEAP_STATE_* */
  /* Totals over all stacks (estimated bytes / objects are sums of weights). */
  uint64_t samples;        /* sampled allocations so far */
  uint64_t live_samples;   /* of which not freed yet */
  uint64_t alloc_bytes;    /* estimated bytes allocated so far */
  uint64_t alloc_objects;  /* estimated allocations so far */
  uint64_t live_bytes;     /* estimated live bytes */
  uint64_t live_objects;   /* estimated live allocations */
  uint64_t peak_bytes;     /* highest live_bytes seen (at a sample) */
  uint64_t stacks_used;    /* stack entries published */
  uint64_t modules_used;
  uint64_t dropped_stacks; /* samples counted in the overflow entry 0 (stack table full) */
  uint64_t dropped_live;   /* samples not tracked until their free (address table full) */
  uint64_t unwind_frames;  /* frames walked by the unwinder, all samples */
  uint64_t nested_allocs;  /* allocations made by the unwinder itself (served unsampled) */
  uint64_t updated_time_ns;/* CLOCK_REALTIME of the last sample or the exit */
  uint64_t reserved[6];
} hakmem_heap_header;

typedef struct hakmem_heap_stack {
  uint32_t state;          /* 0 free, 1 being written, 2 published */
  uint32_t depth;          /* frames used */
  uint64_t hash;
  uint64_t samples;        /* sampled allocations at this stack */
  uint64_t alloc_bytes;    /* estimated bytes allocated */
  uint64_t alloc_objects;  /* estimated allocations */
  uint64_t live_samples;
  uint64_t live_bytes;     /* estimated live bytes */
  uint64_t live_objects;   /* estimated live allocations */
  uint64_t frames[HAKMEM_HEAP_MAX_DEPTH];
} hakmem_heap_stack;

typedef struct hakmem_heap_module {
  uint32_t state;          /* 0 free, 1 being written, 2 published */
  uint32_t reserved;
  uint64_t base;           /* load address (dladdr's dli_fbase) */
  uint64_t bias;           /* difference between run-time and link-time addresses */
  char path[HAKMEM_HEAP_PATH_LEN];
} hakmem_heap_module;

typedef struct hakmem_heap_record {
  hakmem_heap_header header;
  hakmem_heap_module modules[HAKMEM_HEAP_MAX_MODULES];
  hakmem_heap_stack stacks[HAKMEM_HEAP_MAX_STACKS];
} hakmem_heap_record;

#ifdef __cplusplus
}
#endif

#endif /* HAKMEM_HEAP_PROFILE_RECORD_H */
