// unified_cache/size_classes.hpp: the class table, the waste bounds its comment promises,
// and the per-class bin capacities and refill batches.
#include <gtest/gtest.h>

#include "unified_cache/size_classes.hpp"
#include "unified_cache/thread_cache.hpp"

namespace {

using namespace hakmem;

TEST(SizeClasses, TableShape) {
  EXPECT_EQ(kClassSize[0], 16u);
  EXPECT_EQ(kClassSize[kNumClasses - 1], kSmallMax);
  for (unsigned c = 0; c < kNumClasses; ++c) {
    EXPECT_EQ(kClassSize[c] % 16, 0u) << "class " << c << ": objects are 16-byte aligned";
    if (c > 0) {
      EXPECT_GT(kClassSize[c], kClassSize[c - 1]) << "class " << c;
    }
  }
  // The region boundaries named in the header.
  EXPECT_EQ(kClassSize[kFirstClassTo1K - 1], 128u);
  EXPECT_EQ(kClassSize[kFirstClassTo8K - 1], 1024u);
  EXPECT_EQ(kClassSize[kFirstClassTo32K - 1], 8192u);
}

TEST(SizeClasses, EveryPowerOfTwoIsAClass) {
  // Aligned requests up to 32 KiB rely on it (class_of_aligned).
  for (std::uint32_t p = 16; p <= kSmallMax; p *= 2) {
    bool found = false;
    for (unsigned c = 0; c < kNumClasses; ++c) found |= kClassSize[c] == p;
    EXPECT_TRUE(found) << p;
  }
}

// The worst request for class c is one byte more than the class below: it wastes
// size[c] - size[c-1] - 1 bytes of a size[c] block.
TEST(SizeClasses, WasteBoundsOfTheHeaderComment) {
  for (unsigned c = 1; c < kNumClasses; ++c) {
    const double size = kClassSize[c];
    const std::uint32_t worst_request = kClassSize[c - 1] + 1;
    const double waste = size - worst_request;
    if (kClassSize[c] <= 128) {
      EXPECT_LE(waste, 15.0) << "class " << c << ": below 128 B at most 15 bytes";
    } else {
      EXPECT_LE(waste / size, 1.0 / 9) << "class " << c << " (" << size << " B)";
    }
    if (worst_request > 1024 && kClassSize[c] <= 8192) {
      EXPECT_LE(waste / size, 1.0 / 17) << "class " << c << ": between 1 and 8 KiB at most 1/17";
    }
  }
  // The header's example: a 1 KiB value plus a small header.
  unsigned c = 0;
  while (kClassSize[c] < 1031) ++c;
  EXPECT_EQ(kClassSize[c], 1088u);
}

TEST(SizeClasses, BinCapacitiesAndRefillBatches) {
  std::uint32_t total = 0;
  for (unsigned c = 0; c < kNumClasses; ++c) {
    const std::uint32_t cap = class_bin_capacity(c);
    const std::uint32_t batch = class_refill_batch(c);
    total += cap;
    EXPECT_GE(batch, 1u) << "class " << c;
    EXPECT_LE(batch, cap / 2) << "class " << c << ": a refill fills at most half a bin";
    // About 16 KiB of objects per refill, but at least 2 when the bin allows.
    EXPECT_TRUE(std::uint64_t{batch} * kClassSize[c] <= 16384 || batch <= 2) << "class " << c;
    if (c > 0) {
      EXPECT_LE(cap, class_bin_capacity(c - 1)) << "bigger objects, fewer kept";
    }
  }
  EXPECT_EQ(total, kTotalBinSlots);
}

TEST(SizeClasses, BinOffsetsRoundTrip) {
  for (unsigned c = 0; c < kNumClasses; ++c) {
    EXPECT_EQ(class_of_bin_offset(bin_offset(c)), c);
    ThreadCache tc{};
    EXPECT_EQ(&bin_at(&tc, bin_offset(c)), &tc.bins[c]);
  }
}

}  // namespace
