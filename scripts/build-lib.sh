#!/usr/bin/env bash
# Builds the release libsuprsend.so and stages it in a tree laid out like an install (dist/ by
# default; scripts/install.sh copies from it into PREFIX):
#   lib/libsuprsend.so.X.Y.Z, .so.X (the SONAME) and .so      the library and its two symlinks
#   include/suprsend.h (and suprsend.hpp when include/ has it)
#   lib/pkgconfig/suprsend.pc                                  its prefix is the staging directory
#   lib/cmake/suprsend/suprsend-config.cmake, -config-version.cmake   (relocatable: no path inside)
#   bin/suprsend-events                                               when cli/build.sh exists
# Files are replaced only when their content changed, each by a rename, so a program or test
# using dist/ while another `make` runs never sees a missing or half-written library.
# The link flags live here rather than in Package.swift, where they would be unsafeFlags:
#   -static-stdlib       the Swift runtime goes inside the library: no toolchain needed to load it
#   --version-script     only suprsend_* is exported (a public @c also exports its Swift symbol)
#   -soname              libsuprsend.so.0, so ABI-compatible updates replace it in place
#   -z defs              a library missing at link time is a build error, not a load-time one
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
stage=${1:-$root/dist}
mkdir -p "$stage"
stage=$(cd "$stage" && pwd)

version=$(sed -n 's/^#define SUPRSEND_VERSION_STRING "\(.*\)"/\1/p' "$root/include/suprsend.h")
[ -n "$version" ] || { echo "build-lib: no SUPRSEND_VERSION_STRING in include/suprsend.h" >&2; exit 1; }
major=${version%%.*}

cd "$root"
swift build -c release --product suprsend \
  -Xswiftc -static-stdlib -Xswiftc -use-ld=lld \
  -Xlinker "--version-script=$root/scripts/exports.map" \
  -Xlinker "-soname=libsuprsend.so.$major" \
  -Xlinker -z -Xlinker defs
built=$(swift build -c release --show-bin-path)/libsuprsend.so
# A failure between writing a *.new.PID file and renaming it leaves nothing behind.
trap 'rm -f "$stage"/lib/*.new.$$ "$stage"/include/*.new.$$ "$stage"/lib/pkgconfig/*.new.$$ "$stage"/lib/cmake/suprsend/*.new.$$' EXIT

# put_file NEW DEST MODE: moves NEW over DEST unless DEST already has that content.
put_file() {
  if cmp -s "$1" "$2"; then rm -f "$1"; else chmod "$3" "$1"; mv -f "$1" "$2"; fi
}
# put_link TARGET LINK: LINK -> TARGET, replaced by a rename when it points elsewhere.
put_link() {
  [ -L "$2" ] && [ "$(readlink "$2")" = "$1" ] && return 0
  ln -sfn "$1" "$2.new.$$" && mv -Tf "$2.new.$$" "$2"
}
# put_text TEMPLATE DEST: the template with @PREFIX@, @VERSION@, @MAJOR@, @POINTER_SIZE@ filled in.
put_text() {
  sed -e "s|@PREFIX@|$stage|g" -e "s|@VERSION@|$version|g" -e "s|@MAJOR@|$major|g" \
      -e "s|@POINTER_SIZE@|$(( $(getconf LONG_BIT) / 8 ))|g" "$1" > "$2.new.$$"
  put_file "$2.new.$$" "$2" 644
}

mkdir -p "$stage/lib/pkgconfig" "$stage/lib/cmake/suprsend" "$stage/include"
real="libsuprsend.so.$version"
cp "$built" "$stage/lib/$real.new.$$"
strip --strip-unneeded "$stage/lib/$real.new.$$"
put_file "$stage/lib/$real.new.$$" "$stage/lib/$real" 755
put_link "$real" "$stage/lib/libsuprsend.so.$major"
put_link "libsuprsend.so.$major" "$stage/lib/libsuprsend.so"

for header in suprsend.h suprsend.hpp; do
  if [ -f "$root/include/$header" ]; then
    cp "$root/include/$header" "$stage/include/$header.new.$$"
    put_file "$stage/include/$header.new.$$" "$stage/include/$header" 644
  else
    rm -f "$stage/include/$header"
  fi
done
put_text "$root/pkgconfig/suprsend.pc.in" "$stage/lib/pkgconfig/suprsend.pc"
put_text "$root/cmake/suprsend-config.cmake.in" "$stage/lib/cmake/suprsend/suprsend-config.cmake"
put_text "$root/cmake/suprsend-config-version.cmake.in" "$stage/lib/cmake/suprsend/suprsend-config-version.cmake"
echo "build-lib: $stage/lib/$real ($(stat -c %s "$stage/lib/$real") bytes stripped)"

# The command-line tool, built against what was just staged (its contract: STAGE/include and
# STAGE/lib in, STAGE/bin/suprsend-events out, with the rpath $ORIGIN/../lib).
if [ -f "$root/cli/build.sh" ]; then
  bash "$root/cli/build.sh" "$stage"
  [ -x "$stage/bin/suprsend-events" ] || { echo "build-lib: cli/build.sh did not write $stage/bin/suprsend-events" >&2; exit 1; }
fi
