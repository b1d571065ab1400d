/* hakmem profile record: the fixed-layout, versioned struct a process running with
 * HAKMEM_PROFILE=1 keeps in a shared-memory file (/dev/shm/hakmem-<pid>, mode 0600, or
 * HAKMEM_PROFILE_PATH), and that hakmem-stat reads from outside the process while it runs.
 *
 * Layout rules (the record is read by tools built separately from the allocator):
 *  - Only fixed-size types; every field is naturally aligned; no pointers.
 *  - The layout is defined by HAKMEM_PROFILE_VERSION. Any change to it (a new counter, a
 *    bigger table) bumps the version; readers refuse a version newer than their own.
 *  - header.magic is written last at creation, so a reader never accepts a half-made record.
 *  - The snapshot (everything after the header) is published under a sequence lock:
 *    header.seq is odd while the writer updates it. Readers copy the record, then re-read
 *    seq, and retry if it was odd or changed.
 *  - Counters (kind 'c') are monotonic since the process started or since the last reset;
 *    gauges (kind 'g') are current values and are not affected by a reset.
 *  - A reset is requested from outside by incrementing header.reset_request; the process
 *    acknowledges it at its next refresh by setting reset_ack = reset_request, and from then
 *    on publishes counters relative to the totals at that moment. In-process totals
 *    (hakmem_stats_get) are never reset.
 *
 * Calls per entry point are disjoint: each call is counted once, under the entry point the
 * program called (malloc_calls does not include new, calloc, realloc or aligned calls), and
 * cache_allocs / cache_frees count the thread caches' work for all of them together.
 *
 * Versions: 1 first release. 2 added new_calls, delete_calls, cache_allocs, cache_frees,
 * bytes_requested, bytes_served, and made malloc_calls / free_calls / aligned_calls per
 * entry point (in version 1 malloc_calls counted every small object the thread caches
 * handed out, new and calloc included). 3 appended the memory breakdown (data.memory:
 * where the resident memory is, per size class, per heap and in total); the layout before
 * it is version 2's, so a version 3 reader reads a version 2 record as a prefix (without
 * a breakdown: memory.flags lacks HAKMEM_PROFILE_MEMORY_VALID).
 *
 * A process that also runs a VFS pool (vfsd) publishes a second record beside this one:
 * include/hakmem/vfs_profile_record.h.
 */
#ifndef HAKMEM_PROFILE_RECORD_H
#define HAKMEM_PROFILE_RECORD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* "HAKMPROF" in memory order on a little-endian machine. */
#define HAKMEM_PROFILE_MAGIC 0x464f52504d4b4148ull
#define HAKMEM_PROFILE_VERSION 3u
/* The size of a version 2 record: the prefix of this layout that version 2 wrote. */
#define HAKMEM_PROFILE_V2_RECORD_SIZE 5792u

#define HAKMEM_PROFILE_MAX_CLASSES 96   /* size-class table capacity (num_classes used) */
#define HAKMEM_PROFILE_MAX_LOCKS 16     /* internal locks (num_locks used) */
#define HAKMEM_PROFILE_MAX_HISTS 8      /* latency histograms (num_hists used) */
#define HAKMEM_PROFILE_BUCKETS 32       /* log2 buckets per histogram */
#define HAKMEM_PROFILE_NAME_LEN 24
#define HAKMEM_PROFILE_MAX_HEAPS 16     /* heaps in the memory breakdown (largest first) */

/* header.state */
#define HAKMEM_PROFILE_STATE_RUNNING 1u /* refreshed periodically by the process */
#define HAKMEM_PROFILE_STATE_EXITED 2u  /* final refresh done at process exit */

typedef struct hakmem_profile_header {
  uint64_t magic;            /* HAKMEM_PROFILE_MAGIC */
  uint32_t version;          /* HAKMEM_PROFILE_VERSION */
  uint32_t header_size;      /* sizeof(hakmem_profile_header) */
  uint64_t record_size;      /* sizeof(hakmem_profile_record) */
  int64_t pid;
  uint64_t start_time_ns;    /* CLOCK_REALTIME when profiling started (at hakmem init) */
  uint64_t start_ticks;      /* process start time, field 22 of /proc/<pid>/stat: tells a
                                live process from another that reused the pid */
  char comm[16];             /* /proc/<pid>/comm, NUL-terminated */
  uint64_t interval_ms;      /* refresh period (HAKMEM_PROFILE_INTERVAL_MS) */
  uint32_t state;            /* HAKMEM_PROFILE_STATE_* */
  uint32_t num_classes;      /* entries used in the tables below */
  uint32_t num_locks;
  uint32_t num_hists;
  /* Written by the process at each refresh. */
  uint64_t seq;              /* sequence lock over the snapshot: odd while updating */
  uint64_t update_count;     /* refreshes so far */
  uint64_t updated_time_ns;  /* CLOCK_REALTIME of the last refresh */
  uint64_t reset_time_ns;    /* CLOCK_REALTIME of the last reset acknowledged, 0 if none */
  /* Control: reset_request is written by hakmem-stat, reset_ack by the process. */
  uint64_t reset_request;
  uint64_t reset_ack;
  uint64_t reserved[3];
} hakmem_profile_header;

