/* Linked with hakmem::override: names no allocation function (no malloc, free or new), so
 * only a whole-archive link brings the override in; the C library's own allocations
 * (strdup) must then be hakmem's. A plain link of libhakmem_override.a fails this. */
#include <hakmem/hakmem.h>

#include <stdio.h>
#include <string.h>

int main(void) {
  const char* s = strdup("hakmem"); /* not freed: free would name the override */
  if (!hak_owns(s)) {
    fprintf(stderr, "strdup's memory is not hakmem's: override not linked whole\n");
    return 1;
  }
  puts("via libc: strdup's malloc is hakmem's");
  return 0;
}
