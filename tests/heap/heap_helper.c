/* The program the heap-profile tests profile from outside: known allocation sites.
 *   leak_site      10 MiB in 1 KiB objects, kept (a leak) until the "free" command
 *   churn_site     64 objects of 200 B allocated and freed again, over and over
 *   medium_site    4 MiB in 64 KiB blocks (beyond the slab classes), kept
 * Prints "ready" and then obeys lines on stdin: "free" frees the leak (prints "freed"),
 * "exit" (or end of input) exits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEAK_OBJECTS 10240
#define LEAK_SIZE 1024
#define MEDIUM_BLOCKS 64
#define MEDIUM_SIZE 65536

static void* leaked[LEAK_OBJECTS];
static void* medium[MEDIUM_BLOCKS];

__attribute__((noinline)) void leak_site(int i) {
  leaked[i] = malloc(LEAK_SIZE);
  memset(leaked[i], 1, 64);
}

__attribute__((noinline)) void churn_site(void) {
  void* t[64];
  for (int i = 0; i < 64; ++i) t[i] = malloc(200);
  for (int i = 0; i < 64; ++i) free(t[i]);
}

__attribute__((noinline)) void medium_site(int i) {
  medium[i] = malloc(MEDIUM_SIZE);
  memset(medium[i], 2, 64);
}

int main(void) {
  for (int i = 0; i < LEAK_OBJECTS; ++i) {
    leak_site(i);
    if (i % 4 == 0) churn_site();
    if (i % (LEAK_OBJECTS / MEDIUM_BLOCKS) == 0) medium_site(i / (LEAK_OBJECTS / MEDIUM_BLOCKS));
  }
  for (int i = 0; i < 2000; ++i) churn_site();
  printf("ready\n");
  fflush(stdout);
  char line[64];
  while (fgets(line, sizeof(line), stdin)) {
    if (strncmp(line, "free", 4) == 0) {
      for (int i = 0; i < LEAK_OBJECTS; ++i) free(leaked[i]);
      printf("freed\n");
      fflush(stdout);
    } else {
      break;
    }
  }
  return 0;
}
