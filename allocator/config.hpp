// The options table: one row per option, each read from HAKMEM_<NAME> at start-up and
// settable through hak_option_set(). A bad value is reported once and the default kept.
#pragma once

#include <cstdint>

namespace hakmem {

enum class Opt : unsigned {
  kVerbose,
  kStats,
  kProfile,
  kPopulate,
  kHugepages,
  kPurgeDelayMs,
  kReserveMb,
  kBackground,
  kNuma,
  kLargeCacheMb,
  kOnError,
  kDenseAfterSlabs,
  kProfileIntervalMs,
  kHeapProfile,
  kHeapSample,
  kHeapProfileLeaks,
  kHeapSeed,
  kSecure,
  kCount
};

enum class OptSource : std::uint8_t { kDefault, kEnv, kApi };

struct OptionDef {
  const char* name;         // without the HAKMEM_ prefix
  long def;
  long min;
  long max;
  const char* const* enum_names;  // nullptr-terminated, or nullptr for numbers
  const char* help;
};

const OptionDef& option_def(Opt o);
long option(Opt o);
OptSource option_source(Opt o);

// Reads every HAKMEM_* variable (once). Warnings go to stderr.
void config_load_env();
// Returns 0, or -1 for an unknown name or out-of-range value (errno = EINVAL).
int config_set(const char* name, long value);
int config_get(const char* name, long* value);
void config_print();
// Applies the options to the layers below (OS policy, pool budget, ...).
void config_apply();

inline constexpr long kBackgroundOff = 0;
inline constexpr long kBackgroundOn = 1;
inline constexpr long kBackgroundAuto = 2;
inline constexpr long kOnErrorReport = 0;
inline constexpr long kOnErrorAbort = 1;

}  // namespace hakmem