/* The scalar counters, in layout order: X(name, kind, help) with kind 'c' (counter) or
 * 'g' (gauge). Appending a field changes the layout: bump HAKMEM_PROFILE_VERSION. */
#define HAKMEM_PROFILE_COUNTERS(X)                                                          \
  X(malloc_calls, 'c', "malloc calls that returned memory, any size (also __libc_malloc, "  \
                       "hak_malloc); operator new, calloc, realloc and the aligned calls "  \
                       "are not included: they have rows of their own")                     \
  X(free_calls, 'c', "free calls with a non-null pointer, any size, rejected ones included " \
                     "(also cfree, __libc_free, free_sized, hak_free); not operator "       \
                     "delete, nor the old block a realloc releases")                        \
  X(calloc_calls, 'c', "calloc calls that returned memory")                                 \
  X(realloc_calls, 'c', "realloc and reallocarray calls")                                   \
  X(aligned_calls, 'c', "posix_memalign, aligned_alloc, memalign, valloc and pvalloc calls " \
                        "that returned memory")                                             \
  X(new_calls, 'c', "operator new calls of every form (array, nothrow, aligned) that "      \
                    "returned memory")                                                      \
  X(delete_calls, 'c', "operator delete calls of every form with a non-null pointer, "      \
                       "rejected ones included")                                            \
  X(cache_allocs, 'c', "small objects (<= 32 KiB) handed out by the thread caches, for "    \
                       "every entry point")                                                 \
  X(cache_frees, 'c', "small objects taken back into the thread caches, from every entry "  \
                      "point")                                                              \
  X(bytes_requested, 'c', "bytes asked for by every allocation beyond the slab classes "    \
                          "(> 32 KiB, hak_block_alloc included) and by every small one "    \
                          "made through calloc, realloc, an aligned call or aligned new; "  \
                          "not the small ones of the two inline fast paths, malloc and "    \
                          "new of <= 32 KiB (it would cost them an add), nor a realloc "    \
                          "that keeps its block")                                           \
  X(bytes_served, 'c', "usable bytes handed out for the allocations bytes_requested "       \
                       "counts: the size class of a small object, the page-rounded "        \
                       "length of a span, the mapping of a huge block past its start")      \
  X(refills, 'c', "thread-cache refills from slabs")                                        \
  X(flushes, 'c', "thread-cache flushes to slabs")                                          \
  X(remote_frees, 'c', "objects freed to a slab owned by another thread")                   \
  X(remote_batches, 'c', "atomic pushes of remote frees (one per slab group)")              \
  X(superslabs_mapped, 'c', "SuperSlabs obtained from the OS")                              \
  X(superslabs_in_use, 'g', "SuperSlabs held by threads or the span allocator")             \
  X(superslabs_reserved, 'g', "empty SuperSlabs in the warm reserve")                       \
  X(superslabs_purged, 'g', "empty SuperSlabs whose memory was returned (address kept)")    \
  X(superslabs_orphaned, 'g', "SuperSlabs of exited threads still holding objects")         \
  X(purge_rounds, 'c', "purge passes over the reserve")                                     \
  X(bytes_mapped, 'g', "bytes currently mapped from the OS")                                \
  X(bytes_populated, 'c', "bytes pre-faulted (MAP_POPULATE / MADV_POPULATE_WRITE)")         \
  X(bytes_purged, 'c', "bytes returned with MADV_DONTNEED")                                 \
  X(bytes_purged_lazy, 'c', "bytes returned with MADV_FREE")                                \
  X(mmap_calls, 'c', "mmap calls")                                                          \
  X(munmap_calls, 'c', "munmap calls")                                                      \
  X(madvise_calls, 'c', "madvise calls")                                                    \
  X(hugepages_thp, 'c', "SuperSlabs advised MADV_HUGEPAGE")                                 \
  X(hugepages_hugetlb, 'c', "SuperSlabs mapped with MAP_HUGETLB")                           \
  X(large_allocs, 'c', "huge objects (own mapping) allocated")                              \
  X(large_cache_hits, 'c', "huge objects served from freed, still-mapped memory")           \
  X(large_cache_misses, 'c', "huge objects that needed a new mapping")                      \
  X(large_cached_bytes, 'g', "bytes of freed huge objects kept mapped")                     \
  X(large_live_bytes, 'g', "bytes of live huge objects")                                    \
  X(invalid_frees, 'c', "frees of pointers hakmem does not own, or misaligned")             \
  X(double_frees, 'c', "double frees detected")                                             \
  X(page_faults_slow_path, 'c', "minor page faults observed across refills (getrusage)")    \
  X(threads_created, 'c', "thread heaps created")                                           \
  X(threads_exited, 'c', "thread heaps retired at thread exit")

