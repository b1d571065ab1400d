// libFuzzer target over libhakmem.a's hak_* API (issue 14, item 3).
//
// The input is split in two halves, one op stream per thread. Each thread keeps a small live
// set of blocks; ops allocate (malloc, calloc, realloc, posix_memalign, aligned_alloc,
// memalign, valloc), query (usable_size, owns), free (free, free_sized) and hand blocks to the
// other thread through a shared queue, which frees them (cross-thread frees). Every block is
// filled with a pattern derived from its id; the pattern is verified before each free and
// realloc (over the kept prefix), so a block handed out twice, overlapped, moved wrongly or
// scribbled on by the allocator stops the run. An allocation failure of a request that fits
// easily is an error too. Built with -fsanitize=fuzzer (clang) and, in CI, AddressSanitizer
// + UBSan over the allocator's internals.
#include <pthread.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include "hakmem/hakmem.h"

// Pattern loops are kept out of the coverage instrumentation: per-byte comparisons there
// cost most of each run and guide nothing.
#define HAKT_NO_COVERAGE __attribute__((no_sanitize("coverage")))

namespace {

[[noreturn]] void fail(const char* what, const void* p, std::size_t n) {
  std::fprintf(stderr, "hakmem_fuzz: %s (pointer %p, value %zu)\n", what, p, n);
  std::abort();
}

// Input reader: yields bytes of one stream, zeros once it is exhausted.
struct Reader {
  const std::uint8_t* p;
  std::size_t n;
  bool more() const { return n > 0; }
  std::uint8_t u8() {
    if (n == 0) return 0;
    --n;
    return *p++;
  }
  std::uint16_t u16() { return static_cast<std::uint16_t>(u8() | (u8() << 8)); }
};

// Sizes over every range: tiny classes, the rest of the slab classes (to 32 KiB), spans (to
// 1 MiB) and a few huge blocks (own mappings, up to 3 MiB).
std::size_t decode_size(Reader& r) {
  std::uint8_t kind = r.u8();
  std::uint16_t v = r.u16();
  switch (kind & 7) {
    case 0: return v & 31;                                    // 0..31, includes 0
    case 1: case 2: return v & 1023;                          // tiny
    case 3: return 1024 + v % (32 * 1024 - 1024 + 1);         // small classes, edges included
    case 4: return 32 * 1024 + (std::size_t{v} * 16) % (1024 * 1024 - 32 * 1024 + 1);  // spans
    case 5: return (kind & 0x80) ? 1024 * 1024 + std::size_t{v} * 32 : v & 255;  // huge, rarely
    default: return 16 + (v & 511);
  }
}

// The pattern: one byte per offset, from the block's id. The bytes written and checked are
// the first 64 KiB, 8 bytes at the start of every 4 KiB page beyond, and the last 4 KiB
// (whole-block fills of multi-MiB blocks would make each run slow without finding more).
// A realloc checks the kept prefix without its tail: the old block's tail is not the new
// prefix's.
HAKT_NO_COVERAGE inline std::uint8_t pat(std::uint64_t id, std::size_t i) {
  std::uint64_t x = (id + 1) * 0x9E3779B97F4A7C15ull ^ ((i >> 3) + 1) * 0xD6E8FEB86659FD93ull;
  x ^= x >> 29;
  return static_cast<std::uint8_t>(x >> ((i & 7) * 8));
}

template <class F>
HAKT_NO_COVERAGE void for_checked_bytes(std::size_t n, bool tail, F f) {
  constexpr std::size_t kWhole = 64 * 1024, kEdge = 4096;
  std::size_t head = n < kWhole ? n : kWhole;
  for (std::size_t i = 0; i < head; ++i) f(i);
  for (std::size_t page = kWhole; page < n; page += 4096)
    for (std::size_t i = page; i < page + 8 && i < n; ++i) f(i);
  if (tail && n > kWhole)
    for (std::size_t i = (n - kEdge > kWhole ? n - kEdge : kWhole); i < n; ++i) f(i);
}

HAKT_NO_COVERAGE void fill(void* p, std::size_t n, std::uint64_t id) {
  auto* b = static_cast<std::uint8_t*>(p);
  for_checked_bytes(n, true, [&](std::size_t i) { b[i] = pat(id, i); });
}

HAKT_NO_COVERAGE void verify(const void* p, std::size_t n, std::uint64_t id, const char* when,
                             bool tail = true) {
  const auto* b = static_cast<const std::uint8_t*>(p);
  for_checked_bytes(n, tail, [&](std::size_t i) {
    if (b[i] != pat(id, i)) fail(when, p, i);
  });
}

struct Block {
  void* p = nullptr;
  std::size_t size = 0;
  std::uint64_t id = 0;
};

// Blocks handed from one thread to the other; the receiver verifies and frees them.
struct Handoff {
  static constexpr int kCap = 64;
  std::mutex m;
  Block q[kCap];
  int n = 0;
  bool push(const Block& b) {
    std::lock_guard<std::mutex> g(m);
    if (n == kCap) return false;
    q[n++] = b;
    return true;
  }
  bool pop(Block* out) {
    std::lock_guard<std::mutex> g(m);
    if (n == 0) return false;
    *out = q[--n];
    return true;
  }
};

void release(const Block& b, bool sized) {
  verify(b.p, b.size, b.id, "block corrupted before free");
  if (hak_malloc_usable_size(b.p) < b.size) fail("usable size below the request", b.p, b.size);
  if (sized) hak_free_sized(b.p, b.size);
  else hak_free(b.p);
}

// A request this small never fails on a machine with memory: a NULL is a bug.
void expect_block(void* p, std::size_t n, const char* what) {
  if (p == nullptr && n <= 64 * 1024 * 1024) fail(what, p, n);
}

void check_aligned(const void* p, std::size_t align) {
  if (reinterpret_cast<std::uintptr_t>(p) & (align - 1)) fail("misaligned block", p, align);
}

class Worker {
 public:
  static constexpr int kSlots = 24;

