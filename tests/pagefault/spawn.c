/* Runs a program and prints the child's peak RSS and minor faults (getrusage of the
 * child). Linked statically, for a reason: a child's ru_maxrss also counts what the
 * forking process had resident when it forked (the fork copies it; exec keeps the larger
 * high-water mark), so a launcher with a few MiB resident (a gtest binary, python) would
 * hide the program's own figure. A static binary has ~100 KiB resident, far below any
 * program worth measuring. LD_PRELOAD in its environment reaches only the child: static
 * binaries do not go through the dynamic loader.
 *
 *   pf_spawn PROGRAM ARGS...   -> stdout: "maxrss_kib=N minflt=N status=N"
 */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc < 2) {
    fputs("usage: pf_spawn PROGRAM ARGS...\n", stderr);
    return 64;
  }
  pid_t pid = fork();
  if (pid < 0) return 70;
  if (pid == 0) {
    execv(argv[1], argv + 1);
    _exit(127);
  }
  int status = 0;
  struct rusage ru;
  if (wait4(pid, &status, 0, &ru) != pid) return 70;
  printf("maxrss_kib=%ld minflt=%ld status=%d\n", ru.ru_maxrss, ru.ru_minflt, status);
  return 0;
}
