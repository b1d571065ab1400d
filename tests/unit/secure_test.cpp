// Secure mode (HAKMEM_SECURE=1, issue 14): every detection it adds, each expecting its message,
// and the properties it promises (zero on free, guard pages, unpredictable reuse). ctest runs
// this binary with HAKMEM_SECURE=1 in its environment; the first test fails if the mode is
// not on, so a missing environment cannot turn the others into passes.
#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "common/api.hpp"
#include "common/test_support.hpp"

namespace {

constexpr std::uintptr_t kSuperSlab = 2u << 20;
constexpr std::size_t kHeader = 8192, kGuard = 4096;

// Sizes across the slab classes: tiny, the 16-per-doubling range, page-sized, the largest.
const std::size_t kSizes[] = {16, 24, 64, 100, 256, 1000, 1500, 4096, 8192, 20000, 32768};

// Enough mallocs of one size to empty any bin (every object in a bin is handed out before
// the bin refills), so an object freed just before is handed out or checked among them.
constexpr int kDrain = 2048;

std::string stderr_of(void (*fn)(void*), void* arg) {
  testing::internal::CaptureStderr();
  fn(arg);
  return testing::internal::GetCapturedStderr();
}

TEST(Secure, ModeIsOn) {
  long v = -1;
  ASSERT_EQ(hak_option_get("SECURE", &v), 0);
  ASSERT_EQ(v, 1) << "run this binary with HAKMEM_SECURE=1 (ctest does)";
  // Start-up only: it cannot be switched at run time.
  EXPECT_EQ(hak_option_set("SECURE", 0), -1);
  EXPECT_EQ(errno, EPERM);
  ASSERT_EQ(hak_option_get("SECURE", &v), 0);
  EXPECT_EQ(v, 1);
}

// A freed object keeps nothing of its contents but the first word (the free tag).
TEST(Secure, FreeZeroesTheObject) {
  api::NoBadFrees no_bad_frees;
  for (std::size_t s : kSizes) {
    auto* p = static_cast<unsigned char*>(api::malloc(s));
    ASSERT_NE(p, nullptr);
    std::memset(p, 0xA7, s);
    api::free(p);
    EXPECT_TRUE(hakt::all_zero(p + 8, s - 8)) << "size " << s << ": freed bytes survive";
  }
}

// What malloc hands out is all zero, even where the previous user wrote secrets.
TEST(Secure, MallocNeverShowsAnEarlierObject) {
  api::NoBadFrees no_bad_frees;
  for (std::size_t s : kSizes) {
    std::vector<void*> v;
    for (int i = 0; i < 200; ++i) {
      void* p = api::malloc(s);
      ASSERT_NE(p, nullptr);
      std::memset(p, 0x5C, s);
      v.push_back(p);
    }
    for (void* p : v) api::free(p);
    if (s == 256) hak_thread_flush();  // some through the slab lists too
    for (auto& p : v) {
      p = api::malloc(s);
      ASSERT_TRUE(hakt::all_zero(p, s)) << "size " << s << ": malloc returned old bytes";
    }
    for (void* p : v) api::free(p);
  }
}

// Where the dangling write lands: the head the check covers (first 256 bytes) or the tail
// (last 64 bytes of the size class).
enum class At { kHead, kTail };

struct Uaf {
  std::size_t size;
  bool flush;
  void* victim;
  std::vector<void*> got;
  At at = At::kTail;
};

// A write to a freed object whose page goes back to the OS before reuse is lost with the page
// (it comes back zero), so the purge waits for the length of the test.
struct NoPurge {
  long delay = 0;
  NoPurge() {
    hak_option_get("PURGE_DELAY_MS", &delay);
    hak_option_set("PURGE_DELAY_MS", 3600000);
  }
  ~NoPurge() { hak_option_set("PURGE_DELAY_MS", delay); }
};

void write_after_free_then_drain(void* arg) {
  NoPurge no_purge;
  auto* u = static_cast<Uaf*>(arg);
  // The victim's slab must stay in use (an emptied slab is released, and its memory scrubbed
  // when it is carved again): a live object of the batch shares it.
  // (Earlier rounds leave slabs with one free object each: allocate until two share one.)
  std::uintptr_t slab_bytes = u->size <= 8192 ? 64u << 10 : u->size <= 16384 ? 128u << 10 : 256u << 10;
  auto slab_of = [&](void* q) { return reinterpret_cast<std::uintptr_t>(q) / slab_bytes; };
  std::vector<void*> batch;
  std::set<std::uintptr_t> slabs;
  void* p_obj = nullptr;
  while (!p_obj && batch.size() < 4096) {
    void* q = api::malloc(u->size);
    if (!slabs.insert(slab_of(q)).second) p_obj = q;  // another live object shares its slab
    else batch.push_back(q);
  }
  ASSERT_NE(p_obj, nullptr) << "no two objects of one slab in 4096 mallocs";
  auto* p = static_cast<unsigned char*>(p_obj);
  u->victim = p;
  std::size_t usable = api::usable_size(p);  // the class size, asked while p is live
  api::free(p);
  if (u->flush) hak_thread_flush();
  std::size_t off = u->at == At::kHead ? std::min<std::size_t>(40, u->size - 1) : usable - 1;
  // The bug: a write through a dangling pointer. It flips the byte: a set value would change
  // nothing where the byte already held it (after a flush, byte 15 of a 16 B object is the
  // top byte of its encoded link, which is the random key's: 0x42 in 1 run of 256).
  p[off] = static_cast<unsigned char>(~p[off]);
  // Objects of the class on other slabs (earlier tests') may come first: drain 8 MiB's worth.
  int drain = std::max<int>(kDrain, static_cast<int>((8u << 20) / u->size));
  for (int i = 0; i < drain; ++i) u->got.push_back(api::malloc(u->size));
  for (void* q : u->got) api::free(q);
  for (void* q : batch) api::free(q);
}

TEST(Secure, WriteAfterFreeIsReportedAtTheNextAllocation) {
  for (std::size_t s : kSizes) {
    for (bool flush : {false, true}) {
      for (At at : {At::kHead, At::kTail}) {
        Uaf u{s, flush, nullptr, {}, at};
        std::string err = stderr_of(write_after_free_then_drain, &u);
        std::string where = "size " + std::to_string(s) + (flush ? " after a flush" : " in the bin") +
                            (at == At::kHead ? ", head" : ", tail");
        EXPECT_NE(err.find("write after free"), std::string::npos) << where << ": " << err;
        EXPECT_EQ(std::count(u.got.begin(), u.got.end(), u.victim), 0)
            << where << ": the changed object was handed out again";
        EXPECT_EQ(std::count(u.got.begin(), u.got.end(), nullptr), 0) << where;
      }
    }
  }
}

struct Forged {
  std::size_t size;
  void* target;
  std::vector<void*> got;
  int not_owned = 0;
};

void corrupt_link_then_drain(void* arg) {
  auto* u = static_cast<Forged*>(arg);
  std::vector<void*> v;
  for (int i = 0; i < 256; ++i) v.push_back(api::malloc(u->size));
  // The victim shares keep's 64 KiB slab, which keep holds in use through the flush (a slab
  // emptied by it would be released whole, its list never read).
  void* keep = v[0];
  auto slab_of = [](void* p) { return reinterpret_cast<std::uintptr_t>(p) >> 16; };
  void* victim = nullptr;
  for (int i = 1; i < 256 && !victim; ++i)
    if (slab_of(v[i]) == slab_of(keep)) victim = v[i];
  ASSERT_NE(victim, nullptr);
  for (int i = 1; i < 256; ++i) api::free(v[i]);
  hak_thread_flush();  // the freed objects are on their slab's list now, linked in word 1
  // The bug: an overflow from a neighbour rewrites a free object's link with an address an
  // attacker wants malloc to return.
  static unsigned char target[4096];
  static_cast<std::uintptr_t*>(victim)[1] = reinterpret_cast<std::uintptr_t>(target);
  u->target = target;
  for (int i = 0; i < kDrain; ++i) {
    void* q = api::malloc(u->size);
    u->got.push_back(q);
    u->not_owned += !api::owns(q);
  }
  for (void* q : u->got) api::free(q);
  api::free(keep);
}

TEST(Secure, CorruptedFreeListLinkIsReportedAndNotFollowed) {
  for (std::size_t s : {16ul, 64ul, 512ul, 2048ul}) {
    Forged u{s, nullptr, {}};
    std::string err = stderr_of(corrupt_link_then_drain, &u);
    EXPECT_NE(err.find("corrupted free-list link"), std::string::npos) << "size " << s << ": " << err;
    EXPECT_EQ(u.not_owned, 0) << "size " << s << ": malloc returned memory hakmem does not own";
    for (void* q : u.got) {
      ASSERT_NE(q, nullptr);
      auto d = reinterpret_cast<std::uintptr_t>(q) - reinterpret_cast<std::uintptr_t>(u.target);
      EXPECT_GE(d, 4096u) << "size " << s << ": the forged link was followed";
    }
  }
}

// Freed objects come back in an order the frees do not predict: without secure mode the last
// freed is the first handed out (a stack), which use-after-free exploits rely on.
TEST(Secure, ReuseOrderIsNotTheFreeOrder) {
  api::NoBadFrees no_bad_frees;
  constexpr int kN = 32;
  int lifo_matches = 0, first_is_last_freed = 0;
  for (int round = 0; round < 8; ++round) {
    void* v[kN];
    for (auto& p : v) p = api::malloc(48);
    for (auto& p : v) api::free(p);
    void* w[kN];
    for (auto& p : w) p = api::malloc(48);
    int same = 0;
    for (int i = 0; i < kN; ++i) same += w[i] == v[kN - 1 - i];
    lifo_matches += same == kN;
    first_is_last_freed += w[0] == v[kN - 1];
    for (auto& p : w) api::free(p);
  }
  EXPECT_EQ(lifo_matches, 0) << "objects were reused in exact reverse free order";
  EXPECT_LT(first_is_last_freed, 8) << "the last object freed was always the next malloc";
}

// Fresh objects are not handed out in address order either (carve order is shuffled).
TEST(Secure, CarveOrderIsShuffled) {
  std::vector<std::uintptr_t> a;
  for (int i = 0; i < 64; ++i) a.push_back(reinterpret_cast<std::uintptr_t>(api::malloc(1200)));
  // Unshuffled, every step goes up (a slab is carved from its lowest address); shuffled
  // within each refill batch of 13, about 34 of the 63 do (sd about 4).
  int ascending = 0;
  for (int i = 1; i < 64; ++i) ascending += a[i] > a[i - 1];
  EXPECT_LT(ascending, 54) << "consecutive mallocs returned objects in address order";
  for (auto p : a) api::free(reinterpret_cast<void*>(p));
}

// The page after the SuperSlab header and the SuperSlab's last page are PROT_NONE: an
// underflow out of the first unit or an overflow out of the last faults instead of reaching
// the slab metadata or the next SuperSlab's header.
TEST(Secure, GuardPagesAroundTheSlabs) {
  void* p = api::malloc(64);
  ASSERT_NE(p, nullptr);
  auto ss = reinterpret_cast<std::uintptr_t>(p) & ~(kSuperSlab - 1);
  EXPECT_GE(reinterpret_cast<std::uintptr_t>(p), ss + kHeader + kGuard)
      << "an object inside the header or its guard page";
  auto* after_header = reinterpret_cast<volatile char*>(ss + kHeader);
  auto* last_page = reinterpret_cast<volatile char*>(ss + kSuperSlab - kGuard);
  EXPECT_DEATH(*after_header = 1, "");
  EXPECT_DEATH(*last_page = 1, "");
  // Objects of every class keep clear of both pages.
  for (std::size_t s : kSizes) {
    std::vector<void*> v;
    for (int i = 0; i < 300; ++i) v.push_back(api::malloc(s));
    for (void* q : v) {
      auto a = reinterpret_cast<std::uintptr_t>(q), base = a & ~(kSuperSlab - 1);
      bool in_guard = (a + s > base + kHeader && a < base + kHeader + kGuard) ||
                      a + s > base + kSuperSlab - kGuard;
      EXPECT_FALSE(in_guard) << "size " << s << ": object at offset " << a - base;
      std::memset(q, 1, s);  // would fault in a guard page
    }
    for (void* q : v) api::free(q);
  }
  api::free(p);
}

// The misuses of the default build are still caught in secure mode, with their messages.
void free_twice(void*) {
  void* p = api::malloc(40);
  api::free(p);
  api::free(p);
}
void realloc_freed(void*) {
  void* p = api::malloc(40);
  api::free(p);
  errno = 0;
  EXPECT_EQ(api::realloc(p, 400), nullptr);
  EXPECT_EQ(errno, EINVAL);
}
void usable_of_freed(void*) {
  void* p = api::malloc(40);
  api::free(p);
  EXPECT_EQ(api::usable_size(p), 0u);
}

TEST(Secure, FreedBlockMisusesAreReported) {
  EXPECT_NE(stderr_of(free_twice, nullptr).find("double free"), std::string::npos);
  EXPECT_NE(stderr_of(realloc_freed, nullptr).find("realloc of a freed block"), std::string::npos);
  EXPECT_NE(stderr_of(usable_of_freed, nullptr).find("malloc_usable_size of a freed block"),
            std::string::npos);
}

void write_after_free_with_abort() {
  hak_option_set("ON_ERROR", 1);  // 1 = abort
  Uaf u{64, false, nullptr, {}};
  write_after_free_then_drain(&u);
  std::exit(0);
}

TEST(Secure, WriteAfterFreeAbortsWithOnErrorAbort) {
  ASSERT_EXIT(write_after_free_with_abort(), testing::KilledBySignal(SIGABRT), "write after free");
}

}  // namespace
