#!/usr/bin/env bash
# Counts real futex system calls per write for the pool and for the baseline, two ways:
#   perf stat -e syscalls:sys_enter_futex   (kernel tracepoint, counting mode: little overhead)
#   strace -c -f -e trace=futex              (ptrace: slows futex calls down a lot, which can
#                                             itself change how often threads contend)
# Each side runs in its own process (--only pool|baseline, one repetition); the count covers
# the whole run (warm-up, measurement, thread start and exit), so it is divided by all
# writes of the run (total_writes). Thread creation/exit costs a handful of futex calls.
#
# usage: bench/vfs/futex_count.sh BUILD/bench_vfs_pool [THREADS] [SECONDS] [extra bench args...]
set -euo pipefail
bin=${1:?usage: futex_count.sh path/to/bench_vfs_pool [threads] [seconds]}
threads=${2:-2}
seconds=${3:-3}
shift $(( $# < 3 ? $# : 3 ))
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

total_writes() { sed -n "s/^$1 .*total_writes=\([0-9]*\).*/\1/p" "$2" | head -1; }

printf '%-9s %-7s %12s %12s %10s\n' side tool futex_calls writes per_write
for side in pool baseline; do
  if perf stat -x, -e syscalls:sys_enter_futex -o "$tmp/perf" \
      "$bin" --only "$side" --reps 1 --threads "$threads" --seconds "$seconds" "$@" > "$tmp/out" 2>/dev/null; then
    n=$(awk -F, '/sys_enter_futex/ {print $1}' "$tmp/perf")
    w=$(total_writes "$side" "$tmp/out")
    printf '%-9s %-7s %12s %12s %10.5f\n' "$side" perf "$n" "$w" "$(echo "$n / $w" | bc -l)"
  else
    echo "$side perf: unavailable (no tracepoint access)"
  fi
  strace -f --seccomp-bpf -c -e trace=futex -o "$tmp/strace" \
    "$bin" --only "$side" --reps 1 --threads "$threads" --seconds "$seconds" "$@" > "$tmp/out"
  n=$(awk '$NF == "futex" {print $4}' "$tmp/strace")
  n=${n:-0}
  w=$(total_writes "$side" "$tmp/out")
  printf '%-9s %-7s %12s %12s %10.5f\n' "$side" strace "$n" "$w" "$(echo "$n / $w" | bc -l)"
  sed -n "s/^$side /  (under strace) /p" "$tmp/out"
done
