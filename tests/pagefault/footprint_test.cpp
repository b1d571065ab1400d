// What hakmem costs a program besides time, counted by the kernel:
//  - the peak RSS of small programs (a C hello world, `python3 -c pass`) under
//    LD_PRELOAD=libhakmem.so is at most 2 MiB above their peak RSS under glibc;
//  - purging never splits the heap into many mappings (VMAs): the count of lines in
//    /proc/self/maps stays bounded in a program that allocates, frees and trims a lot with
//    HAKMEM_PURGE_DELAY_MS=0;
//  - README.md documents every HAKMEM_* option, with its real default.
#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "spawn_util.hpp"

namespace {

// ---- small-program RSS -----------------------------------------------------------------

struct Sample {
  long kib = -1;
  long minflt = -1;
};

// One run of `argv` through pf_spawn (a static launcher: see spawn.c for why).
Sample peak_rss(const std::vector<std::string>& argv, bool preload) {
  std::vector<std::string> args{PF_SPAWN};
  args.insert(args.end(), argv.begin(), argv.end());
  std::vector<std::string> env;
  if (preload) env.push_back(pft::preload_env());
  pft::Run r = pft::run(args, env);
  EXPECT_EQ(r.status, 0) << r.describe();
  EXPECT_EQ(r.get("status"), 0) << "the program failed\n" << r.describe();
  EXPECT_GT(r.get("maxrss_kib"), 0) << r.describe();
  return Sample{r.get("maxrss_kib"), r.get("minflt")};
}

constexpr long kRssBudgetKiB = 2048;  // issue 4: "at most 2 MiB above glibc's"
constexpr int kRuns = 5;

struct Summary {
  Sample best{LONG_MAX, 0};  // the run with the smallest peak: the program's own cost
  long worst_kib = 0;        // the rest is noise (page cache, timing of lazy binding)
  void add(Sample s) {
    if (s.kib < best.kib) best = s;
    worst_kib = std::max(worst_kib, s.kib);
  }
};

void check_small_program(const char* what, const std::vector<std::string>& argv) {
  Summary glibc, hakmem;
  // Alternating, so a change in the machine's state does not favour one side.
  for (int i = 0; i < kRuns; ++i) {
    glibc.add(peak_rss(argv, false));
    hakmem.add(peak_rss(argv, true));
  }
  std::printf("%s peak RSS over %d runs (min..max): glibc %ld..%ld KiB (%ld faults), "
              "hakmem %ld..%ld KiB (%ld faults): +%ld KiB\n",
              what, kRuns, glibc.best.kib, glibc.worst_kib, glibc.best.minflt, hakmem.best.kib,
              hakmem.worst_kib, hakmem.best.minflt, hakmem.best.kib - glibc.best.kib);
  EXPECT_LE(hakmem.best.kib - glibc.best.kib, kRssBudgetKiB)
      << what << " under LD_PRELOAD=libhakmem.so peaks at " << hakmem.best.kib
      << " KiB, under glibc at " << glibc.best.kib << " KiB";
}

TEST(SmallProgramRss, HelloWorld) { check_small_program("hello", {PF_HELLO}); }

TEST(SmallProgramRss, PythonPass) {
  if (access(PYTHON3, X_OK) != 0) GTEST_SKIP() << PYTHON3 << " not installed";
  check_small_program("python3 -c pass", {PYTHON3, "-c", "pass"});
}

// ---- VMA count ---------------------------------------------------------------------------

TEST(Vma, PurgingKeepsMappingsFew) {
  // Every round frees 90% of a mixed heap and trims, and the purge delay is 0: purging
  // runs as often as it ever can.
  pft::Run r = pft::run({PF_PROBE, "vma", "20"},
                        {pft::preload_env(), "HAKMEM_PURGE_DELAY_MS=0"}, 120);
  ASSERT_EQ(r.status, 0) << r.describe();
  ASSERT_EQ(r.get("hakmem"), 1) << r.describe();
  long start = r.get("maps_start"), max = r.get("maps_max"), end = r.get("maps_end");
  long superslabs = r.get("superslabs_mapped");
  std::printf("mappings: %ld at start, at most %ld, %ld at the end; %ld SuperSlabs mapped, "
              "%ld MiB purged\n",
              start, max, end, superslabs, r.get("bytes_purged") >> 20);
  EXPECT_GT(r.get("bytes_purged"), 0) << "nothing was purged: the test tests nothing\n"
                                      << r.describe();
  EXPECT_LT(max - start, 200) << "purging splits the heap into mappings\n" << r.describe();
  // SuperSlab address space is kept (and reused) once mapped, each its own mapping unless
  // it happens to border another: at most one per SuperSlab, plus the few huge objects
  // alive after a trim. Purging inside SuperSlabs must not add any.
  EXPECT_LE(max - start, superslabs + 16) << r.describe();
  EXPECT_LE(end - start, superslabs + 16) << r.describe();
}

// ---- options documented ------------------------------------------------------------------

// Every option hakmem has (as HAKMEM_VERBOSE=1 lists them, with their defaults in a clean
// environment) has a row in README.md's options table that names it and gives that default
// (all but VERBOSE, which is set to get the list).
TEST(Docs, ReadmeDocumentsEveryOption) {
  pft::Run r = pft::run({PF_HELLO}, {pft::preload_env(), "HAKMEM_VERBOSE=1"});
  ASSERT_EQ(r.status, 0) << r.describe();
  std::ifstream f(README_MD);
  ASSERT_TRUE(f) << "cannot read " << README_MD;
  std::vector<std::string> readme;
  for (std::string line; std::getline(f, line);) readme.push_back(line);

  int options = 0;
  for (const std::string& line : hakt::lines_of(r.err)) {
    // "hakmem:   NAME   value   default   help"
    std::istringstream in(line);
    std::string tag, name, value, source;
    if (!(in >> tag >> name >> value >> source) || tag != "hakmem:") continue;
    if (source != "default" && source != "env") continue;  // the header line
    ++options;
    const std::string cell = "`" + name + "`";
    auto row = std::find_if(readme.begin(), readme.end(), [&](const std::string& l) {
      return l.rfind("| " + cell + " |", 0) == 0 || l.rfind("| `HAKMEM_" + name + "` |", 0) == 0;
    });
    if (row == readme.end()) {
      ADD_FAILURE() << "HAKMEM_" << name << " has no row in README.md's options table";
      continue;
    }
    // The default column (third: name | values | default | effect) shows the real default.
    std::vector<std::string> cells;
    std::stringstream cs(*row);
    for (std::string c; std::getline(cs, c, '|');) {
      c.erase(0, c.find_first_not_of(' '));
      c.erase(c.find_last_not_of(' ') + 1);
      cells.push_back(c);
    }
    ASSERT_GE(cells.size(), 5u) << "README row: " << *row;
    if (source != "default") continue;  // VERBOSE itself: set to list the table
    std::string def = cells[3];
    def.erase(std::remove(def.begin(), def.end(), '`'), def.end());
    EXPECT_EQ(def, value) << "README.md gives HAKMEM_" << name << " the default '" << def
                          << "', the library " << value;
  }
  EXPECT_GE(options, 10) << "could not read the option table:\n" << r.err;
  // Read outside the table (the profile record's path), documented all the same.
  bool profile_path = std::any_of(readme.begin(), readme.end(), [](const std::string& l) {
    return l.find("HAKMEM_PROFILE_PATH") != std::string::npos;
  });
  EXPECT_TRUE(profile_path) << "README.md does not mention HAKMEM_PROFILE_PATH";
}

}  // namespace
