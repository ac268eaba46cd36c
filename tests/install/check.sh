#!/usr/bin/env bash
# Install check: installs nabla from the build tree into a temporary prefix and
# builds two consumers against that prefix only:
#   1. tests/install/consumer.c with  cc prog.c $(pkg-config --cflags --libs nabla)
#      (run with LD_LIBRARY_PATH; and once more linked against libnabla.a)
#   2. tests/install/CMakeLists.txt, a CMake project using find_package(nabla)
# Usage: bash tests/install/check.sh          (BUILD=dir to use another build tree)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${BUILD:-$root/build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
CC="${CC:-cc}"

tmp="$(mktemp -d)"  # the install prefix
work="$(mktemp -d)" # consumer builds
trap 'rm -rf "$tmp" "$work"' EXIT

step() { printf '== install check: %s\n' "$*"; }
die() { printf 'install check FAILED: %s\n' "$*" >&2; exit 1; }

# Only the libraries are needed: a test suite being written must not stop this check.
if [ ! -f "$build/CMakeCache.txt" ]; then
  step "configuring $build"
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
step "building the libraries"
cmake --build "$build" --target nabla nabla_static -j "$(nproc 2>/dev/null || echo 2)" >/dev/null

step "cmake --install $build --prefix $tmp"
cmake --install "$build" --prefix "$tmp" >/dev/null
[ -f "$tmp/include/nabla.h" ] || die "include/nabla.h was not installed"
pc="$(find "$tmp" -name nabla.pc -print -quit)"
[ -n "$pc" ] || die "nabla.pc was not installed"
pcdir="$(dirname "$pc")"
libdir="$(dirname "$pcdir")"
[ -f "$libdir/libnabla.a" ] || die "libnabla.a is not beside the pkgconfig directory ($libdir)"
ls "$libdir"/libnabla.so* >/dev/null 2>&1 || die "libnabla.so was not installed in $libdir"
find "$tmp" -name nablaConfig.cmake -print -quit | grep -q . || die "nablaConfig.cmake was not installed"

# --- 1. pkg-config -----------------------------------------------------------
export PKG_CONFIG_PATH="$pcdir"
step "pkg-config --cflags --libs nabla: $(pkg-config --cflags --libs nabla)"
# The .pc file must describe the prefix it was installed to, or a program would
# silently build against some other nabla (or not at all).
inc="$(pkg-config --variable=includedir nabla)"
pclib="$(pkg-config --variable=libdir nabla)"
same_dir() { [ -d "$1" ] && [ "$(cd "$1" && pwd -P)" = "$(cd "$2" && pwd -P)" ]; }
same_dir "$inc" "$tmp/include" ||
  die "nabla.pc gives includedir=$inc, not the install prefix $tmp/include (the .pc file is not relocatable)"
same_dir "$pclib" "$libdir" ||
  die "nabla.pc gives libdir=$pclib, not $libdir (the .pc file is not relocatable)"

step "cc consumer.c \$(pkg-config --cflags --libs nabla)"
# shellcheck disable=SC2046 # word splitting of the flags is intended
"$CC" -std=c11 -Wall -Wextra -Werror "$here/consumer.c" -o "$work/consumer_pc" \
  $(pkg-config --cflags --libs nabla) -lm
LD_LIBRARY_PATH="$libdir" "$work/consumer_pc"

step "cc consumer.c libnabla.a"
# shellcheck disable=SC2046
"$CC" -std=c11 -Wall -Wextra -Werror "$here/consumer.c" -o "$work/consumer_pc_static" \
  $(pkg-config --cflags nabla) "$libdir/libnabla.a" $(pkg-config --static --libs-only-l nabla | sed 's/-lnabla//')
"$work/consumer_pc_static"

# --- 2. find_package(nabla) -------------------------------------------------
step "find_package(nabla) consumer project"
cmake -S "$here" -B "$work/cmake" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$tmp" \
  -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF >"$work/cmake.log" ||
  { cat "$work/cmake.log"; die "configuring the find_package consumer"; }
found="$(sed -n 's/^nabla_DIR:PATH=//p' "$work/cmake/CMakeCache.txt")"
case "$(cd "$found" && pwd -P)" in
  "$(cd "$tmp" && pwd -P)"/*) ;;
  *) die "find_package(nabla) found $found, not the install prefix $tmp" ;;
esac
cmake --build "$work/cmake" >"$work/build.log" 2>&1 ||
  { cat "$work/build.log"; die "building the find_package consumer"; }
"$work/cmake/consumer"
"$work/cmake/consumer_static"

step "ok"
