/* hakmem public C API.
 *
 * Two ways to use hakmem:
 *  - libhakmem.so replaces malloc/free/... for the whole process (LD_PRELOAD or link).
 *  - libhakmem.a exposes only the prefixed API below (hak_malloc, hak_free, ...), which
 *    does not replace the process's malloc. Link it with -Wl,--whole-archive only if you
 *    also want the malloc overrides (libhakmem_override.a); see README.md.
 *
 * All functions are thread-safe. Errors follow glibc: NULL with errno = ENOMEM on
 * exhaustion or size overflow, EINVAL for a bad alignment.
 */
#ifndef HAKMEM_HAKMEM_H
#define HAKMEM_HAKMEM_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define HAKMEM_API __attribute__((visibility("default")))
#else
#define HAKMEM_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define HAKMEM_VERSION_MAJOR 0
#define HAKMEM_VERSION_MINOR 1

HAKMEM_API void* hak_malloc(size_t size);
HAKMEM_API void hak_free(void* ptr);
HAKMEM_API void* hak_calloc(size_t count, size_t size);
HAKMEM_API void* hak_realloc(void* ptr, size_t size);
HAKMEM_API void* hak_reallocarray(void* ptr, size_t count, size_t size);
HAKMEM_API int hak_posix_memalign(void** out, size_t alignment, size_t size);
HAKMEM_API void* hak_aligned_alloc(size_t alignment, size_t size);
HAKMEM_API void* hak_memalign(size_t alignment, size_t size);
HAKMEM_API void* hak_valloc(size_t size);
HAKMEM_API void* hak_pvalloc(size_t size);
HAKMEM_API size_t hak_malloc_usable_size(const void* ptr);
/* Frees ptr, checking that size (and alignment) match what it was allocated with. */
HAKMEM_API void hak_free_sized(void* ptr, size_t size);
HAKMEM_API void hak_free_aligned_sized(void* ptr, size_t alignment, size_t size);
/* Flushes this thread's cache and purges reserves; returns 1 if memory was released. */
HAKMEM_API int hak_malloc_trim(size_t pad);

/* 1 if ptr points into memory hakmem manages (an O(1) check that never dereferences ptr). */
HAKMEM_API int hak_owns(const void* ptr);

/* Flushes the calling thread's cache back to its slabs (e.g. before a thread goes idle). */
HAKMEM_API void hak_thread_flush(void);

/* ---- Blocks --------------------------------------------------------------------
 * Page-aligned blocks for buffer pools (e.g. the VFS pool): size is rounded up to 4 KiB,
 * the memory comes from populated SuperSlab spans (or huge pages), so writing a block does
 * not page-fault. Free with hak_block_free (hak_free also works). */
HAKMEM_API void* hak_block_alloc(size_t size);
HAKMEM_API void hak_block_free(void* block);

/* ---- Options ---------------------------------------------------------------------
 * Every option is read from HAKMEM_<NAME> at start-up and may be changed with
 * hak_option_set(). Names are upper-case without the prefix, e.g. "PURGE_DELAY_MS". */
HAKMEM_API int hak_option_get(const char* name, long* value);   /* 0 on success, -1 unknown name */
HAKMEM_API int hak_option_set(const char* name, long value);    /* 0 on success, -1 bad name/value */
/* Writes every option, its value and where it came from to stderr. */
HAKMEM_API void hak_options_print(void);

/* ---- Statistics (process-wide totals) -----------------------------------------
 * The same counters as the live profile record (include/hakmem/profile_record.h, where
 * each is defined precisely), totalled since the process started; never reset. */
#define HAKMEM_STATS_MAX_LOCKS 16
#define HAKMEM_STATS_LOCK_NAME_LEN 24

/* One internal lock: acquisitions, contended acquisitions and time spent waiting in them,
 * kept apart (an idle waiter and a contended lock look alike in a futex trace). */
typedef struct hakmem_lock_stats {
  char name[HAKMEM_STATS_LOCK_NAME_LEN]; /* superslab_pool, heap_registry, span, large,
                                            thread_heaps (every thread heap's lock) */
  uint64_t acquisitions;
  uint64_t contended;
  uint64_t wait_ns;
} hakmem_lock_stats;

