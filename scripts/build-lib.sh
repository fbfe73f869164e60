#!/usr/bin/env bash
# Builds the release libsuprsend.so and lays out dist/ (or another prefix) like an install:
#   PREFIX/lib/libsuprsend.so.X.Y.Z, .so.X (the SONAME) and .so, PREFIX/include/suprsend.h,
#   PREFIX/lib/pkgconfig/suprsend.pc with its prefix set to PREFIX.
# The link flags live here rather than in Package.swift, where they would be unsafeFlags:
#   -static-stdlib       the Swift runtime goes inside the library: no toolchain needed to load it
#   --version-script     only suprsend_* is exported (a public @c also exports its Swift symbol)
#   -soname              libsuprsend.so.0, so ABI-compatible updates replace it in place
#   -z defs              a library missing at link time is a build error, not a load-time one
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
prefix=${1:-$root/dist}
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)

version=$(sed -n 's/^#define SUPRSEND_VERSION_STRING "\(.*\)"/\1/p' "$root/include/suprsend.h")
major=${version%%.*}
[ -n "$version" ] || { echo "build-lib: no SUPRSEND_VERSION_STRING in include/suprsend.h" >&2; exit 1; }

cd "$root"
swift build -c release --product suprsend \
  -Xswiftc -static-stdlib -Xswiftc -use-ld=lld \
  -Xlinker "--version-script=$root/scripts/exports.map" \
  -Xlinker "-soname=libsuprsend.so.$major" \
  -Xlinker -z -Xlinker defs
built=$(swift build -c release --show-bin-path)/libsuprsend.so

mkdir -p "$prefix/lib/pkgconfig" "$prefix/include"
real="libsuprsend.so.$version"
rm -f "$prefix/lib/libsuprsend.so" "$prefix/lib/libsuprsend.so.$major" "$prefix/lib/$real"
cp "$built" "$prefix/lib/$real"
strip --strip-unneeded "$prefix/lib/$real"
ln -s "$real" "$prefix/lib/libsuprsend.so.$major"
ln -s "libsuprsend.so.$major" "$prefix/lib/libsuprsend.so"
cp "$root/include/suprsend.h" "$prefix/include/suprsend.h"
sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|$version|" "$root/pkgconfig/suprsend.pc.in" > "$prefix/lib/pkgconfig/suprsend.pc"
echo "build-lib: $prefix/lib/$real ($(stat -c %s "$prefix/lib/$real") bytes stripped)"
