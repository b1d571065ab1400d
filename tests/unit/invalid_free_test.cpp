// Item 7: invalid and double frees are reported on stderr ("hakmem: ..."), counted in the
// stats, and ignored: the process survives and the allocator is not corrupted (no block is
// handed out twice, no live block is overwritten).
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstdint>
#include <set>
#include <thread>
#include <vector>

#include "common/api.hpp"
#include "common/test_support.hpp"


namespace {

using hakt::KiB;
using hakt::MiB;

struct Report {
  std::string err;
  std::uint64_t invalid, dbl;
};

// Frees p with `how`, capturing stderr and the counters' change.
template <class F>
Report bad_free(F how) {
  hakmem_stats before = api::stats();
  testing::internal::CaptureStderr();
  how();
  Report r;
  r.err = testing::internal::GetCapturedStderr();
  hakmem_stats after = api::stats();
  r.invalid = after.invalid_frees - before.invalid_frees;
  r.dbl = after.double_frees - before.double_frees;
  return r;
}

void expect_invalid(const Report& r, const char* what) {
  EXPECT_NE(r.err.find("hakmem:"), std::string::npos) << what << ": no report on stderr";
  EXPECT_EQ(r.invalid, 1u) << what << ": invalid_frees did not count it once";
}

// Once a double-freed block's whole slab has emptied and been handed back, the block no
// longer exists: the second free is then reported as an invalid free rather than a double one.
void expect_double_or_invalid(const Report& r, const char* what) {
  EXPECT_NE(r.err.find("hakmem:"), std::string::npos) << what << ": no report on stderr";
  EXPECT_EQ(r.dbl + r.invalid, 1u) << what << ": not counted exactly once";
}

void expect_double(const Report& r, const char* what) {
  EXPECT_NE(r.err.find("hakmem:"), std::string::npos) << what << ": no report on stderr";
  EXPECT_EQ(r.dbl, 1u) << what << ": double_frees did not count it once";
}

// The allocator still works and hands no block out twice: allocates n blocks of `size`,
// fills them, checks they are distinct, none is `forbidden`, and all survive.
void expect_healthy(std::size_t size, int n, const void* forbidden = nullptr) {
  std::vector<void*> v;
  std::set<void*> seen;
  for (int i = 0; i < n; ++i) {
    void* p = api::malloc(size);
    ASSERT_NE(p, nullptr);
    ASSERT_TRUE(seen.insert(p).second) << "block " << p << " handed out twice (size " << size << ")";
    ASSERT_NE(p, forbidden) << "an invalidly freed pointer was handed out";
    hakt::fill(p, size, i);
    v.push_back(p);
  }
  for (int i = 0; i < n; ++i) ASSERT_EQ(hakt::check(v[i], size, i), SIZE_MAX) << "size " << size;
  for (void* p : v) api::free(p);
}

TEST(InvalidFree, StackPointer) {
  alignas(64) char buf[256];
  hakt::escape(buf);
  Report r = bad_free([&] { api::free(hakt::launder_ptr(buf)); });
  expect_invalid(r, "free(stack)");
  r = bad_free([&] { api::free(hakt::launder_ptr(buf + 13)); });
  expect_invalid(r, "free(stack + 13)");
  expect_healthy(64, 500);
}

TEST(InvalidFree, ForeignMmapPointer) {
  void* m = mmap(nullptr, 4 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(m, MAP_FAILED);
  std::memset(m, 0x77, 4 * MiB);
  // Chunk aligned and not: neither may be mistaken for a SuperSlab.
  char* aligned2m = reinterpret_cast<char*>((reinterpret_cast<std::uintptr_t>(m) + 2 * MiB - 1) &
                                            ~(2 * MiB - 1));
  for (char* p : {static_cast<char*>(m), static_cast<char*>(m) + 4096, aligned2m}) {
    Report r = bad_free([&] { api::free(p); });
    expect_invalid(r, "free(mmap)");
  }
  const auto* b = static_cast<const unsigned char*>(m);
  for (std::size_t i = 0; i < 4 * MiB; i += 4096) ASSERT_EQ(b[i], 0x77) << "foreign memory written";
  munmap(m, 4 * MiB);
  expect_healthy(4096, 100);
}

// glibc's own malloc and free, looked up in libc itself (libhakmem.so also defines
// __libc_malloc, so that name would give hakmem's).
struct GlibcMalloc {
  void* (*malloc)(size_t) = nullptr;
  void (*free)(void*) = nullptr;
  GlibcMalloc() {
    void* libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
    if (!libc) return;
    malloc = reinterpret_cast<void* (*)(size_t)>(dlsym(libc, "malloc"));
    free = reinterpret_cast<void (*)(void*)>(dlsym(libc, "free"));
  }
};

TEST(InvalidFree, OtherAllocatorsPointer) {
  GlibcMalloc glibc;
  ASSERT_NE(glibc.malloc, nullptr);
  ASSERT_NE(glibc.free, nullptr);
  void* g = glibc.malloc(100);
  ASSERT_NE(g, nullptr);
  std::memset(g, 0x11, 100);
  EXPECT_FALSE(api::owns(g));
  Report r = bad_free([&] { api::free(g); });
  expect_invalid(r, "free(glibc pointer)");
  glibc.free(g);
  expect_healthy(100, 500);
}

TEST(InvalidFree, InteriorPointerOfSmallBlock) {
  for (std::size_t size : {32ul, 64ul, 256ul, 1000ul, 4096ul, 30000ul}) {
    char* p = static_cast<char*>(api::malloc(size));
    ASSERT_NE(p, nullptr);
    hakt::fill(p, size, size);
    for (std::size_t off : {16ul, 8ul, 1ul, size / 2, size - 16}) {
      if (off == 0) continue;
      Report r = bad_free([&] { api::free(p + off); });
      expect_invalid(r, "free(interior of small block)");
      expect_healthy(size, 300, p + off);
      ASSERT_EQ(hakt::check(p, size, size), SIZE_MAX) << "live block corrupted, size " << size;
    }
    api::free(p);
  }
}

TEST(InvalidFree, InteriorPointerOfLargeBlock) {
  for (std::size_t size : {40 * KiB, 200 * KiB, 1 * MiB, 5 * MiB}) {
    char* p = static_cast<char*>(api::malloc(size));
    ASSERT_NE(p, nullptr);
    hakt::fill(p, size, size);
    for (std::size_t off : {16ul, 4096ul, 32 * KiB, size / 2, size - 4096}) {
      Report r = bad_free([&] { api::free(p + off); });
      expect_invalid(r, "free(interior of large block)");
      ASSERT_EQ(hakt::check(p, size, size), SIZE_MAX) << "live block corrupted, size " << size;
    }
    expect_healthy(size, 3);
    api::free(p);
  }
}

// The base of the 2 MiB chunk holding a block is hakmem's own metadata (a SuperSlab or
// mapping header), never an object: freeing it must be refused.
TEST(InvalidFree, ChunkBaseOfLiveBlock) {
  for (std::size_t size : {48ul, 3000ul, 100 * KiB, 3 * MiB}) {
    char* p = static_cast<char*>(api::malloc(size));
    ASSERT_NE(p, nullptr);
    hakt::fill(p, size, 3);
    char* base = reinterpret_cast<char*>(reinterpret_cast<std::uintptr_t>(p) & ~(2 * MiB - 1));
    if (base != p) {
      Report r = bad_free([&] { api::free(base); });
      expect_invalid(r, "free(chunk base)");
      expect_healthy(size, 4);
      expect_healthy(64, 200);
    }
    ASSERT_EQ(hakt::check(p, size, 3), SIZE_MAX) << size;
    api::free(p);
  }
}

TEST(DoubleFree, Immediate) {
  for (std::size_t size : {16ul, 64ul, 500ul, 4096ul, 32768ul}) {
    void* p = api::malloc(size);
    ASSERT_NE(p, nullptr);
    api::free(p);
    Report r = bad_free([&] { api::free(p); });
    expect_double(r, "double free");
    expect_healthy(size, 500);
  }
}

// p, q, p: the classic pattern that defeats a check of the list head only.
TEST(DoubleFree, WithAnotherFreeInBetween) {
  for (std::size_t size : {16ul, 128ul, 2048ul}) {
    void* p = api::malloc(size);
    void* q = api::malloc(size);
    api::free(p);
    api::free(q);
    Report r = bad_free([&] { api::free(p); });
    expect_double(r, "double free (p, q, p)");
    expect_healthy(size, 500);
  }
}

// After the first free the block left the thread cache (flushed to its slab's free list).
TEST(DoubleFree, AfterFlushToSlab) {
  for (std::size_t size : {32ul, 1024ul}) {
    std::vector<void*> v;
    for (int i = 0; i < 1000; ++i) v.push_back(api::malloc(size));
    void* p = v[500];
    for (void* x : v) api::free(x);
    hak_thread_flush();
    Report r = bad_free([&] { api::free(p); });
    expect_double_or_invalid(r, "double free after flush");
    expect_healthy(size, 2000);
  }
}

TEST(DoubleFree, FromAnotherThread) {
  void* p = api::malloc(256);
  ASSERT_NE(p, nullptr);
  api::free(p);
  Report r = bad_free([&] { std::thread([&] { api::free(p); }).join(); });
  expect_double(r, "double free from another thread");
  expect_healthy(256, 500);
}

TEST(DoubleFree, LargeAndHugeBlocks) {
  for (std::size_t size : {40 * KiB, 300 * KiB, 1 * MiB + 1, 6 * MiB}) {
    void* p = api::malloc(size);
    ASSERT_NE(p, nullptr);
    api::free(p);
    Report r = bad_free([&] { api::free(p); });
    EXPECT_NE(r.err.find("hakmem:"), std::string::npos) << size << ": no report on stderr";
    EXPECT_EQ(r.dbl + r.invalid, 1u) << size << ": not counted once";
    expect_healthy(size, 4);
  }
}

TEST(InvalidFree, ProcessSurvivesManyBadFrees) {
  alignas(16) char buf[64];
  testing::internal::CaptureStderr();
  for (int i = 0; i < 10000; ++i) api::free(hakt::launder_ptr(buf));
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("hakmem:"), std::string::npos);
  expect_healthy(64, 1000);
}

}  // namespace
