#include "allocator/config.hpp"

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "allocator/fmt.hpp"
#include "platform/platform.hpp"
#include "superslab/numa.hpp"
#include "superslab/os.hpp"
#include "superslab/pool.hpp"
#include "unified_cache/heap.hpp"
#include "unified_cache/medium.hpp"

namespace hakmem {
namespace {

// Enum options: names in value order (the value is the index), and their first and last.
const char* const kPopulateNames[] = {"auto", "always", "never", nullptr};  // = PopulatePolicy
const char* const kHugeNames[] = {"auto", "thp", "hugetlb", "off", nullptr};  // = HugePolicy
const char* const kOnErrorNames[] = {"report", "abort", nullptr};
const char* const kBackgroundNames[] = {"off", "on", "auto", nullptr};
const char* const kNumaNames[] = {"local", "interleave", "off", nullptr};  // = NumaMode
template <typename E>
constexpr long ev(E e) { return static_cast<long>(e); }

constexpr OptionDef kDefs[] = {
    {"VERBOSE", 0, 0, 1, nullptr, "print every option and its source at start"},
    {"STATS", 0, 0, 1, nullptr, "print a statistics summary at exit"},
    {"PROFILE", 0, 0, 1, nullptr, "publish live counters in /dev/shm/hakmem-<pid>"},
    {"POPULATE", ev(os::PopulatePolicy::kAuto), 0, ev(os::PopulatePolicy::kNever), kPopulateNames,
     "pre-fault memory the hot path will write"},
    {"HUGEPAGES", ev(os::HugePolicy::kAuto), 0, ev(os::HugePolicy::kOff), kHugeNames,
     "huge pages for dense SuperSlabs"},
    {"PURGE_DELAY_MS", 500, 0, 3600000, nullptr, "idle time before memory is returned"},
    {"RESERVE_MB", 64, 0, 1 << 20, nullptr, "empty SuperSlabs kept warm"},
    {"BACKGROUND", kBackgroundAuto, kBackgroundOff, kBackgroundAuto, kBackgroundNames,
     "purger thread: off, on (from the start), auto (started once the program has freed "
     "8 MiB)"},
    {"NUMA", ev(NumaMode::kLocal), 0, ev(NumaMode::kOff), kNumaNames,
     "SuperSlab placement on multi-node machines"},
    {"LARGE_CACHE_MB", 256, 0, 1 << 20, nullptr, "freed huge blocks kept mapped for reuse"},
    {"ON_ERROR", kOnErrorReport, kOnErrorReport, kOnErrorAbort, kOnErrorNames,
     "invalid/double free: report and continue, or abort"},
    {"DENSE_AFTER_SLABS", 4, 0, 65535, nullptr,
     "slabs a size class fills before its next ones come from whole-populated, huge-page "
     "SuperSlabs (0: always)"},
    {"PROFILE_INTERVAL_MS", 100, 1, 3600000, nullptr, "refresh period of the profile record"},
    {"HEAP_PROFILE", 0, 0, 1, nullptr,
     "sampled heap profile (call sites of live memory) in /dev/shm/hakmem-<pid>.heap"},
    {"HEAP_SAMPLE", 524288, 16, 1l << 30, nullptr,
     "mean bytes between heap-profile samples (setting it turns the heap profile on)"},
    {"HEAP_PROFILE_LEAKS", 0, 0, 1, nullptr,
     "print the sampled allocations still live at exit (turns the heap profile on)"},
    {"HEAP_SEED", 0, 0, 0x7fffffffl, nullptr, "heap-profile random seed (0: random)"},
    {"SECURE", 0, 0, 1, nullptr,
     "secure mode: encoded free lists, guard pages, random reuse order, zero on free with a "
     "write-after-free check (start-up only; huge pages and the heap profile off)"},
};
static_assert(sizeof(kDefs) / sizeof(kDefs[0]) == static_cast<unsigned>(Opt::kCount));

constexpr unsigned kOptCount = static_cast<unsigned>(Opt::kCount);

// Current values, constant-initialised from kDefs' defaults (malloc may read an option
// before any constructor or config_load_env has run).
struct OptionValues {
  std::atomic<long> v[kOptCount];
};
template <std::size_t... I>
constexpr OptionValues defaults_of(std::index_sequence<I...>) {
  return OptionValues{{kDefs[I].def...}};
}
constinit OptionValues g_option_values = defaults_of(std::make_index_sequence<kOptCount>{});
OptSource g_sources[static_cast<unsigned>(Opt::kCount)];

int find(const char* name) {
  for (unsigned i = 0; i < static_cast<unsigned>(Opt::kCount); ++i) {
    if (std::strcmp(kDefs[i].name, name) == 0) return static_cast<int>(i);
  }
  return -1;
}

bool parse_value(const OptionDef& d, const char* text, long* out) {
  if (d.enum_names) {
    for (long i = 0; d.enum_names[i]; ++i) {
      if (strcasecmp(text, d.enum_names[i]) == 0) {
        *out = i;
        return true;
      }
    }
  } else if (d.max == 1) {
    if (!strcasecmp(text, "true") || !strcasecmp(text, "yes") || !strcasecmp(text, "on")) {
      *out = 1;
      return true;
    }
    if (!strcasecmp(text, "false") || !strcasecmp(text, "no") || !strcasecmp(text, "off")) {
      *out = 0;
      return true;
    }
  }
  if (*text == '\0') return false;
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(text, &end, 10);
  if (errno != 0 || *end != '\0' || v < d.min || v > d.max) return false;
  *out = v;
  return true;
}

void warn_bad(const OptionDef& d, const char* text) {
  TextBuf b;
  b.str("hakmem: ignoring HAKMEM_").str(d.name).str("='").str(text).str("' (expected ");
  if (d.enum_names) {
    for (int i = 0; d.enum_names[i]; ++i) b.str(i ? "|" : "").str(d.enum_names[i]);
  } else {
    b.str("an integer in [").snum(d.min).str(", ").snum(d.max).str("]");
  }
  b.str("); using the default ");
  if (d.enum_names) b.str(d.enum_names[d.def]); else b.snum(d.def);
  b.str("\n").flush_stderr();
}

}  // namespace

void TextBuf::flush_stderr() {
  std::size_t off = 0;
  while (off < len_) {
    ssize_t n = platform::ops().write(2, buf_ + off, len_ - off);
    if (n <= 0) break;
    off += static_cast<std::size_t>(n);
  }
  len_ = 0;
}

const OptionDef& option_def(Opt o) { return kDefs[static_cast<unsigned>(o)]; }
long option(Opt o) { return g_option_values.v[static_cast<unsigned>(o)].load(std::memory_order_relaxed); }
OptSource option_source(Opt o) { return g_sources[static_cast<unsigned>(o)]; }

void config_load_env() {
  char name[64];
  for (unsigned i = 0; i < static_cast<unsigned>(Opt::kCount); ++i) {
    const OptionDef& d = kDefs[i];
    std::size_t len = std::strlen(d.name);
    std::memcpy(name, "HAKMEM_", 7);
    std::memcpy(name + 7, d.name, len + 1);
    const char* text = std::getenv(name);
    g_option_values.v[i].store(d.def, std::memory_order_relaxed);
    g_sources[i] = OptSource::kDefault;
    if (!text) continue;
    long v;
    if (parse_value(d, text, &v)) {
      g_option_values.v[i].store(v, std::memory_order_relaxed);
      g_sources[i] = OptSource::kEnv;
    } else {
      warn_bad(d, text);
    }
  }
}

int config_set(const char* name, long value) {
  int i = name ? find(name) : -1;
  if (i < 0 || value < kDefs[i].min || value > kDefs[i].max) {
    errno = EINVAL;
    return -1;
  }
  // Secure mode shapes every heap from its creation: it is chosen at start-up only.
  if (i == static_cast<int>(Opt::kSecure) &&
      value != g_option_values.v[i].load(std::memory_order_relaxed)) {
    errno = EPERM;
    return -1;
  }
  g_option_values.v[i].store(value, std::memory_order_relaxed);
  g_sources[i] = OptSource::kApi;
  config_apply();
  return 0;
}

int config_get(const char* name, long* value) {
  int i = name ? find(name) : -1;
  if (i < 0 || !value) {
    errno = EINVAL;
    return -1;
  }
  *value = g_option_values.v[i].load(std::memory_order_relaxed);
  return 0;
}

void config_print() {
  TextBuf b;
  b.str("hakmem: options (HAKMEM_<NAME>)\n").flush_stderr();
  for (unsigned i = 0; i < static_cast<unsigned>(Opt::kCount); ++i) {
    const OptionDef& d = kDefs[i];
    long v = g_option_values.v[i].load(std::memory_order_relaxed);
    b.str("hakmem:   ").str(d.name).pad_to(36);
    if (d.enum_names) b.str(d.enum_names[v]); else b.snum(v);
    b.pad_to(52).str(g_sources[i] == OptSource::kEnv ? "env"
                     : g_sources[i] == OptSource::kApi ? "api" : "default");
    b.pad_to(62).str(d.help).str("\n").flush_stderr();
  }
}

void config_apply() {
  os::Policy pol;
  pol.populate = static_cast<os::PopulatePolicy>(option(Opt::kPopulate));
  pol.huge = static_cast<os::HugePolicy>(option(Opt::kHugepages));
  // Guard pages split a huge page into 4 KiB ones: secure mode maps none.
  if (secure_mode()) pol.huge = os::HugePolicy::kOff;
  os::set_policy(pol);
  PoolConfig pc;
  pc.reserve_bytes = static_cast<std::size_t>(option(Opt::kReserveMb)) << 20;
  pc.purge_delay_ns = static_cast<std::uint64_t>(option(Opt::kPurgeDelayMs)) * 1000000ull;
  pc.dense_threshold = static_cast<std::uint32_t>(option(Opt::kDenseAfterSlabs));
  pc.numa_mode = static_cast<int>(option(Opt::kNuma));
  pool_configure(pc);
  heap_set_purge_delay(pc.purge_delay_ns);
  medium_set_purge_interval(pc.purge_delay_ns / 2);  // pages free for 1-2 intervals go back
}

}  // namespace hakmem
