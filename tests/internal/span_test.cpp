// superslab/span.cpp and span_bitmap.hpp: the first-fit run search on page bitmaps built by
// hand, and spans through their API — sizes, alignment, and freed neighbours coalescing
// into one run (the bitmap keeps no free-list, so freed pages are one run at once).
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "superslab/os.hpp"
#include "superslab/registry.hpp"
#include "superslab/span.hpp"
#include "superslab/span_bitmap.hpp"
#include "superslab/superslab.hpp"

namespace {

using namespace hakmem;
using namespace hakmem::span_bits;

struct Bitmap {
  std::uint64_t w[kWords] = {};
  Bitmap& use(unsigned from, unsigned n) {
    set_range(w, from, n, true);
    return *this;
  }
};

// The header pages are always in use in a live span SuperSlab.
Bitmap fresh() { return Bitmap{}.use(0, kFirstPage); }

TEST(SpanBitmap, SetTestAnyAll) {
  Bitmap b;
  b.use(62, 4);  // across a word boundary
  for (unsigned i = 0; i < kPages; ++i) EXPECT_EQ(test(b.w, i), i >= 62 && i < 66) << i;
  EXPECT_TRUE(all(b.w, 62, 4));
  EXPECT_FALSE(all(b.w, 61, 2));
  EXPECT_TRUE(any(b.w, 60, 3));
  EXPECT_FALSE(any(b.w, 66, 100));
  EXPECT_EQ(next_set(b.w, 0, kPages), 62u);
  EXPECT_EQ(next_set(b.w, 63, kPages), 63u);
  EXPECT_EQ(next_set(b.w, 66, kPages), kPages);
  EXPECT_EQ(next_set(b.w, 0, 50), 50u) << "bounded by `to`";
  set_range(b.w, 63, 2, false);
  EXPECT_TRUE(test(b.w, 62));
  EXPECT_FALSE(test(b.w, 63));
  EXPECT_FALSE(test(b.w, 64));
  EXPECT_TRUE(test(b.w, 65));
}

TEST(SpanBitmap, FirstFitAfterTheHeader) {
  Bitmap b = fresh();
  EXPECT_EQ(find_run(b.w, 1, 1), static_cast<int>(kFirstPage));
  EXPECT_EQ(find_run(b.w, kPages - kFirstPage, 1), static_cast<int>(kFirstPage))
      << "an empty SuperSlab holds a span of every free page";
  EXPECT_EQ(find_run(b.w, kPages - kFirstPage + 1, 1), -1);
  EXPECT_EQ(find_run(b.w, 8, 8), 8) << "aligned: the first multiple of 8 after the header";
  EXPECT_EQ(find_run(b.w, 256, 256), 256) << "a 1 MiB span aligned to 1 MiB";
  EXPECT_EQ(find_run(b.w, 257, 256), -1);
}

TEST(SpanBitmap, SkipsUsedRunsAndFindsExactGaps) {
  Bitmap b = fresh();
  b.use(2, 10).use(15, 5).use(30, 482);  // gaps: [12, 15) and [20, 30)
  EXPECT_EQ(find_run(b.w, 3, 1), 12) << "an exact fit in the first gap";
  EXPECT_EQ(find_run(b.w, 4, 1), 20) << "too big for the first gap";
  EXPECT_EQ(find_run(b.w, 10, 1), 20) << "an exact fit in the second gap";
  EXPECT_EQ(find_run(b.w, 11, 1), -1);
  EXPECT_EQ(find_run(b.w, 8, 8), -1) << "[24, 30) is the only multiple of 8 left: too short";
  EXPECT_EQ(find_run(b.w, 4, 4), 20);
  EXPECT_EQ(find_run(b.w, 4, 8), 24) << "the multiple of 8 in the second gap";
  EXPECT_EQ(find_run(b.w, 2, 4), 12);
}

TEST(SpanBitmap, RunUpToTheLastPage) {
  Bitmap b = fresh();
  b.use(kFirstPage, kPages - kFirstPage - 7);
  EXPECT_EQ(find_run(b.w, 7, 1), static_cast<int>(kPages - 7));
  EXPECT_EQ(find_run(b.w, 8, 1), -1) << "a run never crosses the SuperSlab's end";
}

// Through the API: one process-wide span allocator, so each test frees all it takes.
constexpr std::size_t kPage = os::kPageSize;

TEST(Spans, SizesRoundToPagesAndAreOwned) {
  bool fresh_mem = false;
  void* p = span_alloc(kPage * 3 + 1, kPage, &fresh_mem);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % kPage, 0u);
  EXPECT_EQ(span_size(p), 4 * kPage);
  EXPECT_EQ(chunk_kind(p), kChunkSpan);
  std::memset(p, 0xab, 4 * kPage);  // all of it is ours to write
  EXPECT_EQ(span_size(static_cast<char*>(p) + kPage), 0u) << "not a span start";
  EXPECT_EQ(span_free(static_cast<char*>(p) + kPage), -1);
  EXPECT_EQ(span_free(p), 0);
  EXPECT_EQ(span_size(p), 0u) << "freed";
  EXPECT_EQ(span_free(p), -1) << "a second free is refused";
}

TEST(Spans, AlignmentIsHonoured) {
  for (std::size_t align : {kPage, 2 * kPage, 16 * kPage, std::size_t{64} << 10, std::size_t{1} << 20}) {
    void* p = span_alloc(kPage, align, nullptr);
    ASSERT_NE(p, nullptr) << align;
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % align, 0u) << align;
    EXPECT_EQ(span_free(p), 0);
  }
  EXPECT_EQ(span_alloc(kSpanMaxBytes + 1, kPage, nullptr), nullptr);
  EXPECT_EQ(span_alloc(0, kPage, nullptr), nullptr);
}

TEST(Spans, FreedNeighboursCoalesce) {
  // Three spans of 8 pages taken in a row from one SuperSlab: first fit puts them side by
  // side unless they land at different SuperSlabs, which the test then cannot use.
  std::vector<char*> spans;
  for (int i = 0; i < 3; ++i) spans.push_back(static_cast<char*>(span_alloc(8 * kPage, kPage, nullptr)));
  for (char* s : spans) ASSERT_NE(s, nullptr);
  ASSERT_EQ(spans[1], spans[0] + 8 * kPage);
  ASSERT_EQ(spans[2], spans[1] + 8 * kPage);
  // Free the first two: their 16 pages are one run, taken by one 16-page span.
  ASSERT_EQ(span_free(spans[0]), 0);
  ASSERT_EQ(span_free(spans[1]), 0);
  char* merged = static_cast<char*>(span_alloc(16 * kPage, kPage, nullptr));
  EXPECT_EQ(merged, spans[0]);
  EXPECT_EQ(span_size(merged), 16 * kPage);
  // A span grows in place only into free neighbours: the third span blocks the first.
  EXPECT_FALSE(span_resize_in_place(merged, 17 * kPage));
  ASSERT_EQ(span_free(spans[2]), 0);
  EXPECT_TRUE(span_resize_in_place(merged, 24 * kPage)) << "its neighbour is free now";
  EXPECT_EQ(span_size(merged), 24 * kPage);
  EXPECT_TRUE(span_resize_in_place(merged, 2 * kPage)) << "shrinking always works";
  EXPECT_EQ(span_size(merged), 2 * kPage);
  char* after = static_cast<char*>(span_alloc(22 * kPage, kPage, nullptr));
  EXPECT_EQ(after, merged + 2 * kPage) << "the shrunk tail is free again, in one run";
  EXPECT_EQ(span_free(after), 0);
  EXPECT_EQ(span_free(merged), 0);
}

}  // namespace
