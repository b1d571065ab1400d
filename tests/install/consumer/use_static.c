/* Linked with hakmem::static (or pkg-config hakmem-static): the prefixed API works, and the
 * process's malloc stays the C library's. */
#include <hakmem/hakmem.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
  char* p = hak_malloc(100);
  void* q = malloc(16);
  if (p == NULL || !hak_owns(p) || hak_owns(q)) {
    fprintf(stderr, "hak_malloc %p owned %d, malloc %p owned %d\n", (void*)p,
            p ? hak_owns(p) : -1, q, hak_owns(q));
    return 1;
  }
  memset(p, 1, 100);
  hak_free(p);
  free(q);
  puts("static: hak_malloc is hakmem's, malloc is not");
  return 0;
}
