#!/bin/bash
# Runs the memcheck programs (tests/valgrind): the clean one must give no error and no leak,
# the buggy one must get its use after free and its leak reported. Usage:
# memcheck.sh VALGRIND VG_CLEAN VG_BUGS
set -u
VG=$1 CLEAN=$2 BUGS=$3
OUT=$(mktemp -d /tmp/hakmem-vg.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
die() { echo "FAIL: $*" >&2; exit 1; }
run() {  # log, program
  # nouserintercepts: memcheck must not replace the malloc linked into the program itself.
  "$VG" --tool=memcheck --soname-synonyms=somalloc=nouserintercepts --error-exitcode=99 \
        --suppressions="$(dirname "$0")/hakmem.supp" --leak-check=full --show-leak-kinds=definite,possible \
        --errors-for-leak-kinds=definite,possible --log-file="$1" "$2" >"$1.out" 2>&1
}
run "$OUT/clean.log" "$CLEAN"
rc=$?
[ "$rc" -eq 0 ] || { cat "$OUT/clean.log" "$OUT/clean.log.out" | head -n 80 >&2; die "clean program: exit $rc under memcheck (errors reported)"; }
grep -q "ERROR SUMMARY: 0 errors" "$OUT/clean.log" || { cat "$OUT/clean.log" >&2; die "clean program: errors"; }
grep -q "^clean: " "$OUT/clean.log.out" || die "clean program printed nothing"
echo "PASS: clean program, no errors: $(grep -E 'total heap usage' "$OUT/clean.log" | sed 's/^==[0-9]*== *//')"
run "$OUT/bugs.log" "$BUGS"
rc=$?
[ "$rc" -eq 99 ] || { cat "$OUT/bugs.log" >&2; die "buggy program: exit $rc, expected memcheck's 99"; }
grep -q "Invalid read of size 1" "$OUT/bugs.log" || { cat "$OUT/bugs.log" >&2; die "use after free not reported"; }
grep -q "inside a block of size 64 free'd" "$OUT/bugs.log" || { cat "$OUT/bugs.log" >&2; die "use after free not tied to the freed block"; }
grep -q "Invalid free() / delete / delete\[\] / realloc()" "$OUT/bugs.log" || { cat "$OUT/bugs.log" >&2; die "double free not reported"; }
grep -q "100 bytes in 1 blocks are definitely lost" "$OUT/bugs.log" || { cat "$OUT/bugs.log" >&2; die "leak not reported"; }
echo "PASS: buggy program: use after free, double free and leak reported"
