/* The smallest real program for the RSS comparison: stdio's buffer is its one malloc. */
#include <stdio.h>

int main(void) {
  puts("hello, world");
  return 0;
}
