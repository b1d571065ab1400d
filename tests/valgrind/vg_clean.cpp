// A correct program (under memcheck it must have no error and no leak): every entry point,
// small, medium and huge blocks, realloc chains, C++ containers, a second thread that
// frees blocks the first allocated. Exits 2 if malloc is not hakmem's.
#include <malloc.h>
#include <stdlib.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "hakmem/hakmem.h"

int main() {
  void* probe = malloc(24);
  if (!hak_owns(probe)) return 2;  // not linked against the override
  free(probe);
  unsigned long sum = 0;
  std::vector<void*> keep;
  for (std::size_t n : {1ul, 16ul, 100ul, 4000ul, 40000ul, 300000ul, 3000000ul}) {
    auto* a = static_cast<unsigned char*>(malloc(n));
    std::memset(a, 1, n);
    auto* c = static_cast<unsigned char*>(calloc(1, n));
    sum += a[n - 1] + c[n - 1];  // calloc'ed bytes are defined
    a = static_cast<unsigned char*>(realloc(a, 2 * n));
    sum += a[n - 1];             // realloc kept the defined prefix
    std::memset(a + n, 2, n);
    void* al = nullptr;
    if (posix_memalign(&al, 4096, n) == 0) std::memset(al, 3, n);
    void* aa = aligned_alloc(64, n);
    std::memset(aa, 4, n);
    sum += malloc_usable_size(aa) >= n;
    free(a);
    free(c);
    free(al);
    keep.push_back(aa);
  }
  std::thread t([&] {
    for (void* p : keep) free(p);  // cross-thread frees
    std::vector<std::string> v;
    for (int i = 0; i < 1000; ++i) v.push_back(std::string(static_cast<std::size_t>(i % 200), 'x'));
    for (auto& s : v) sum += s.size();
  });
  t.join();
  std::map<int, std::string> m;
  for (int i = 0; i < 2000; ++i) m[i] = std::to_string(i * 7);
  m.clear();
  int* arr = new int[1000]();
  sum += arr[999];
  delete[] arr;
  auto* big = new (std::align_val_t(256)) double[10];
  ::operator delete[](big, std::align_val_t(256));
  std::printf("clean: %lu\n", sum);
  return 0;
}
