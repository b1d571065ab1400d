// Item 6: out of memory. In a forked child with RLIMIT_AS a little above its current size,
// allocate until the allocator says no: every entry point must give NULL with errno ENOMEM
// (posix_memalign: ENOMEM returned), never crash, and work again once memory is freed.
// The override build also checks operator new throws std::bad_alloc.
// Skipped under sanitizers: their shadow memory does not fit an address-space limit.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <atomic>
#include <cerrno>
#include <new>
#include <thread>
#include <vector>

#include "common/api.hpp"
#include "common/test_support.hpp"

namespace {

using hakt::KiB;
using hakt::MiB;

#define CHILD_CHECK(cond, code)                                                    \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      std::fprintf(stderr, "child check failed (%d): %s, errno %d\n", code, #cond, \
                   errno);                                                         \
      return code;                                                                 \
    }                                                                              \
  } while (0)

constexpr std::size_t kHeadroom = 256 * MiB;

void limit_address_space() {
  // Start from a clean state: the forked child inherits the parent's caches (freed huge
  // blocks kept mapped), which the allocator rightly gives back when it runs out, and which
  // would let a request this test expects to fail succeed.
  api::malloc_trim(0);
  long vm_kib = hakt::status_kib("VmSize");
  rlimit rl;
  rl.rlim_cur = rl.rlim_max = static_cast<rlim_t>(vm_kib) * 1024 + kHeadroom;
  setrlimit(RLIMIT_AS, &rl);
}

// Allocates blocks of `size` (touching each) into v until NULL, at most v.capacity()
// (reserved before the limit, so the vector itself never needs memory). Returns errno.
int exhaust(std::size_t size, std::vector<void*>& v) {
  int err = 0;
  const std::size_t cap = v.capacity();
  for (std::size_t i = 0; i < cap; ++i) {
    errno = 0;
    void* p = api::malloc(size);
    if (p == nullptr) {
      err = errno;
      break;
    }
    static_cast<volatile char*>(p)[0] = 1;
    static_cast<volatile char*>(p)[size - 1] = 2;
    v.push_back(p);
  }
  return err;
}

void expect_child_ok(const std::function<int()>& fn) {
  if (hakt::kSanitized) GTEST_SKIP() << "RLIMIT_AS does not work with sanitizer shadow memory";
  hakt::ChildResult r = hakt::run_in_child(fn, 120);
  EXPECT_TRUE(r.ok()) << r.describe();
}

TEST(Oom, LargeBlocksThenEveryEntryPoint) {
  expect_child_ok([] {
    std::vector<void*> big, small;
    big.reserve(1 << 16);
    small.reserve(4'000'000);
    limit_address_space();
    int err = exhaust(64 * KiB, big);
    CHILD_CHECK(big.size() < big.capacity(), 1);  // the limit must have been reached
    CHILD_CHECK(err == ENOMEM, 2);
    err = exhaust(48, small);
    CHILD_CHECK(small.size() < small.capacity(), 3);
    CHILD_CHECK(err == ENOMEM, 4);
    const std::size_t n = 8 * MiB;
    errno = 0;
    CHILD_CHECK(api::malloc(n) == nullptr && errno == ENOMEM, 10);
    errno = 0;
    CHILD_CHECK(api::calloc(1, n) == nullptr && errno == ENOMEM, 11);
    errno = 0;
    CHILD_CHECK(api::calloc(n / 8, 8) == nullptr && errno == ENOMEM, 12);
    void* p = nullptr;
    CHILD_CHECK(api::posix_memalign(&p, 4096, n) == ENOMEM, 13);
    errno = 0;
    CHILD_CHECK(api::aligned_alloc(2 * MiB, n) == nullptr && errno == ENOMEM, 14);
    errno = 0;
    CHILD_CHECK(api::memalign(64, n) == nullptr && errno == ENOMEM, 15);
    errno = 0;
    CHILD_CHECK(api::valloc(n) == nullptr && errno == ENOMEM, 16);
    errno = 0;
    CHILD_CHECK(api::pvalloc(n) == nullptr && errno == ENOMEM, 17);
    // A failed realloc leaves the block alone.
    char* keep = static_cast<char*>(big.back());
    std::memset(keep, 0x42, 64 * KiB);
    errno = 0;
    CHILD_CHECK(api::realloc(keep, n) == nullptr && errno == ENOMEM, 18);
    for (std::size_t i = 0; i < 64 * KiB; ++i) CHILD_CHECK(keep[i] == 0x42, 19);
    errno = 0;
    CHILD_CHECK(api::reallocarray(keep, n / 16, 16) == nullptr && errno == ENOMEM, 20);
    // Free everything: the memory is usable again.
    for (void* q : small) api::free(q);
    for (void* q : big) api::free(q);
    for (std::size_t i = 0; i < big.size() / 2; ++i) {
      void* q = api::malloc(64 * KiB);
      CHILD_CHECK(q != nullptr, 30);
      big[i] = q;
    }
    small.resize(10000);
    for (int i = 0; i < 10000; ++i) CHILD_CHECK((small[i] = api::malloc(48)) != nullptr, 31);
    for (std::size_t i = 0; i < big.size() / 2; ++i) api::free(big[i]);
    for (int i = 0; i < 10000; ++i) api::free(small[i]);
    return 0;
  });
}

