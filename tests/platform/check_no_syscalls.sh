#!/usr/bin/env bash
# Fails, naming each offending line, if allocator/, unified_cache/ or superslab/ call the
# kernel (or the libc wrappers of its calls) directly instead of through the platform layer
# (platform/platform.hpp), which is what lets tests inject a fake one.
# Usage: check_no_syscalls.sh <source root>
set -euo pipefail
root=${1:-$(dirname "$0")/../..}
cd "$root"

calls='mmap|munmap|mremap|madvise|mprotect|mbind|get_mempolicy|syscall|futex|open|openat'
calls+='|read|pread|write|pwrite|close|unlink|ftruncate|fchmod|fstat|stat|flock|readlink'
calls+='|clock_gettime|clock_nanosleep|nanosleep|sched_getcpu|sched_yield|getrusage|getpid'
calls+='|gettid|pthread_atfork|pthread_key_create|pthread_setspecific|pthread_create'
# A call: the name not preceded by a letter, digit, '_', '.', '>' (a member of ours) or a
# namespace other than the global one ('x::'), then '('. Comments are cut off first.
offenders=$(find allocator unified_cache superslab -name '*.cpp' -o -name '*.hpp' -o -name '*.h' |
  sort | xargs awk -v calls="$calls" '
    {
      line = $0
      sub(/\/\/.*/, "", line)
      if (match(line, "(^|[^A-Za-z0-9_.>:]|[^A-Za-z0-9_]::)(" calls ")[ \t]*\\(")) {
        print FILENAME ":" FNR ": " $0
      }
    }')
if [[ -n "$offenders" ]]; then
  echo "system calls outside platform/ (use platform::ops(), platform/platform.hpp):"
  echo "$offenders"
  exit 1
fi
echo "no system calls outside platform/"
