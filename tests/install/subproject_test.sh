#!/usr/bin/env bash
# hakmem as a subproject of a user's build (FetchContent with SOURCE_DIR, i.e.
# add_subdirectory): the same three targets, hakmem::hakmem, hakmem::static and
# hakmem::override, as aliases; hakmem builds only its libraries then.
#   subproject_test.sh SOURCE_DIR
# shellcheck source=tests/install/lib.sh
source "$(dirname "$0")/lib.sh"
SRC=$(cd "$1" && pwd)
run_quiet "$TMP/configure.log" cmake -S "$HERE/consumer" -B "$TMP/b" -DHAKMEM_SOURCE_DIR="$SRC" \
  -DCMAKE_BUILD_TYPE=Release
grep -q 'hakmem_unit_tests\|vfsd' "$TMP/b/Makefile" && die "a subproject hakmem builds tests or vfsd"
run_quiet "$TMP/build.log" cmake --build "$TMP/b" -j2
check_consumers "$TMP/b"
echo "subproject test: passed"
