// Out of memory on every entry point at every size (issue 14, item 7), beside oom_test.cpp.
// Under RLIMIT_AS (a forked child), with the address space exhausted down to small objects:
// small (48 B, 4000 B), medium (200 KiB, 900 KiB, spans) and huge (8 MiB) requests through
// malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign (and operator new /
// new(nothrow) in the override build) either succeed with a usable block or fail cleanly:
// NULL with errno ENOMEM (posix_memalign: ENOMEM returned), std::bad_alloc, nullptr from
// nothrow; never a crash. Huge requests must fail. After everything is freed, every one of
// them succeeds. Under a cgroup v2 memory.max (where the test can create one) allocation
// must fail cleanly as well, rather than the kernel OOM-killing the child.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <new>
#include <string>
#include <vector>

#include "common/api.hpp"
#include "common/test_support.hpp"

namespace {

using hakt::KiB;
using hakt::MiB;

constexpr std::size_t kSizes[] = {48, 4000, 200 * KiB, 900 * KiB, 8 * MiB};
constexpr int kEntryPoints = 6;

// One request through entry point `e`; returns the block or nullptr, and sets *clean to
// whether a failure was reported the standard way.
void* request(int e, std::size_t n, void* realloc_src, bool* clean) {
  errno = 0;
  void* p = nullptr;
  switch (e) {
    case 0: p = api::malloc(n); break;
    case 1: p = api::calloc(1, n); break;
    case 2: p = api::realloc(realloc_src, n); break;
    case 3: {
      int rc = api::posix_memalign(&p, 256, n);
      *clean = rc == 0 || (rc == ENOMEM && p == nullptr);
      return rc == 0 ? p : nullptr;
    }
    case 4: p = api::aligned_alloc(4096, n); break;
    default: p = api::memalign(64, n); break;
  }
  *clean = p != nullptr || errno == ENOMEM;
  return p;
}

// Every entry point at every size; returns a nonzero code on the first unclean result.
// must_succeed: after memory was freed. Huge requests must fail when !must_succeed.
int every_entry_point(bool must_succeed) {
  for (std::size_t n : kSizes) {
    for (int e = 0; e < kEntryPoints; ++e) {
      void* src = nullptr;
      if (e == 2) {
        src = api::malloc(16);  // may fail at the limit: realloc(NULL, n) then
      }
      bool clean = false;
      void* p = request(e, n, src, &clean);
      if (!clean) {
        std::fprintf(stderr, "entry point %d, %zu bytes: NULL without ENOMEM (errno %d)\n", e, n, errno);
        return 10 + e;
      }
      if (!p && must_succeed) {
        std::fprintf(stderr, "entry point %d, %zu bytes: failed after memory was freed\n", e, n);
        return 20 + e;
      }
      if (p && !must_succeed && n == 8 * MiB) {
        std::fprintf(stderr, "entry point %d: 8 MiB succeeded at the limit\n", e);
        return 30 + e;
      }
      if (p) {
        std::memset(p, 0x5a, n);
        api::free(p);
      } else if (src) {
        api::free(src);  // a failed realloc leaves its block alone
      }
    }
  }
#if HAKT_OVERRIDE
  for (std::size_t n : kSizes) {
    bool threw = false;
    void* p = nullptr;
    try {
      p = ::operator new(n);
    } catch (const std::bad_alloc&) {
      threw = true;
    }
    if (threw == (p != nullptr)) return 40;
    if (must_succeed && threw) return 41;
    ::operator delete(p);
    void* q = ::operator new(n, std::nothrow);
    if (must_succeed && !q) return 42;
    if (!must_succeed && n == 8 * MiB && q) return 43;
    ::operator delete(q);
  }
#endif
  return 0;
}

int exhaust_then_check() {
  std::vector<void*> big, small;
  big.reserve(1 << 16);
  small.reserve(4'000'000);
  api::malloc_trim(0);
  rlimit rl;
  rl.rlim_cur = rl.rlim_max =
      static_cast<rlim_t>(hakt::status_kib("VmSize")) * 1024 + 256 * MiB;
  setrlimit(RLIMIT_AS, &rl);
  while (big.size() < big.capacity()) {
    void* p = api::malloc(64 * KiB);
    if (!p) break;
    static_cast<volatile char*>(p)[0] = 1;
    big.push_back(p);
  }
  while (small.size() < small.capacity()) {
    void* p = api::malloc(48);
    if (!p) break;
    small.push_back(p);
  }
  if (big.size() == big.capacity() || small.size() == small.capacity()) return 2;  // no limit hit
  if (int rc = every_entry_point(false)) return rc;
  for (void* p : small) api::free(p);
  for (void* p : big) api::free(p);
  api::malloc_trim(0);
  return every_entry_point(true);
}

TEST(OomEntryPoints, RlimitAsEverySizeEveryEntryPoint) {
  if (hakt::kSanitized) GTEST_SKIP() << "RLIMIT_AS does not work with sanitizer shadow memory";
  hakt::ChildResult r = hakt::run_in_child(exhaust_then_check, 180);
  EXPECT_TRUE(r.ok()) << r.describe();
}

// ---- cgroup v2 memory.max --------------------------------------------------------------
// The cgroup2 mount point, or "" (from /proc/self/mounts).
std::string cgroup2_root() {
  std::ifstream f("/proc/self/mounts");
  std::string dev, dir, type, rest;
  while (f >> dev >> dir >> type && std::getline(f, rest))
    if (type == "cgroup2") return dir;
  return "";
}

bool write_file(const std::string& path, const std::string& value) {
  std::ofstream f(path);
  f << value;
  f.flush();
  return static_cast<bool>(f);
}

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::string s;
  std::getline(f, s);
  return s;
}