typedef struct hakmem_profile_counters {
#define HAKMEM_PROFILE_FIELD_(name, kind, help) uint64_t name;
  HAKMEM_PROFILE_COUNTERS(HAKMEM_PROFILE_FIELD_)
#undef HAKMEM_PROFILE_FIELD_
} hakmem_profile_counters;

/* One internal lock. Acquisitions, contended acquisitions (the fast compare-and-swap
 * failed) and time spent waiting in contended acquisitions are kept separately. The
 * allocator's locks: superslab_pool (SuperSlab reserve and orphans), heap_registry (the
 * list of thread heaps), span (medium blocks), large (huge-block cache), and thread_heaps:
 * every thread heap's own lock summed, live and exited threads alike. */
typedef struct hakmem_profile_lock {
  char name[HAKMEM_PROFILE_NAME_LEN];
  uint64_t acquisitions;
  uint64_t contended;
  uint64_t wait_ns;
  uint64_t reserved;
} hakmem_profile_lock;

/* A latency histogram of a slow path. buckets[i] counts operations that took
 * [2^i, 2^(i+1)) ns (bucket 0 also counts 0 ns; the last bucket is open-ended).
 * count is the sum of the buckets; max_ns is the largest seen since start or reset. */
typedef struct hakmem_profile_histogram {
  char name[HAKMEM_PROFILE_NAME_LEN];
  uint64_t count;
  uint64_t sum_ns;
  uint64_t max_ns;
  uint64_t reserved;
  uint64_t buckets[HAKMEM_PROFILE_BUCKETS];
} hakmem_profile_histogram;

/* ---- The memory breakdown (version 3): where the process's resident memory is. ----
 * All values are gauges in bytes, taken by walking the heaps' SuperSlabs and slabs under
 * each heap's lock, the span SuperSlabs under the span lock, the SuperSlab pool and the
 * huge-block cache under theirs: exact for the metadata they read, estimates of residency
 * where said. Thread bins are counted as their owners last published them (at each
 * refill and flush, and at every call of hakmem_stats_get by that thread), so objects a
 * thread moved between its bins and the program since its last slow path are counted on
 * the side they were then. Never reset. See tools/README.md, "Where the memory is". */

/* One slab size class. live + bins = objects of the class out of their slabs. */
typedef struct hakmem_profile_class_memory {
  uint64_t live;    /* out of their slabs and in no thread bin: in use by the program, or
                       freed by another thread and not yet taken back by the owner */
  uint64_t bins;    /* in thread bins (every heap's, whichever heap's slab they are of) */
  uint64_t free;    /* free objects inside carved slabs (handed out once, back on the slab's
                       list), minus the slab pages given back: resident */
  uint64_t purged;  /* slab pages given back (MADV_DONTNEED) while all their objects were
                       free: not resident */
  uint64_t tail;    /* pre-faulted slab memory past the bump pointer, never handed out */
} hakmem_profile_class_memory;

/* One thread heap. in_use = objects out of this heap's slabs (in the program, in any bin,
 * or freed remotely and not collected); live = in_use - bins, exact when the heap's bins
 * hold only its own objects (no object freed by a thread other than its allocator's). */
#define HAKMEM_PROFILE_HEAP_PARKED 1u /* its thread exited; kept whole for the next one */
typedef struct hakmem_profile_heap {
  int64_t tid;             /* kernel thread id of the owner; 0 if unknown or parked */
  uint32_t flags;          /* HAKMEM_PROFILE_HEAP_* */
  uint32_t superslabs;     /* SuperSlabs it owns */
  uint64_t resident;       /* in_use + free + tail + free_units + medium_cached (the sort key) */
  uint64_t in_use;
  uint64_t bins;           /* bytes in its bins */
  uint64_t live;
  uint64_t free;           /* free objects in its slabs (resident) */
  uint64_t tail;           /* pre-faulted, never handed out, in its slabs */
  uint64_t free_units;     /* free units of its SuperSlabs that may hold pages */
  uint64_t medium_cached;  /* medium blocks in its medium cache */
} hakmem_profile_heap;

/* memory.flags */
#define HAKMEM_PROFILE_MEMORY_VALID 1u /* filled (0: a version 2 record, or a session sum) */

