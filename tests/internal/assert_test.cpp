// superslab/assert.hpp: in a debug tree (-DHAKMEM_DEBUG=ON) a false HAK_ASSERT writes
// file:line and the expression to stderr and aborts, and the allocator's own assertions
// catch a broken invariant; in a release tree the condition is not even evaluated.
#include <gtest/gtest.h>

#include <csignal>

#include "common/test_support.hpp"
#include "internal_support.hpp"
#include "superslab/assert.hpp"
#include "superslab/superslab.hpp"

namespace {

using namespace hakmem;

TEST(Assert, TrueConditionsPass) {
  int evaluated = 0;
  HAK_ASSERT(++evaluated == 1);
  HAK_ASSERT_MSG(evaluated >= 0, "never fails");
  EXPECT_EQ(evaluated, kHakDebug ? 1 : 0) << "evaluated in debug builds only";
}

TEST(Assert, FalseConditionAbortsWithFileLineAndExpression) {
  if (!kHakDebug) GTEST_SKIP() << "release tree: HAK_ASSERT is compiled out";
  hakt::ChildResult r = hakt::run_in_child([] {
    int answer = 41;
    HAK_ASSERT_MSG(answer == 42, "the answer");
    return 0;
  });
  EXPECT_TRUE(!r.exited && r.signal == SIGABRT) << r.describe();
  EXPECT_NE(r.err.find("assert_test.cpp:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("assertion failed: answer == 42 (the answer)"), std::string::npos) << r.err;
}

TEST(Assert, ReleasingAFreeSlabIsCaught) {
  if (!kHakDebug) GTEST_SKIP() << "release tree: HAK_ASSERT is compiled out";
  hakt::ChildResult r = hakt::run_in_child([] {
    hakt_internal::OwnSuperSlab own;
    Slab* s = superslab_carve_slab(own.get(), 0, 16, false, 0);
    superslab_release_slab(own.get(), s);
    superslab_release_slab(own.get(), s);  // a second release of the same units
    return 0;
  });
  EXPECT_TRUE(!r.exited && r.signal == SIGABRT) << r.describe();
  EXPECT_NE(r.err.find("superslab.cpp:"), std::string::npos) << r.err;
}

}  // namespace
