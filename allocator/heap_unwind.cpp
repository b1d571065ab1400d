// libunwind for the heap profile (see heap_unwind.hpp).
//
// Why libunwind and not frame pointers: Debian builds its libraries and programs with
// -fomit-frame-pointer, so a frame-pointer walk stops (or goes wrong) at the first such
// frame; libunwind reads the .eh_frame unwind tables every object carries. unw_backtrace is
// its fast path: it caches the unwind recipe of each return address it has seen (in memory
// it maps itself), so the common sample costs a table lookup per frame (PERF_NOTES.md).
//
// Which frames are hakmem's: when hakmem is a shared object (LD_PRELOAD), every frame whose
// address lies in its executable segments. When it is linked statically into the program,
// the frames up to the outermost hakmem function among the first 16 (malloc, hak_malloc,
// operator new, refill_pop, ...), recognised by the start address of their function as
// libunwind reports it.
#define UNW_LOCAL_ONLY
#include "allocator/heap_unwind.hpp"

#include <dlfcn.h>
#include <libunwind.h>
#include <link.h>

#include <cstddef>
#include <cstdlib>

#include "allocator/api_internal.hpp"
#include "allocator/fmt.hpp"
#include "allocator/heap_profile.hpp"
#include "allocator/miss.hpp"
#include "hakmem/hakmem.h"

// Entry points by their symbol names, weakly: null when not linked (the C library's own
// malloc when hakmem is only libhakmem.a; the C++ operators without the C++ exports).
#define HAK_WEAK_REF(local, sym) extern "C" void local() __asm__(sym) __attribute__((weak));
HAK_WEAK_REF(ref_malloc, "malloc")
HAK_WEAK_REF(ref_calloc, "calloc")
HAK_WEAK_REF(ref_realloc, "realloc")
HAK_WEAK_REF(ref_reallocarray, "reallocarray")
HAK_WEAK_REF(ref_posix_memalign, "posix_memalign")
HAK_WEAK_REF(ref_aligned_alloc, "aligned_alloc")
HAK_WEAK_REF(ref_memalign, "memalign")
HAK_WEAK_REF(ref_valloc, "valloc")
HAK_WEAK_REF(ref_pvalloc, "pvalloc")
HAK_WEAK_REF(ref_new, "_Znwm")
HAK_WEAK_REF(ref_new_a, "_Znam")
HAK_WEAK_REF(ref_new_nt, "_ZnwmRKSt9nothrow_t")
HAK_WEAK_REF(ref_new_a_nt, "_ZnamRKSt9nothrow_t")
HAK_WEAK_REF(ref_new_al, "_ZnwmSt11align_val_t")
HAK_WEAK_REF(ref_new_a_al, "_ZnamSt11align_val_t")
HAK_WEAK_REF(ref_new_al_nt, "_ZnwmSt11align_val_tRKSt9nothrow_t")
HAK_WEAK_REF(ref_new_a_al_nt, "_ZnamSt11align_val_tRKSt9nothrow_t")
#undef HAK_WEAK_REF

