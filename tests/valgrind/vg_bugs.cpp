// Real bugs memcheck must report through hakmem's client requests: a read of a freed
// block (use after free), a double free, and a block never freed whose pointer is lost.
#include <stdlib.h>

#include <cstdio>
#include <cstring>

#include "hakmem/hakmem.h"

volatile int sink;

// In a function of its own, so no register or stack slot of main still holds the pointer.
// The bin is warmed first: the block handed out right after a refill stays referenced by
// the refill's own bookkeeping and would be "still reachable" (see README).
__attribute__((noinline)) void leak_one() {
  void* warm[8];
  for (auto& w : warm) w = malloc(100);
  for (auto& w : warm) free(w);
  char* leak = static_cast<char*>(malloc(100));
  std::memset(leak, 1, 100);
  asm volatile("" : : "r"(leak) : "memory");
}

__attribute__((noinline)) void scrub_stack() {
  volatile char buf[4096];
  for (char& c : const_cast<char(&)[4096]>(buf)) c = 0;
}

int main() {
  char* p = static_cast<char*>(malloc(64));
  if (!hak_owns(p)) return 2;
  std::memset(p, 7, 64);
  free(p);
  sink = p[10];  // use after free
  char* twice = static_cast<char*>(malloc(200));
  free(twice);
  free(twice);  // double free (hakmem reports and ignores it too)
  leak_one();  // 100 bytes lost
  scrub_stack();
  std::printf("bugs: done\n");
  return 0;
}
