#!/bin/bash
# A subset of CPython's own regression tests (Debian's libpython3.11-testsuite) under
# LD_PRELOAD=libhakmem.so with PYTHONMALLOC=malloc, so every object goes through hakmem
# (issue 14, item 5). Runs the subset without hakmem first, then with it, and compares the
# outcome of every test case (cpython_compare.py): exactly the cases that pass without
# hakmem must pass with it. About a minute per run on 2 cores.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3  # Debian's interpreter: the testsuite package matches it, not a pyenv one
[ -x "$PY" ] || die "no /usr/bin/python3"
"$PY" -c "import test.support" 2>/dev/null ||
  die "CPython's test package is missing (apt-get install libpython3.11-testsuite)"
assert_loaded "$PY" -c pass
TESTS=(test_dict test_list test_set test_bytes test_unicode test_json test_threading test_re
       test_collections test_gc test_weakref test_array test_memoryview test_mmap test_struct
       test_deque test_tuple test_ordered_dict test_itertools test_functools test_heapq
       test_pickle test_string test_long test_float test_sort test_bisect test_copy
       test_marshal test_hashlib test_zlib test_csv test_enum test_class test_descr test_ast
       test_codecs test_decimal test_xml_etree test_dataclasses)
run() {  # xml-file, extra env...
  local xml=$1; shift
  (cd "$WORK" && env "$@" PYTHONMALLOC=malloc "$PY" -m test -j2 --timeout 300 \
     --junit-xml "$xml" "${TESTS[@]}") >"$xml.log" 2>&1
  tail -n 4 "$xml.log"
}
run "$WORK/base.xml"
run "$WORK/pre.xml" LD_PRELOAD="$LIB"
[ -s "$WORK/pre.xml" ] || { tail -n 40 "$WORK/pre.xml.log" >&2; die "no results under LD_PRELOAD"; }
if grep -q "hakmem:" "$WORK/pre.xml.log"; then
  grep "hakmem:" "$WORK/pre.xml.log" | head -n 20 >&2
  die "hakmem reported errors on stderr"
fi
"$PY" "$HERE/cpython_compare.py" "$WORK/base.xml" "$WORK/pre.xml" 5000 ||
  { grep -E "FAIL|ERROR|crash|Fatal" "$WORK/pre.xml.log" | head -n 40 >&2; die "cpython subset"; }
