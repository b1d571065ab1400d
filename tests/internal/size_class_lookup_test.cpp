// allocator/size_class_lookup.hpp: every request size maps to the smallest class that holds
// it, through the tiny table, class_of_medium and class_of; aligned requests get the
// smallest class whose size the alignment divides.
#include <gtest/gtest.h>

#include "allocator/size_class_lookup.hpp"

namespace {

using namespace hakmem;

// The reference: the first class of at least n bytes, by a linear search.
unsigned smallest_class(std::size_t n) {
  unsigned c = 0;
  while (kClassSize[c] < n) ++c;
  return c;
}

TEST(SizeClassLookup, EverySizeGetsTheSmallestClassThatFits) {
  for (std::size_t n = 0; n <= kSmallMax; ++n) {
    const unsigned c = class_of(n);
    ASSERT_LT(c, kNumClasses) << n;
    ASSERT_GE(kClassSize[c], n) << "size " << n << " does not fit class " << c;
    ASSERT_EQ(c, smallest_class(n)) << "size " << n;
  }
}

TEST(SizeClassLookup, TinyTablesAgreeWithTheClasses) {
  for (std::size_t n = 0; n <= kTinyMax; ++n) {
    const std::size_t i = (n + 15) >> 4;  // class_of's index
    ASSERT_LT(i, kTinyClass.size());
    ASSERT_EQ(kTinyClass[i], smallest_class(n)) << n;
    ASSERT_EQ(kTinyBinOffsets[n], bin_offset(smallest_class(n))) << n;  // malloc's
  }
}

TEST(SizeClassLookup, MediumSizesAboveTheTinyTable) {
  for (std::size_t n = kTinyMax + 1; n <= kSmallMax; ++n) {
    ASSERT_EQ(class_of_medium(n), smallest_class(n)) << n;
  }
  // class_of_medium covers everything above 128 B, not only what class_of sends it.
  for (std::size_t n = 129; n <= kTinyMax; ++n) {
    ASSERT_EQ(class_of_medium(n), smallest_class(n)) << n;
  }
}

TEST(SizeClassLookup, AlignedRequests) {
  for (std::size_t align = 16; align <= kSmallMax; align *= 2) {
    for (std::size_t n : {std::size_t{0}, std::size_t{1}, align - 1, align, align + 1,
                          std::size_t{1000}, std::size_t{5000}, kSmallMax - align}) {
      if (n > kSmallMax) continue;
      const unsigned c = class_of_aligned(n, align);
      ASSERT_LT(c, kNumClasses) << n << " aligned to " << align;
      EXPECT_EQ(kClassSize[c] % align, 0u) << n << " aligned to " << align;
      EXPECT_GE(kClassSize[c], n == 0 ? 1 : n);
      for (unsigned smaller = 0; smaller < c; ++smaller) {
        EXPECT_FALSE(kClassSize[smaller] >= n && kClassSize[smaller] % align == 0)
            << "class " << smaller << " would do for " << n << " aligned to " << align;
      }
    }
  }
}

}  // namespace