namespace hakmem {
namespace {

using BacktraceFn = int (*)(void**, int);
using GetContextFn = int (*)(unw_context_t*);
using InitLocalFn = int (*)(unw_cursor_t*, unw_context_t*);
using StepFn = int (*)(unw_cursor_t*);
using GetRegFn = int (*)(unw_cursor_t*, unw_regnum_t, unw_word_t*);
using ProcInfoByIpFn = int (*)(unw_addr_space_t, unw_word_t, unw_proc_info_t*, void*);

BacktraceFn g_backtrace = nullptr;
GetContextFn g_getcontext = nullptr;
InitLocalFn g_init_local = nullptr;
StepFn g_step = nullptr;
GetRegFn g_get_reg = nullptr;
bool g_can_step = false;  // every function of the step-by-step walk was found

// The step-by-step walk: a thread's first samples, and every sample in ThreadSanitizer
// builds (unw_backtrace's trace cache has a thread-specific key whose destructor locks a
// mutex after TSan has finished the thread).
int step_backtrace(void** out, int max) {
  unw_context_t ctx;
  unw_cursor_t cur;
  if (g_getcontext(&ctx) != 0 || g_init_local(&cur, &ctx) != 0) return 0;
  int n = 0;
  while (n < max && g_step(&cur) > 0) {
    unw_word_t ip = 0;
    if (g_get_reg(&cur, UNW_REG_IP, &ip) != 0 || ip == 0) break;
    out[n++] = reinterpret_cast<void*>(ip);
  }
  return n;
}
ProcInfoByIpFn g_proc_info = nullptr;
unw_addr_space_t* g_local_as = nullptr;

constexpr unsigned kMaxRanges = 8;
struct Range {
  std::uintptr_t lo, hi;
};
Range g_own[kMaxRanges];
unsigned g_own_count = 0;
bool g_static = false;  // hakmem is part of the main program: recognise entry points instead

std::uintptr_t g_entries[40];
unsigned g_entry_count = 0;

void add_entry(const void* fn) {
  if (fn && g_entry_count < sizeof(g_entries) / sizeof(g_entries[0])) {
    g_entries[g_entry_count++] = reinterpret_cast<std::uintptr_t>(fn);
  }
}

int find_own_object(struct dl_phdr_info* info, std::size_t, void* arg) {
  auto self = reinterpret_cast<std::uintptr_t>(arg);
  bool mine = false;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    std::uintptr_t lo = info->dlpi_addr + ph.p_vaddr;
    if (self >= lo && self < lo + ph.p_memsz) mine = true;
  }
  if (!mine) return 0;
  // The main program is reported first, with an empty name.
  g_static = info->dlpi_name == nullptr || info->dlpi_name[0] == '\0';
  for (int i = 0; i < info->dlpi_phnum && g_own_count < kMaxRanges; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X)) continue;
    std::uintptr_t lo = info->dlpi_addr + ph.p_vaddr;
    g_own[g_own_count++] = Range{lo, lo + ph.p_memsz};
  }
  return 1;
}

bool in_own_object(std::uintptr_t ip) {
  for (unsigned i = 0; i < g_own_count; ++i) {
    if (ip >= g_own[i].lo && ip < g_own[i].hi) return true;
  }
  return false;
}

bool is_entry_frame(std::uintptr_t ip) {
  unw_proc_info_t pi;
  if (g_proc_info(*g_local_as, ip - 1, &pi, nullptr) != 0) return false;
  for (unsigned i = 0; i < g_entry_count; ++i) {
    if (pi.start_ip == g_entries[i]) return true;
  }
  return false;
}

void warn(const char* what) {
  TextBuf b;
  b.str("hakmem: HAKMEM_HEAP_PROFILE=1: ").str(what).str("; the heap profile is off\n");
  b.flush_stderr();
}

}  // namespace

bool unwind_load() {
  void* lib = ::dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    warn("cannot load libunwind.so.8 (Debian package libunwind8)");
    return false;
  }
  g_backtrace = reinterpret_cast<BacktraceFn>(::dlsym(lib, "unw_backtrace"));
  g_proc_info = reinterpret_cast<ProcInfoByIpFn>(::dlsym(lib, "_ULx86_64_get_proc_info_by_ip"));
  g_local_as = static_cast<unw_addr_space_t*>(::dlsym(lib, "_ULx86_64_local_addr_space"));
  using CachingFn = int (*)(unw_addr_space_t, unw_caching_policy_t);
  auto caching = reinterpret_cast<CachingFn>(::dlsym(lib, "_ULx86_64_set_caching_policy"));
  g_getcontext = reinterpret_cast<GetContextFn>(::dlsym(lib, "_Ux86_64_getcontext"));
  g_init_local = reinterpret_cast<InitLocalFn>(::dlsym(lib, "_ULx86_64_init_local"));
  g_step = reinterpret_cast<StepFn>(::dlsym(lib, "_ULx86_64_step"));
  g_get_reg = reinterpret_cast<GetRegFn>(::dlsym(lib, "_ULx86_64_get_reg"));
  g_can_step = g_getcontext && g_init_local && g_step && g_get_reg;
