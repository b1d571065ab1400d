// allocator/config.cpp: every option of the table read from HAKMEM_<NAME> — good values
// taken (numbers at both ends of the range, every enum name in any case, the boolean
// words), bad ones reported exactly once with the default kept — and the table's defaults
// being what the layers below run with. Each case runs in a forked child: options are
// process-wide, and the child's stderr is what the report is checked on.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

#include "allocator/config.hpp"
#include "common/test_support.hpp"
#include "superslab/os.hpp"
#include "superslab/pool.hpp"

namespace {

using namespace hakmem;

constexpr unsigned kOpts = static_cast<unsigned>(Opt::kCount);

std::string env_name(const OptionDef& d) { return std::string("HAKMEM_") + d.name; }

// Loads the options with HAKMEM_<NAME>=text in a child; exit 0 iff option(o) == want with
// source `src`.
hakt::ChildResult load_with(Opt o, const std::string& text, long want, OptSource src) {
  return hakt::run_in_child([&] {
    setenv(env_name(option_def(o)).c_str(), text.c_str(), 1);
    config_load_env();
    if (option(o) != want) return 1;
    if (option_source(o) != src) return 2;
    return 0;
  });
}

TEST(Config, EveryOptionTakesGoodValues) {
  for (unsigned i = 0; i < kOpts; ++i) {
    const Opt o = static_cast<Opt>(i);
    const OptionDef& d = option_def(o);
    SCOPED_TRACE(d.name);
    ASSERT_LE(d.min, d.def);
    ASSERT_LE(d.def, d.max);
    std::vector<std::pair<std::string, long>> good = {{std::to_string(d.min), d.min},
                                                      {std::to_string(d.max), d.max}};
    if (d.enum_names) {
      for (long v = 0; d.enum_names[v]; ++v) {
        std::string upper = d.enum_names[v];
        for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        good.emplace_back(d.enum_names[v], v);
        good.emplace_back(upper, v);
        EXPECT_LE(v, d.max) << "every name is a value in range";
      }
    } else if (d.min == 0 && d.max == 1) {
      for (const char* t : {"true", "yes", "on", "ON"}) good.emplace_back(t, 1);
      for (const char* t : {"false", "no", "off", "Off"}) good.emplace_back(t, 0);
    }
    for (const auto& [text, want] : good) {
      hakt::ChildResult r = load_with(o, text, want, OptSource::kEnv);
      EXPECT_TRUE(r.ok()) << env_name(d) << "=" << text << ": " << r.describe();
      EXPECT_EQ(r.err, "") << env_name(d) << "=" << text << " is good: nothing to report";
    }
  }
}

TEST(Config, EveryOptionReportsBadValuesOnceAndKeepsTheDefault) {
  for (unsigned i = 0; i < kOpts; ++i) {
    const Opt o = static_cast<Opt>(i);
    const OptionDef& d = option_def(o);
    SCOPED_TRACE(d.name);
    std::vector<std::string> bad = {"bogus", "12abc", std::to_string(d.max) + "0",
                                    "99999999999999999999999", "1 "};
    if (d.max < 0x7fffffffl) bad.push_back(std::to_string(d.max + 1));
    if (d.min > -0x7fffffffl) bad.push_back(std::to_string(d.min - 1));
    for (const std::string& text : bad) {
      hakt::ChildResult r = load_with(o, text, d.def, OptSource::kDefault);
      EXPECT_TRUE(r.ok()) << env_name(d) << "='" << text << "' did not fall back to the default: "
                          << r.describe();
      std::vector<std::string> lines = hakt::lines_of(r.err);
      ASSERT_EQ(lines.size(), 1u) << env_name(d) << "='" << text << "': " << r.err;
      EXPECT_NE(lines[0].find(env_name(d) + "='" + text + "'"), std::string::npos) << lines[0];
      const std::string def = d.enum_names ? d.enum_names[d.def] : std::to_string(d.def);
      EXPECT_NE(lines[0].find("using the default " + def), std::string::npos) << lines[0];
    }
  }
}

TEST(Config, SetAndGetCheckTheRange) {
  hakt::ChildResult r = hakt::run_in_child([] {
    for (unsigned i = 0; i < kOpts; ++i) {
      const Opt o = static_cast<Opt>(i);
      const OptionDef& d = option_def(o);
      // Options that would start threads or files when set are left alone.
      if (o == Opt::kProfile || o == Opt::kHeapProfile || o == Opt::kBackground) continue;
      long v = -1;
      if (o == Opt::kSecure) {
        // Start-up only: any change is refused (EPERM), setting the current value is not.
        if (config_set(d.name, 1) != -1 || errno != EPERM || option(o) != 0) return 46;
        if (config_set(d.name, 0) != 0) return 47;
        continue;
      }
      if (config_get(d.name, &v) != 0 || v != d.def) return 10 + static_cast<int>(i);
      errno = 0;
      if (d.max < 0x7fffffffl && (config_set(d.name, d.max + 1) != -1 || errno != EINVAL)) return 40;
      if (config_set(d.name, d.min - 1) != -1 || errno != EINVAL) return 41;
      if (option(o) != d.def || option_source(o) != OptSource::kDefault) return 42;
      if (config_set(d.name, d.max) != 0 || option(o) != d.max) return 43;
      if (option_source(o) != OptSource::kApi) return 44;
      if (config_set(d.name, d.def) != 0) return 45;
    }
    long v;
    if (config_set("NO_SUCH_OPTION", 1) != -1 || errno != EINVAL) return 50;
    if (config_get("NO_SUCH_OPTION", &v) != -1 || config_set(nullptr, 0) != -1) return 51;
    return 0;
  });
  EXPECT_TRUE(r.ok()) << r.describe();
}

// The defaults live in the option table only: after loading an empty environment and
// applying it, the layers below run with exactly the table's values.
TEST(Config, LayersRunWithTheTableDefaults) {
  hakt::ChildResult r = hakt::run_in_child([] {
    for (unsigned i = 0; i < kOpts; ++i) unsetenv(env_name(option_def(static_cast<Opt>(i))).c_str());
    config_load_env();
    config_apply();
    PoolConfig pc = pool_config();
    if (pc.reserve_bytes != static_cast<std::size_t>(option_def(Opt::kReserveMb).def) << 20) return 1;
    if (pc.purge_delay_ns != static_cast<std::uint64_t>(option_def(Opt::kPurgeDelayMs).def) * 1000000) return 2;
    if (pc.dense_threshold != static_cast<std::uint32_t>(option_def(Opt::kDenseAfterSlabs).def)) return 3;
    if (pool_dense_threshold() != pc.dense_threshold) return 4;
    if (pc.numa_mode != option_def(Opt::kNuma).def) return 5;
    os::Policy pol = os::policy();
    if (static_cast<long>(pol.populate) != option_def(Opt::kPopulate).def) return 6;
    if (static_cast<long>(pol.huge) != option_def(Opt::kHugepages).def) return 7;
    return 0;
  });
  EXPECT_TRUE(r.ok()) << r.describe();
}

}  // namespace