typedef struct hakmem_stats {
  uint64_t version;             /* HAKMEM_STATS_VERSION */
  /* Calls per entry point, disjoint: malloc does not include new, calloc, realloc or the
   * aligned calls; free does not include delete or realloc's release of the old block.
   * Frees and deletes count every call with a non-null pointer, rejected ones too. */
  uint64_t malloc_calls;
  uint64_t free_calls;
  uint64_t calloc_calls;
  uint64_t realloc_calls;
  uint64_t aligned_calls;       /* posix_memalign, aligned_alloc, memalign, valloc, pvalloc */
  uint64_t refills;             /* thread-cache refills from slabs */
  uint64_t flushes;             /* thread-cache flushes to slabs */
  uint64_t remote_frees;        /* objects freed to a slab owned by another thread */
  uint64_t remote_batches;      /* atomic pushes of remote frees (one per slab group) */
  uint64_t superslabs_mapped;   /* SuperSlabs obtained from the OS */
  uint64_t superslabs_unmapped; /* SuperSlabs returned to the OS */
  uint64_t superslabs_in_use;   /* SuperSlabs currently held by threads */
  uint64_t superslabs_reserved; /* empty SuperSlabs in the warm reserve */
  uint64_t bytes_mapped;        /* currently mapped from the OS (all kinds) */
  uint64_t bytes_populated;     /* total bytes pre-faulted (MAP_POPULATE / MADV_POPULATE_WRITE) */
  uint64_t bytes_purged;        /* total bytes given back with MADV_FREE / MADV_DONTNEED */
  uint64_t madvise_calls;
  uint64_t hugepages_thp;       /* SuperSlabs advised MADV_HUGEPAGE */
  uint64_t hugepages_hugetlb;   /* SuperSlabs mapped with MAP_HUGETLB */
  uint64_t large_allocs;        /* objects beyond the slab classes */
  uint64_t large_cache_hits;    /* large objects served from freed, still-mapped memory */
  uint64_t large_cache_misses;
  uint64_t invalid_frees;       /* frees of pointers hakmem does not own or misaligned */
  uint64_t double_frees;        /* detected double frees */
  uint64_t page_faults_slow_path; /* minor faults observed across slow paths (getrusage) */
  uint64_t threads_created;     /* thread heaps created */
  uint64_t threads_exited;
  uint64_t lock_acquisitions;   /* internal locks, all summed (each one: locks[] below) */
  uint64_t lock_contended;
  uint64_t lock_wait_ns;
  /* Version 2. */
  uint64_t new_calls;           /* operator new, every form */
  uint64_t delete_calls;        /* operator delete, every form, non-null pointer */
  uint64_t cache_allocs;        /* small objects handed out by thread caches (all entry points) */
  uint64_t cache_frees;         /* small objects taken back into thread caches */
  uint64_t bytes_requested;     /* see profile_record.h: not malloc / new of <= 32 KiB */
  uint64_t bytes_served;
  uint32_t num_locks;           /* entries used in locks[] */
  uint32_t reserved;
  hakmem_lock_stats locks[HAKMEM_STATS_MAX_LOCKS];
} hakmem_stats;

/* 2: new/delete and cache counts, bytes, per-lock statistics (the struct grew: rebuild
 * callers against this header). */
#define HAKMEM_STATS_VERSION 2

/* Fills *out with current totals. Returns 0. */
HAKMEM_API int hakmem_stats_get(hakmem_stats* out);
/* Writes a human-readable summary to stderr (also done at exit when HAKMEM_STATS=1). */
HAKMEM_API void hakmem_stats_print(void);

/* ---- Live profile record (HAKMEM_PROFILE=1) -----------------------------------------
 * The path of this process's record (/dev/shm/hakmem-<pid> unless HAKMEM_PROFILE_PATH
 * says otherwise), or NULL when the process publishes none. Programs that publish counters
 * of their own beside it (vfsd: "<path>.vfs") derive their file name from it. */
HAKMEM_API const char* hakmem_profile_path(void);
/* A child of fork() that carries on without exec (a daemon) is not profiled: the record
 * it inherited is its parent's. This gives it a record of its own, when HAKMEM_PROFILE=1.
 * Returns 0 if the process publishes a record now, -1 if not. */
HAKMEM_API int hakmem_profile_restart(void);

#ifdef __cplusplus
}
#endif

#endif /* HAKMEM_HAKMEM_H */
