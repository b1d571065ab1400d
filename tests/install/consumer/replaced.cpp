// Linked with hakmem::hakmem or hakmem::override (or the pkg-config equivalents): malloc and
// operator new must be hakmem's.
#include <hakmem/hakmem.h>

#include <cstdio>
#include <cstdlib>

int main() {
  void* p = std::malloc(16);
  int* q = new int[4];
  const int malloc_owned = hak_owns(p);
  const int new_owned = hak_owns(q);
  delete[] q;
  std::free(p);
  if (!malloc_owned || !new_owned) {
    std::fprintf(stderr, "not replaced: hak_owns(malloc(16)) = %d, hak_owns(new int[4]) = %d\n",
                 malloc_owned, new_owned);
    return 1;
  }
  std::puts("replaced: malloc and new are hakmem's");
  return 0;
}
