#!/bin/bash
# python3 running an allocation-heavy script under LD_PRELOAD=libhakmem.so: same output.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
assert_loaded "$PY" -c pass
workload() {
  "$PY" "$HERE/alloc_heavy.py" || return $?
  # The preloaded run also proves the library is mapped into the interpreter.
  if [ -n "${LD_PRELOAD:-}" ]; then "$PY" "$HERE/alloc_heavy.py" --expect-hakmem --quick >/dev/null || return $?; fi
}
compare_workload python3
