# Shared by the preload tests: run a workload without and with LD_PRELOAD=libhakmem.so and
# compare. Source it after setting LIB (the path to libhakmem.so); define a function
# `workload DIR` that writes its deterministic output to stdout, then call
# `compare_workload NAME`.
set -u

die() { echo "FAIL: $*" >&2; exit 1; }

[ $# -ge 1 ] || die "usage: $0 /path/to/libhakmem.so"
LIB=$(readlink -f "$1")
[ -f "$LIB" ] || die "no such library: $1"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=$(mktemp -d /tmp/hakmem-preload.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
# Determinism of the programs themselves.
export LC_ALL=C TZ=UTC PYTHONHASHSEED=0
unset HAKMEM_VERBOSE HAKMEM_STATS HAKMEM_PROFILE

# assert_loaded PROGRAM ARGS...: the library really gets into PROGRAM (HAKMEM_VERBOSE=1
# makes it print its option table on stderr).
assert_loaded() {
  local err
  err=$(HAKMEM_VERBOSE=1 LD_PRELOAD="$LIB" "$@" 2>&1 >/dev/null) || true
  case "$err" in
    *PURGE_DELAY_MS*) ;;
    *) die "libhakmem.so was not loaded into '$*' (no option table with HAKMEM_VERBOSE=1): $err" ;;
  esac
}

# compare_workload NAME: runs `workload` in two fresh directories, the second time with
# LD_PRELOAD; stdout and exit status must match; the preloaded run must not report errors.
compare_workload() {
  local name=$1 base="$WORK/base" pre="$WORK/pre" rc_base rc_pre t0 t1 t2
  mkdir -p "$base" "$pre"
  t0=$(date +%s%N)
  (cd "$base" && workload "$base") >"$WORK/base.out" 2>"$WORK/base.err"
  rc_base=$?
  t1=$(date +%s%N)
  (cd "$pre" && export LD_PRELOAD="$LIB" && workload "$pre") >"$WORK/pre.out" 2>"$WORK/pre.err"
  rc_pre=$?
  t2=$(date +%s%N)
  echo "$name: glibc $(( (t1 - t0) / 1000000 )) ms, hakmem $(( (t2 - t1) / 1000000 )) ms," \
       "$(wc -l <"$WORK/base.out") lines of output"
  [ "$rc_base" -eq 0 ] || { cat "$WORK/base.err" >&2; die "$name fails even without hakmem (exit $rc_base)"; }
  if [ "$rc_pre" -ne 0 ]; then
    tail -n 30 "$WORK/pre.err" >&2
    die "$name under LD_PRELOAD exited with $rc_pre (without: 0)"
  fi
  if ! cmp -s "$WORK/base.out" "$WORK/pre.out"; then
    diff -u "$WORK/base.out" "$WORK/pre.out" | head -n 60 >&2
    die "$name: output under LD_PRELOAD differs from the run without hakmem"
  fi
  if grep -q "hakmem:" "$WORK/pre.err"; then
    grep "hakmem:" "$WORK/pre.err" | head -n 20 >&2
    die "$name: hakmem reported errors on stderr"
  fi
  [ -s "$WORK/base.out" ] || die "$name produced no output"
  echo "PASS: $name"
}