TEST(OomEntryPoints, CgroupMemoryMax) {
  if (hakt::kSanitized) GTEST_SKIP() << "sanitizer shadow memory is charged to the cgroup too";
  std::string root = cgroup2_root();
  if (root.empty()) GTEST_SKIP() << "no cgroup v2 hierarchy mounted";
  if (read_file(root + "/cgroup.controllers").find("memory") == std::string::npos)
    GTEST_SKIP() << "the memory controller is not on the cgroup v2 hierarchy at " << root
                 << " (cgroup v1 or hybrid setup)";
  // The memory controller must be enabled for children of the group we create ours in.
  std::string dir = root + "/hakmem-oom-" + std::to_string(getpid());
  write_file(root + "/cgroup.subtree_control", "+memory");
  if (mkdir(dir.c_str(), 0755) != 0)
    GTEST_SKIP() << "cannot create a cgroup under " << root << ": " << std::strerror(errno);
  bool ready = write_file(dir + "/memory.max", std::to_string(96 * MiB));
  write_file(dir + "/memory.swap.max", "0");
  if (!ready) {
    rmdir(dir.c_str());
    GTEST_SKIP() << "cannot set memory.max in " << dir;
  }
  hakt::ChildResult r = hakt::run_in_child([&] {
    if (!write_file(dir + "/cgroup.procs", std::to_string(getpid()))) return 3;
    std::vector<void*> held;
    held.reserve(1 << 16);
    int err = 0;
    for (int i = 0; i < 4096; ++i) {  // up to 1 GiB in 256 KiB blocks, far beyond the limit
      errno = 0;
      void* p = api::malloc(256 * KiB);
      if (!p) {
        err = errno;
        break;
      }
      held.push_back(p);
    }
    if (held.size() == 4096) return 4;  // never failed: memory.max did not bind
    if (err != ENOMEM) return 5;
    for (void* p : held) api::free(p);
    api::malloc_trim(0);
    void* p = api::malloc(256 * KiB);
    if (!p) return 6;
    std::memset(p, 1, 256 * KiB);
    api::free(p);
    return 0;
  }, 120);
  rmdir(dir.c_str());
  EXPECT_TRUE(r.ok()) << r.describe()
                      << (r.signal == SIGKILL ? " (killed: the kernel's OOM killer, not a NULL)" : "");
}

}  // namespace
