#!/usr/bin/env bash
# cmake --install into a temporary prefix, then use it as a user would: find_package(hakmem)
# with each of the three targets, pkg-config (hakmem, hakmem-static, hakmem-override), the
# hakmem wrapper on real programs, and --help of every program against its man page.
#   install_test.sh BUILD_DIR SOURCE_DIR
# shellcheck source=tests/install/lib.sh
source "$(dirname "$0")/lib.sh"
BUILD=$1
SRC=$2
P=$TMP/prefix
run_quiet "$TMP/install.log" cmake --install "$BUILD" --prefix "$P"
libdir=$(sed -n 's/^CMAKE_INSTALL_LIBDIR:PATH=//p' "$BUILD/CMakeCache.txt")
L=$P/$libdir

# ---- files
for f in "$L/libhakmem.so.$LIBV" "$L/libhakmem.so.0" "$L/libhakmem.so" "$L/libhakmem.a" \
         "$L/libhakmem_override.a" "$P/include/hakmem/hakmem.h" "$P/include/hakmem/hakmem.hpp" \
         "$L/cmake/hakmem/hakmemConfig.cmake" "$L/cmake/hakmem/hakmemConfigVersion.cmake" \
         "$L/pkgconfig/hakmem.pc" "$L/pkgconfig/hakmem-static.pc" "$L/pkgconfig/hakmem-override.pc" \
         "$P/bin/hakmem" "$P/bin/hakmem-stat" "$P/bin/vfsd" \
         "$P/share/man/man1/hakmem.1" "$P/share/man/man1/hakmem-stat.1" "$P/share/man/man1/vfsd.1" \
         "$P/share/doc/hakmem/README.md" "$P/share/doc/hakmem/copyright"; do
  [ -e "$f" ] || die "not installed: $f"
done
readelf -d "$L/libhakmem.so" | grep -q 'SONAME.*\[libhakmem.so.0\]' || die "no SONAME libhakmem.so.0"
grep -q "^prefix=$P\$" "$L/pkgconfig/hakmem.pc" || die "hakmem.pc names another prefix: $(head -1 "$L/pkgconfig/hakmem.pc")"

# ---- find_package(hakmem) with hakmem::hakmem, hakmem::static, hakmem::override
run_quiet "$TMP/consumer.log" cmake -S "$HERE/consumer" -B "$TMP/consumer" \
  -DCMAKE_PREFIX_PATH="$P" -DCMAKE_BUILD_TYPE=Release -DHAKMEM_VERSION_WANTED="$V"
run_quiet "$TMP/consumer-build.log" cmake --build "$TMP/consumer" -j2
check_consumers "$TMP/consumer"
# A version the package does not provide is refused.
mkdir -p "$TMP/v"
printf 'cmake_minimum_required(VERSION 3.20)\nproject(v NONE)\nfind_package(hakmem 99.0 CONFIG REQUIRED)\n' \
  >"$TMP/v/CMakeLists.txt"
if cmake -S "$TMP/v" -B "$TMP/v/b" -DCMAKE_PREFIX_PATH="$P" >"$TMP/v.log" 2>&1; then
  die "find_package(hakmem 99.0) accepted version $V"
fi

# ---- pkg-config
export PKG_CONFIG_PATH=$L/pkgconfig
c=$HERE/consumer
# shellcheck disable=SC2046  # the flags are meant to be split
g++ -O1 -o "$TMP/pc_shared" "$c/replaced.cpp" $(pkg-config --cflags --libs hakmem)
LD_LIBRARY_PATH=$L "$TMP/pc_shared" || die "pkg-config hakmem: malloc not replaced"
needed "$TMP/pc_shared" | grep -qx libhakmem.so.0 || die "pkg-config hakmem: not linked to libhakmem.so.0"
# shellcheck disable=SC2046
gcc -O1 -o "$TMP/pc_static" "$c/use_static.c" $(pkg-config --cflags --libs --static hakmem-static)
"$TMP/pc_static" || die "pkg-config --static hakmem-static"
# shellcheck disable=SC2046
g++ -O1 -o "$TMP/pc_override" "$c/replaced.cpp" $(pkg-config --cflags --libs --static hakmem-override)
"$TMP/pc_override" || die "pkg-config --static hakmem-override: malloc not replaced"
# shellcheck disable=SC2046
gcc -O1 -o "$TMP/pc_via_libc" "$c/via_libc.c" $(pkg-config --cflags --libs --static hakmem-override)
"$TMP/pc_via_libc" || die "pkg-config hakmem-override: the override is not linked whole"
# shellcheck disable=SC2046
g++ -O1 -static -o "$TMP/pc_override_static" "$c/replaced.cpp" \
  $(pkg-config --cflags --libs --static hakmem-override) 2>"$TMP/static-link.log" ||
  { cat "$TMP/static-link.log"; die "fully static link with hakmem-override"; }