#ifdef __SANITIZE_THREAD__
  if (g_can_step) g_backtrace = step_backtrace;
#endif
  if (!g_backtrace || !g_proc_info || !g_local_as) {
    warn("libunwind.so.8 lacks unw_backtrace");
    return false;
  }
  // Per-thread caches: no lock shared by threads that sample at the same time.
  if (caching) caching(*g_local_as, UNW_CACHE_PER_THREAD);
  ::dl_iterate_phdr(find_own_object, reinterpret_cast<void*>(&unwind_load));
  for (auto fn : {ref_malloc, ref_calloc, ref_realloc, ref_reallocarray, ref_posix_memalign,
                  ref_aligned_alloc, ref_memalign, ref_valloc, ref_pvalloc, ref_new, ref_new_a,
                  ref_new_nt, ref_new_a_nt, ref_new_al, ref_new_a_al, ref_new_al_nt,
                  ref_new_a_al_nt}) {
    add_entry(reinterpret_cast<const void*>(fn));
  }
  for (const void* fn : {reinterpret_cast<const void*>(&hak_malloc),
                         reinterpret_cast<const void*>(&hak_calloc),
                         reinterpret_cast<const void*>(&hak_realloc),
                         reinterpret_cast<const void*>(&hak_reallocarray),
                         reinterpret_cast<const void*>(&hak_posix_memalign),
                         reinterpret_cast<const void*>(&hak_aligned_alloc),
                         reinterpret_cast<const void*>(&hak_memalign),
                         reinterpret_cast<const void*>(&hak_valloc),
                         reinterpret_cast<const void*>(&hak_pvalloc),
                         reinterpret_cast<const void*>(&hak_block_alloc),
                         reinterpret_cast<const void*>(&alloc_beyond_slabs),
                         reinterpret_cast<const void*>(&realloc_impl),
                         reinterpret_cast<const void*>(&heap_sample_refill),
                         reinterpret_cast<const void*>(&heap_sample_beyond)}) {
    add_entry(fn);
  }
  for (unsigned i = 0; i < kMissFunctionCount; ++i) add_entry(kMissFunctions[i]);
  return true;
}

unsigned unwind_stack(std::uint64_t* out, unsigned max, std::uint64_t* walked) {
  constexpr int kRaw = 64;
  void* raw[kRaw];
  // A thread's first samples walk step by step: unw_backtrace maps a trace cache for each
  // thread (about 28 page faults at its first use, PERF_NOTES.md), which a short thread
  // with a sample or two never repays; threads that sample more use the cached walk.
  constexpr unsigned kStepWalks = 4;
  static __thread unsigned t_walks __attribute__((tls_model("initial-exec")));
  bool step = g_can_step && t_walks < kStepWalks;
  if (step) ++t_walks;
  int n = step ? step_backtrace(raw, kRaw) : g_backtrace(raw, kRaw);
  if (n < 0) n = 0;
  *walked += static_cast<std::uint64_t>(n);
  int first = 0;
  if (!g_static) {
    while (first < n && in_own_object(reinterpret_cast<std::uintptr_t>(raw[first]))) ++first;
  } else {
    // Past the outermost hakmem function among the first frames: entry points and the
    // internal functions a tail call may leave on the stack without their entry point.
    int limit = n < 16 ? n : 16;
    for (int i = limit - 1; i >= 0; --i) {
      if (is_entry_frame(reinterpret_cast<std::uintptr_t>(raw[i]))) {
        first = i + 1;
        break;
      }
    }
  }
  unsigned k = 0;
  for (int i = first; i < n && k < max; ++i) {
    auto ip = reinterpret_cast<std::uintptr_t>(raw[i]);
    // An allocation the C library makes on hakmem's behalf (pthread_create's TLS for a
    // helper thread, opendir in the publisher): the stack ends where hakmem's code calls
    // the library, so the site is the library's and no frame of hakmem is ever shown.
    if (!g_static && in_own_object(ip)) break;
    out[k++] = ip;
  }
  return k;
}

}  // namespace hakmem
