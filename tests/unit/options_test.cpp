// Item 10: options from the environment. A bad value is reported exactly once on stderr and
// the default is used; a good value is taken; HAKMEM_VERBOSE=1 prints the option table.
// Runs tests/unit/options_probe (libhakmem.a) in a fresh process per case, since options are
// read once at start-up.
#include <gtest/gtest.h>

#include <string>

#include "common/test_support.hpp"

#ifndef HAKT_OPTIONS_PROBE
#error "HAKT_OPTIONS_PROBE must name the probe binary"
#endif

namespace {

hakt::ChildResult probe(const std::vector<std::string>& env) {
  return hakt::run_program({HAKT_OPTIONS_PROBE, "PURGE_DELAY_MS"}, env, 60);
}

std::string value_line(const hakt::ChildResult& r) {
  for (const auto& l : hakt::lines_of(r.out))
    if (l.rfind("PURGE_DELAY_MS=", 0) == 0) return l;
  return "";
}

TEST(EnvOptions, DefaultRunIsQuiet) {
  hakt::ChildResult r = probe({});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_NE(r.out.find("ok"), std::string::npos);
  EXPECT_EQ(r.err, "") << "hakmem printed something without being asked";
}

TEST(EnvOptions, BadValueWarnsOnceAndUsesDefault) {
  hakt::ChildResult def = probe({});
  ASSERT_TRUE(def.ok()) << def.describe();
  for (const char* bad : {"abc", "12abc", "", "99999999999999999999999"}) {
    hakt::ChildResult r = probe({std::string("HAKMEM_PURGE_DELAY_MS=") + bad});
    ASSERT_TRUE(r.ok()) << "value '" << bad << "': " << r.describe();
    EXPECT_NE(r.out.find("ok"), std::string::npos);
    std::vector<std::string> lines = hakt::lines_of(r.err);
    if (std::string(bad).empty()) {
      // An empty value may be treated as unset; if reported, report it once.
      EXPECT_LE(lines.size(), 1u) << r.err;
    } else {
      ASSERT_EQ(lines.size(), 1u) << "value '" << bad << "' should give one warning, got:\n" << r.err;
      EXPECT_NE(lines[0].find("PURGE_DELAY_MS"), std::string::npos) << lines[0];
    }
    EXPECT_EQ(value_line(r), value_line(def)) << "bad value '" << bad << "' did not fall back to the default";
  }
}

TEST(EnvOptions, GoodValueIsUsed) {
  hakt::ChildResult r = probe({"HAKMEM_PURGE_DELAY_MS=4321"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(value_line(r), "PURGE_DELAY_MS=4321");
  EXPECT_EQ(r.err, "");
}

TEST(EnvOptions, VerbosePrintsTheTable) {
  hakt::ChildResult r = probe({"HAKMEM_VERBOSE=1", "HAKMEM_PURGE_DELAY_MS=777"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_NE(r.err.find("PURGE_DELAY_MS"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("VERBOSE"), std::string::npos) << r.err;
  // The line of the option shows the value from the environment.
  bool found = false;
  for (const auto& l : hakt::lines_of(r.err))
    if (l.find("PURGE_DELAY_MS") != std::string::npos && l.find("777") != std::string::npos) found = true;
  EXPECT_TRUE(found) << "no PURGE_DELAY_MS line with the value 777 in:\n" << r.err;
  int lines = 0;
  for (const auto& l : hakt::lines_of(r.err)) lines += l.find("PURGE_DELAY_MS") != std::string::npos;
  EXPECT_EQ(lines, 1) << "the table should be printed once:\n" << r.err;
}

TEST(EnvOptions, UnknownHakmemVariableDoesNotBreak) {
  hakt::ChildResult r = probe({"HAKMEM_NO_SUCH_OPTION=1"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_NE(r.out.find("ok"), std::string::npos);
  EXPECT_LE(hakt::lines_of(r.err).size(), 1u) << r.err;
}

}  // namespace