"$TMP/pc_override_static" || die "fully static program: malloc not replaced"
if needed "$TMP/pc_static" "$TMP/pc_override" | grep -q libhakmem; then
  die "a pkg-config static program needs libhakmem.so"
fi

# ---- the hakmem wrapper
H=$P/bin/hakmem
lib=$L/libhakmem.so.0
"$H" --help >"$TMP/help.hakmem"
grep -q 'hakmem run' "$TMP/help.hakmem" || die "hakmem --help"
"$H" --version | grep -qx "hakmem $V ($lib)" || die "hakmem --version: $("$H" --version)"
[ "$("$H" lib)" = "$lib" ] || die "hakmem lib: $("$H" lib)"
# (Outputs captured whole: grep -q in a pipe would end the writer early under pipefail.)
maps=$("$H" run cat /proc/self/maps)
grep -q "$L/libhakmem.so.$LIBV" <<<"$maps" || die "hakmem run: library not mapped"
out=$("$H" run -s python3 -c pass 2>&1)
grep -q '^hakmem: statistics' <<<"$out" || die "hakmem run -s python3: no summary"
# shellcheck disable=SC2016  # expanded by the child shell
[ "$("$H" run -o purge_delay_ms=0 sh -c 'echo "$HAKMEM_PURGE_DELAY_MS"')" = 0 ] || die "hakmem run -o"
other=$(readlink -f "$(gcc -print-file-name=libm.so.6)")
# shellcheck disable=SC2016
[ "$(LD_PRELOAD=$other "$H" run sh -c 'echo "$LD_PRELOAD"')" = "$lib $other" ] ||
  die "hakmem run does not put the library in front of LD_PRELOAD"
out=$(HAKMEM_VERBOSE=1 "$H" run true 2>&1)
grep -q 'PURGE_DELAY_MS' <<<"$out" || die "HAKMEM_* not passed through"
"$H" stat list >/dev/null || die "hakmem stat list"
set +e
"$H" run >/dev/null 2>&1; [ $? -eq 2 ] || die "hakmem run without a program: not status 2"
"$H" run /nonexistent/program 2>/dev/null; [ $? -eq 127 ] || die "hakmem run of a missing program: not 127"
"$H" run --library /nonexistent.so true 2>/dev/null; [ $? -eq 127 ] || die "missing library: not 127"
set -e

# ---- every long option of each program's --help is in its man page (and vfsd's README)
longopts() { grep -o -- '--[a-z][a-z-]*' | grep -vx -- '--help' | sort -u; }
man_text() { sed 's/\\-/-/g' "$P/share/man/man1/$1.1"; }
check_opts() {  # page, file with the help text, [more documents]
  local page=$1 help=$2; shift 2
  local opts; opts=$(longopts <"$help")
  [ -n "$opts" ] || die "$page --help lists no options"
  man_text "$page" >"$TMP/man.$page"
  for o in $opts; do
    grep -q -- "$o" "$TMP/man.$page" || die "$page: $o of --help is not in its man page"
    for doc in "$@"; do grep -q -- "$o" "$doc" || die "$page: $o of --help is not in $doc"; done
  done
}
check_opts hakmem "$TMP/help.hakmem" "$SRC/README.md"
"$P/bin/hakmem-stat" --help >"$TMP/help.stat"
for sub in show watch export reset list clean heap session; do
  "$P/bin/hakmem-stat" "$sub" --help >>"$TMP/help.stat"
  man_text hakmem-stat >"$TMP/man.stat"
  grep -q "^\.B[IR]* $sub" "$TMP/man.stat" || die "hakmem-stat: $sub not in the man page"
done
check_opts hakmem-stat "$TMP/help.stat"
"$P/bin/vfsd" --help >"$TMP/help.vfsd"
check_opts vfsd "$TMP/help.vfsd" "$SRC/vfsd/README.md"
echo "install test: passed"