// After a peak that filled the address space, freeing everything and malloc_trim(0) must
// give address space back: a new, differently sized allocation then succeeds.
TEST(Oom, TrimReturnsAddressSpaceAfterPeak) {
  expect_child_ok([] {
    std::vector<void*> big;
    big.reserve(1 << 16);
    limit_address_space();
    int err = exhaust(64 * KiB, big);
    CHILD_CHECK(big.size() < big.capacity() && err == ENOMEM, 1);
    for (void* q : big) api::free(q);
    api::malloc_trim(0);
    void* again = api::malloc(8 * MiB);
    if (!again) {
      hakmem_stats s = api::stats();
      std::fprintf(stderr, "8 MiB failed after freeing %zu x 64 KiB and trimming; bytes_mapped %llu MiB\n",
                   big.size(), static_cast<unsigned long long>(s.bytes_mapped >> 20));
    }
    CHILD_CHECK(again != nullptr, 2);
    std::memset(again, 1, 8 * MiB);
    api::free(again);
    return 0;
  });
}

TEST(Oom, SmallObjectsOnly) {
  expect_child_ok([] {
    std::vector<void*> v;
    v.reserve(3'000'000);
    limit_address_space();
    int err = 0;
    for (std::size_t i = 0; i < 3'000'000; ++i) {
      std::size_t s = 16 + (i * 7919) % 2000;
      errno = 0;
      void* p = api::malloc(s);
      if (!p) {
        err = errno;
        break;
      }
      static_cast<volatile char*>(p)[0] = 1;
      v.push_back(p);
    }
    CHILD_CHECK(v.size() < 3'000'000, 1);
    CHILD_CHECK(err == ENOMEM, 2);
    errno = 0;
    void* z = api::calloc(100, 10);
    CHILD_CHECK(z == nullptr ? errno == ENOMEM : true, 3);
    api::free(z);
    for (std::size_t i = 0; i < v.size(); i += 2) api::free(v[i]);
    for (int i = 0; i < 1000; ++i) {
      void* p = api::malloc(16 + (i * 7919) % 2000);
      CHILD_CHECK(p != nullptr, 4);
      api::free(p);
    }
    return 0;
  });
}

// Several threads hit the limit at once; each must see NULL/ENOMEM, none may crash.
TEST(Oom, ManyThreadsAtTheLimit) {
  expect_child_ok([] {
    std::vector<std::thread> ts;
    std::atomic<int> go{0}, bad{0};
    std::vector<std::vector<void*>> held(4);
    for (auto& h : held) h.reserve(1 << 20);
    for (int t = 0; t < 4; ++t)
      ts.emplace_back([&, t] {
        while (!go.load()) std::this_thread::yield();
        for (std::size_t i = 0; i < (1u << 20); ++i) {
          std::size_t s = (i % 5 == 0) ? 100 * KiB : 32 + (i * 131) % 4000;
          errno = 0;
          void* p = api::malloc(s);
          if (!p) {
            if (errno != ENOMEM) bad++;
            if (s != 100 * KiB) break;  // small exhausted too: done
            continue;
          }
          static_cast<volatile char*>(p)[0] = 1;
          held[t].push_back(p);
        }
      });
    limit_address_space();  // after the threads (and their stacks) exist
    go = 1;
    for (auto& t : ts) t.join();
    CHILD_CHECK(bad == 0, 1);
    for (auto& h : held)
      for (void* p : h) api::free(p);
    return 0;
  });
}

#if HAKT_OVERRIDE
TEST(Oom, OperatorNewThrowsBadAlloc) {
  expect_child_ok([] {
    std::vector<void*> held;
    held.reserve(1 << 20);
    limit_address_space();
    bool threw = false;
    try {
      for (int i = 0; i < (1 << 20); ++i) held.push_back(::operator new(64 * KiB));
    } catch (const std::bad_alloc&) {
      threw = true;
    }
    CHILD_CHECK(threw, 1);
    CHILD_CHECK(::operator new(8 * MiB, std::nothrow) == nullptr, 2);
    CHILD_CHECK(::operator new[](8 * MiB, std::nothrow) == nullptr, 3);
    CHILD_CHECK(::operator new(8 * MiB, std::align_val_t(4096), std::nothrow) == nullptr, 4);
    threw = false;
    try {
      hakt::escape(::operator new(8 * MiB, std::align_val_t(64)));
    } catch (const std::bad_alloc&) {
      threw = true;
    }
    CHILD_CHECK(threw, 5);
    threw = false;
    try {
      std::vector<char> v;
      for (;;) v.resize(v.size() * 2 + 4096);
    } catch (const std::bad_alloc&) {
      threw = true;
    }
    CHILD_CHECK(threw, 6);
    for (void* p : held) ::operator delete(p);
    void* p = ::operator new(64 * KiB);  // freed memory is usable again
    ::operator delete(p);
    return 0;
  });
}
#endif

}  // namespace