typedef struct hakmem_profile_memory {
  uint32_t flags;            /* HAKMEM_PROFILE_MEMORY_* */
  uint32_t num_heaps;        /* entries used in heaps[], largest resident first */
  uint64_t walks;            /* breakdowns taken so far (it is refreshed with the record,
                                but at most once per 100x the last walk's cost, estimated
                                as 10 ns per slab and 300 ns per SuperSlab walked) */
  uint64_t updated_time_ns;  /* CLOCK_REALTIME of this breakdown */
  uint64_t walk_ns;          /* how long taking it took (CLOCK_MONOTONIC), waits for heap
                                locks included */
  uint64_t walked_superslabs;/* SuperSlabs and slabs it looked at */
  uint64_t walked_slabs;
  uint64_t heaps_live;       /* thread heaps walked (parked ones included) */
  /* Small objects in total are the sums over classes[]; beside them: */
  uint64_t slab_free_units;  /* free 64 KiB units of SuperSlabs held by heaps or orphaned
                                that may hold pages (touched since their last purge) */
  uint64_t medium_live;      /* spans handed out (medium blocks and blocks <= 1 MiB), not in
                                a thread's medium cache */
  uint64_t medium_cached;    /* medium blocks in the threads' medium caches */
  uint64_t span_free_resident; /* free pages of span SuperSlabs that hold memory */
  uint64_t span_free_purged;   /* free pages of span SuperSlabs given back or never touched */
  uint64_t reserve_resident; /* empty SuperSlabs in the warm reserve: their units that may
                                hold pages */
  uint64_t reserve_lazy;     /* empty SuperSlabs given back with MADV_FREE: the kernel takes
                                the pages only under memory pressure, RSS counts them until */
  uint64_t reserve_purged;   /* empty SuperSlabs given back (MADV_DONTNEED): address only */
  uint64_t huge_live;        /* live huge blocks: their mappings (an upper bound: pages the
                                program never touched past the populated part are not
                                resident) */
  uint64_t huge_cached;      /* freed huge blocks kept mapped for reuse: their mappings */
  uint64_t meta_superslabs;  /* SuperSlab headers (8 KiB each) of every SuperSlab mapped */
  uint64_t meta_heaps;       /* thread heaps mapped (live, parked and pooled), page-rounded */
  uint64_t orphan_superslabs;/* SuperSlabs of exited threads still holding objects */
  uint64_t reserved[5];
  hakmem_profile_class_memory classes[HAKMEM_PROFILE_MAX_CLASSES];
  hakmem_profile_heap heaps[HAKMEM_PROFILE_MAX_HEAPS];
} hakmem_profile_memory;

/* The snapshot: everything the process publishes at each refresh. */
typedef struct hakmem_profile_data {
  hakmem_profile_counters counters;
  uint32_t class_size[HAKMEM_PROFILE_MAX_CLASSES];      /* bytes per object of each class */
  uint64_t class_refills[HAKMEM_PROFILE_MAX_CLASSES];   /* refills per size class */
  uint64_t class_flushes[HAKMEM_PROFILE_MAX_CLASSES];   /* flushes per size class */
  hakmem_profile_lock locks[HAKMEM_PROFILE_MAX_LOCKS];
  hakmem_profile_histogram hists[HAKMEM_PROFILE_MAX_HISTS];
  hakmem_profile_memory memory;                         /* version 3 */
} hakmem_profile_data;

typedef struct hakmem_profile_record {
  hakmem_profile_header header;
  hakmem_profile_data data;
} hakmem_profile_record;

#ifdef __cplusplus
} /* extern "C" */
static_assert(sizeof(hakmem_profile_header) == 160, "profile header layout changed");
static_assert(sizeof(hakmem_profile_lock) == 56, "profile lock layout changed");
static_assert(sizeof(hakmem_profile_histogram) == 312, "profile histogram layout changed");
static_assert(sizeof(hakmem_profile_counters) == 40 * 8, "counters changed: bump the version");
static_assert(sizeof(hakmem_profile_class_memory) == 40, "class memory layout changed");
static_assert(sizeof(hakmem_profile_heap) == 80, "heap memory layout changed");
static_assert(sizeof(hakmem_profile_memory) == 200 + 96 * 40 + 16 * 80, "memory layout changed");
static_assert(__builtin_offsetof(hakmem_profile_record, data.memory) ==
                  HAKMEM_PROFILE_V2_RECORD_SIZE,
              "version 3 must extend version 2's layout");
static_assert(sizeof(hakmem_profile_record) == 5792 + 5320, "record layout changed: bump the version");
#endif

#endif /* HAKMEM_PROFILE_RECORD_H */
