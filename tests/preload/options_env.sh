#!/bin/bash
# Item 10 through libhakmem.so: a bad HAKMEM_ value gives exactly one warning and the
# program works; HAKMEM_VERBOSE=1 prints the option table; by default hakmem is silent.
. "$(dirname "$0")/lib.sh"
run() { # run ENV... -- prints stdout to $WORK/out, stderr to $WORK/err
  env "$@" LD_PRELOAD="$LIB" /bin/echo hello >"$WORK/out" 2>"$WORK/err"
}
run || die "echo failed under LD_PRELOAD"
[ "$(cat "$WORK/out")" = hello ] || die "wrong output"
[ ! -s "$WORK/err" ] || die "hakmem printed something by default: $(cat "$WORK/err")"

run HAKMEM_PURGE_DELAY_MS=abc || die "echo failed with a bad option value"
[ "$(cat "$WORK/out")" = hello ] || die "wrong output with a bad option value"
n=$(grep -c . "$WORK/err")
[ "$n" -eq 1 ] || { cat "$WORK/err" >&2; die "expected exactly one warning line, got $n"; }
grep -q PURGE_DELAY_MS "$WORK/err" || die "the warning does not name the option: $(cat "$WORK/err")"

run HAKMEM_VERBOSE=1 HAKMEM_PURGE_DELAY_MS=555 || die "echo failed with HAKMEM_VERBOSE=1"
[ "$(cat "$WORK/out")" = hello ] || die "wrong output with HAKMEM_VERBOSE=1"
grep PURGE_DELAY_MS "$WORK/err" | grep -q 555 || { cat "$WORK/err" >&2; die "verbose table lacks PURGE_DELAY_MS=555"; }

# A multithreaded program that forks and execs: one warning per process, no more.
cnt=$(HAKMEM_PURGE_DELAY_MS=abc LD_PRELOAD="$LIB" /bin/sh -c '/bin/echo a; /bin/echo b; :' 2>&1 >/dev/null | grep -c PURGE_DELAY_MS)
[ "$cnt" -eq 3 ] || die "expected one warning per process (3), got $cnt"
echo "PASS: options through the environment"
