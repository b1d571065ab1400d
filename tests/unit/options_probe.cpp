// Helper program for options_test: uses libhakmem.a a little, then prints the value of each
// option named on the command line ("NAME=value") and "ok". Its stderr is whatever hakmem
// printed (option warnings, the HAKMEM_VERBOSE table).
#include <cstdio>

#include "hakmem/hakmem.h"

int main(int argc, char** argv) {
  void* p = hak_malloc(100);
  void* q = hak_calloc(10, 1000);
  if (p == nullptr || q == nullptr) return 2;
  hak_free(p);
  hak_free(q);
  for (int i = 1; i < argc; ++i) {
    long v = 0;
    if (hak_option_get(argv[i], &v) != 0) return 3;
    std::printf("%s=%ld\n", argv[i], v);
  }
  std::printf("ok\n");
  return 0;
}
