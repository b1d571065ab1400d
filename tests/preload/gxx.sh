#!/bin/bash
# g++ (driver, cc1plus, as, collect2, ld all preloaded) compiles a small C++ program; the
# program's output and the produced binary must be the same as without hakmem.
. "$(dirname "$0")/lib.sh"
command -v g++ >/dev/null || die "g++ not installed"
assert_loaded g++ --version
workload() {
  cp "$HERE/hello.cpp" "$1/hello.cpp" || return 1
  g++ -std=c++20 -O2 -Wall -o "$1/hello" hello.cpp || return $?
  "$1/hello" || return $?
  # The compiler's output itself, bit for bit.
  sha256sum <"$1/hello"
}
compare_workload g++
