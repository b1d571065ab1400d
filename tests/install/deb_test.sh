#!/usr/bin/env bash
# The Debian package: cpack -G DEB of this build tree (the CPack configuration scripts/package
# uses), checked with dpkg-deb: metadata (Depends from shlibdeps, shlibs, ldconfig in
# postinst/postrm), the library in the multiarch directory with its links, headers, CMake
# and pkg-config files naming /usr, the programs, the wrapper, man pages and the licence.
# Nothing is installed on the machine. Exit 77 (skipped) without cpack or dpkg-deb.
#   deb_test.sh BUILD_DIR
# shellcheck source=tests/install/lib.sh
source "$(dirname "$0")/lib.sh"
BUILD=$(cd "$1" && pwd)
for t in cpack dpkg-deb dpkg-shlibdeps; do
  command -v "$t" >/dev/null || { echo "SKIP: $t not installed"; exit 77; }
done
arch=$(dpkg --print-architecture)
multiarch=$(sed -n 's/^CMAKE_INSTALL_LIBDIR:PATH=//p' "$BUILD/CMakeCache.txt")
case $multiarch in
  lib/*-linux-gnu) ;;
  # A tree first configured before the multiarch default keeps its cached libdir.
  *) echo "SKIP: libdir '$multiarch' is not multiarch: cmake -U CMAKE_INSTALL_LIBDIR $BUILD"; exit 77 ;;
esac
run_quiet "$TMP/cpack.log" cpack -G DEB --config "$BUILD/CPackConfig.cmake" -B "$TMP/out"
debs=("$TMP"/out/hakmem_*_"$arch".deb)
[ -f "${debs[0]}" ] || die "no hakmem_*_$arch.deb in $(ls "$TMP/out")"
deb=${debs[0]}

info=$(dpkg-deb -I "$deb")
for pat in '^ Package: hakmem$' "^ Version: $Vre\$" "^ Architecture: $arch\$" '^ Depends: .*libc6' \
           '^ Depends: .*libfuse3' '^ Depends: .*libfmt' '^ Recommends: fuse3' ' postinst ' \
           ' postrm ' ' shlibs ' '^  hakmem replaces malloc'; do
  grep -q "$pat" <<<"$info" || die "dpkg-deb -I: no '$pat' in:
$info"
done
dpkg-deb -e "$deb" "$TMP/control"
grep -q ldconfig "$TMP/control/postinst" || die "postinst does not run ldconfig"
grep -q ldconfig "$TMP/control/postrm" || die "postrm does not run ldconfig"
grep -qx "libhakmem 0 hakmem (>= $V)" "$TMP/control/shlibs" || die "shlibs: $(cat "$TMP/control/shlibs")"

contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
L=./usr/$multiarch
for f in "$L/libhakmem.so.$LIBV" "$L/libhakmem.so.0" "$L/libhakmem.so" "$L/libhakmem.a" \
         "$L/libhakmem_override.a" "$L/cmake/hakmem/hakmemConfig.cmake" \
         "$L/cmake/hakmem/hakmemTargets.cmake" "$L/pkgconfig/hakmem.pc" \
         "$L/pkgconfig/hakmem-static.pc" "$L/pkgconfig/hakmem-override.pc" \
         ./usr/include/hakmem/hakmem.h ./usr/include/hakmem/hakmem.hpp \
         ./usr/bin/hakmem ./usr/bin/hakmem-stat ./usr/bin/vfsd \
         ./usr/share/man/man1/hakmem.1 ./usr/share/man/man1/hakmem-stat.1 ./usr/share/man/man1/vfsd.1 \
         ./usr/share/doc/hakmem/copyright ./usr/share/doc/hakmem/README.md; do
  grep -qx -- "$f" <<<"$contents" || die "not in the package: $f"
done
if grep -v '^\./usr/' <<<"$contents" | grep -qvx '\./'; then
  die "files outside /usr: $(grep -v '^\./usr/' <<<"$contents")"
fi

# The generated files name /usr, not the staging directory cpack installed to.
dpkg-deb -x "$deb" "$TMP/root"
grep -qx "LIBRARY='/usr/$multiarch/libhakmem.so.0'" "$TMP/root/usr/bin/hakmem" ||
  die "wrapper: $(grep ^LIBRARY= "$TMP/root/usr/bin/hakmem")"
grep -qx 'prefix=/usr' "$TMP/root/usr/$multiarch/pkgconfig/hakmem.pc" || die "hakmem.pc prefix"
if grep -rlq "$TMP" "$TMP/root"; then die "staging path in: $(grep -rl "$TMP" "$TMP/root")"; fi
[ -x "$TMP/root/usr/bin/hakmem" ] || die "wrapper not executable"
echo "deb test: passed ($(basename "$deb"))"