  Worker(Reader r, Handoff* mine, Handoff* theirs, std::uint64_t id_base)
      : r_(r), mine_(mine), theirs_(theirs), next_id_(id_base) {}

  void run() {
    for (int steps = 0; r_.more() && steps < 4096; ++steps) step();
    for (Block& b : slots_)
      if (b.p) release(b, false), b = Block{};
  }

 private:
  void put(int s, void* p, std::size_t n) {
    if (slots_[s].p) release(slots_[s], false);
    slots_[s] = Block{p, n, next_id_++};
    fill(p, n, slots_[s].id);
  }

  void step() {
    std::uint8_t op = r_.u8();
    int s = r_.u8() % kSlots;
    Block& b = slots_[s];
    switch (op % 12) {
      case 0: case 1: {
        std::size_t n = decode_size(r_);
        void* p = hak_malloc(n);
        expect_block(p, n, "malloc failed");
        check_aligned(p, 16);
        put(s, p, n);
        break;
      }
      case 2: {
        std::size_t count = 1 + r_.u8() % 64, n = decode_size(r_) / count;
        auto* p = static_cast<std::uint8_t*>(hak_calloc(count, n));
        expect_block(p, count * n, "calloc failed");
        for_checked_bytes(count * n, true, [&](std::size_t i) {
          if (p[i] != 0) fail("calloc block not zero", p, i);
        });
        put(s, p, count * n);
        break;
      }
      case 3: {
        std::size_t n = decode_size(r_);
        if (!b.p) {
          void* p = hak_realloc(nullptr, n);
          expect_block(p, n, "realloc(NULL) failed");
          put(s, p, n);
          break;
        }
        verify(b.p, b.size, b.id, "block corrupted before realloc");
        if (n == 0) {  // realloc(p, 0) frees, as glibc's does
          if (hak_realloc(b.p, 0) != nullptr) fail("realloc(p, 0) returned a block", b.p, 0);
          b = Block{};
          break;
        }
        void* q = hak_realloc(b.p, n);
        expect_block(q, n, "realloc failed");
        std::size_t kept = n < b.size ? n : b.size;
        verify(q, kept, b.id, "realloc lost the prefix", kept == b.size);
        b.p = q;
        b.size = n;
        fill(q, n, b.id);
        break;
      }
      case 4: {
        std::size_t align = std::size_t{8} << (r_.u8() % 14);  // 8 B .. 64 KiB
        std::size_t n = decode_size(r_);
        void* p = nullptr;
        if (hak_posix_memalign(&p, align, n) != 0) fail("posix_memalign failed", p, n);
        check_aligned(p, align);
        put(s, p, n);
        break;
      }
      case 5: {
        std::size_t align = std::size_t{1} << (r_.u8() % 22);  // 1 B .. 2 MiB
        std::size_t n = decode_size(r_);
        void* p = (op & 0x80) ? hak_memalign(align, n) : hak_aligned_alloc(align, n);
        expect_block(p, n, "aligned_alloc/memalign failed");
        check_aligned(p, align);
        put(s, p, n);
        break;
      }
      case 6: {
        std::size_t n = decode_size(r_) & 0xffff;
        void* p = hak_valloc(n);
        expect_block(p, n, "valloc failed");
        check_aligned(p, 4096);
        put(s, p, n);
        break;
      }
      case 7:
        if (b.p) {
          std::size_t u = hak_malloc_usable_size(b.p);
          if (u < b.size) fail("usable size below the request", b.p, u);
          if (!hak_owns(b.p)) fail("hak_owns denies a live block", b.p, b.size);
          // The whole usable size is the program's: write its tail and restore the pattern.
          if (u > b.size) static_cast<std::uint8_t*>(b.p)[u - 1] = 0xA5;
          verify(b.p, b.size, b.id, "writing the usable tail hit the block");
        }
        break;
      case 8: case 9:
        if (b.p) {
          release(b, op & 0x80);
          b = Block{};
        }
        break;
      case 10:  // hand a block to the other thread, which frees it
        if (b.p && theirs_->push(b)) b = Block{};
        break;
      case 11: {
        Block got;
        if (mine_->pop(&got)) release(got, false);
        if (op & 0x80) hak_thread_flush();
        break;
      }
    }
  }

  Reader r_;
  Handoff* mine_;
  Handoff* theirs_;
  std::uint64_t next_id_;
  Block slots_[kSlots];
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  // First byte: where the split between the two streams falls.
  std::size_t split = 1 + (size - 1) * data[0] / 255;
  Reader a{data + 1, split - 1}, b{data + split, size - split};
  Handoff to_a, to_b;
  Worker wa(a, &to_a, &to_b, 1ull << 40), wb(b, &to_b, &to_a, 2ull << 40);
  std::thread tb([&] { wb.run(); });
  wa.run();
  tb.join();
  Block left;
  while (to_a.pop(&left)) release(left, false);
  while (to_b.pop(&left)) release(left, false);
  return 0;
}
