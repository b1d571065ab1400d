# shellcheck shell=bash disable=SC2034  # sourced: the variables are used by the tests
# Shared by the install tests: failure reporting, a temporary directory removed at exit, and
# the consumer checks (the same for an installed prefix and for FetchContent).
set -euo pipefail
die() { echo "FAIL: $*" >&2; exit 1; }
TMP=$(mktemp -d /tmp/hakmem-install-test.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
# Versions from CMake (ctest passes them); the defaults are for running a script by hand.
V=${HAKMEM_TEST_VERSION:-0.1}
LIBV=${HAKMEM_TEST_LIB_VERSION:-0.1.0}
Vre=${V//./\\.}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

run_quiet() {  # log, command...: run, showing the log only on failure
  local log=$1; shift
  "$@" >"$log" 2>&1 || { cat "$log" >&2; die "failed: $*"; }
}

needed() {  # binary: its DT_NEEDED names
  readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'
}

# The three programs of tests/install/consumer, built in $1: malloc replaced through
# libhakmem.so (linked, SONAME libhakmem.so.0) and through the static override (no
# libhakmem.so), the prefixed API alone without replacing malloc.
check_consumers() {
  local dir=$1
  "$dir/use_shared" || die "use_shared (hakmem::hakmem)"
  "$dir/use_override" || die "use_override (hakmem::override)"
  "$dir/use_static" || die "use_static (hakmem::static)"
  "$dir/override_via_libc" || die "override_via_libc (hakmem::override not whole-archive)"
  needed "$dir/use_shared" | grep -qx 'libhakmem.so.0' ||
    die "use_shared does not need libhakmem.so.0: $(needed "$dir/use_shared" | tr '\n' ' ')"
  if needed "$dir/use_override" "$dir/use_static" "$dir/override_via_libc" | grep -q libhakmem; then
    die "a static consumer needs libhakmem.so"
  fi
}
