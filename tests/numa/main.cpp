// Records, before anything else runs, whether libhwloc is already in the process: the
// allocator must not link it nor load it until asked.
#include <gtest/gtest.h>

#include "util.hpp"

namespace numat {
bool g_hwloc_mapped_at_start = false;
}

int main(int argc, char** argv) {
  numat::g_hwloc_mapped_at_start = numat::hwloc_mapped();
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
