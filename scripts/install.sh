#!/usr/bin/env bash
# Installs the staged build (dist/, from scripts/build-lib.sh; `make install` runs both) into PREFIX:
#   scripts/install.sh PREFIX [DESTDIR]
# Files go under DESTDIR/PREFIX; every path written into a file (the .pc's prefix) is PREFIX, so a
# packager stages into DESTDIR and ships the tree as it is. The CMake package and the command-line
# tool (rpath $ORIGIN/../lib) hold no absolute path at all.
# Each file is installed by a rename: a process that has the old library mapped keeps it intact.
# Afterwards, without DESTDIR: when PREFIX/lib is one of the dynamic linker's directories (ld.so.conf,
# or /lib and /usr/lib), root refreshes its cache with ldconfig, so `-lsuprsend` programs without
# an rpath and ctypes.util.find_library find the library at once; otherwise it says what to do.
# Environment: SUPRSEND_STAGE=DIR installs from DIR instead of dist/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
stage=${SUPRSEND_STAGE:-$root/dist}
prefix=${1:?usage: scripts/install.sh PREFIX [DESTDIR]}
destdir=${2:-}

case $prefix in
  /*) ;;
  *) prefix="$PWD/$prefix"; echo "install: PREFIX is relative; using $prefix" >&2 ;;
esac
prefix=${prefix%/}
[ -n "$prefix" ] || prefix=/
case $destdir in
  ''|/*) ;;
  *) destdir="$PWD/$destdir" ;;
esac
destdir=${destdir%/}

version=$(sed -n 's/^#define SUPRSEND_VERSION_STRING "\(.*\)"/\1/p' "$stage/include/suprsend.h" 2>/dev/null || true)
[ -n "$version" ] || { echo "install: no staged build in $stage (run make lib, or make install)" >&2; exit 1; }
major=${version%%.*}
real="libsuprsend.so.$version"
[ -f "$stage/lib/$real" ] || { echo "install: $stage/lib/$real is missing (run make lib)" >&2; exit 1; }

target="$destdir$prefix"
trap 'rm -f "$target"/lib/*.new.$$ "$target"/include/*.new.$$ "$target"/bin/*.new.$$ "$target"/lib/pkgconfig/*.new.$$ "$target"/lib/cmake/suprsend/*.new.$$' EXIT

# put FILE DEST MODE: DEST gets FILE's content by a rename of a copy beside it.
put() {
  mkdir -p "$(dirname "$2")"
  cp "$1" "$2.new.$$"
  chmod "$3" "$2.new.$$"
  mv -f "$2.new.$$" "$2"
}
# link TARGET LINK
link() {
  ln -sfn "$1" "$2.new.$$"
  mv -Tf "$2.new.$$" "$2"
}

put "$stage/lib/$real" "$target/lib/$real" 755
link "$real" "$target/lib/libsuprsend.so.$major"
link "libsuprsend.so.$major" "$target/lib/libsuprsend.so"
put "$stage/include/suprsend.h" "$target/include/suprsend.h" 644
[ ! -f "$stage/include/suprsend.hpp" ] || put "$stage/include/suprsend.hpp" "$target/include/suprsend.hpp" 644
# The .pc is made again from its template: its prefix is PREFIX, not the staging directory.
mkdir -p "$target/lib/pkgconfig"
sed -e "s|@PREFIX@|$prefix|g" -e "s|@VERSION@|$version|g" "$root/pkgconfig/suprsend.pc.in" > "$target/lib/pkgconfig/suprsend.pc.new.$$"
chmod 644 "$target/lib/pkgconfig/suprsend.pc.new.$$"
mv -f "$target/lib/pkgconfig/suprsend.pc.new.$$" "$target/lib/pkgconfig/suprsend.pc"
for file in suprsend-config.cmake suprsend-config-version.cmake; do
  put "$stage/lib/cmake/suprsend/$file" "$target/lib/cmake/suprsend/$file" 644
done
[ ! -f "$stage/bin/suprsend-events" ] || put "$stage/bin/suprsend-events" "$target/bin/suprsend-events" 755
echo "install: libsuprsend $version in $target (lib, include, lib/pkgconfig, lib/cmake/suprsend$([ -f "$target/bin/suprsend-events" ] && echo ", bin"))"

if [ -n "$destdir" ]; then
  echo "install: DESTDIR is set: ldconfig not run (the package's own install step runs it)"
  exit 0
fi

# Is PREFIX/lib one of the directories ldconfig caches? Compared as files (-ef), since /lib and
# /usr/lib, or /usr/local/lib and a symlink to it, are the same directory under two names.
ldconfig=$(command -v ldconfig || echo /sbin/ldconfig)
libdir="$prefix/lib"
in_linker_path=no
while IFS= read -r dir; do
  if [ "$dir" -ef "$libdir" ]; then in_linker_path=yes; break; fi
done < <("$ldconfig" -v -N -X 2>/dev/null | sed -n 's|^\(/[^:]*\):.*|\1|p')

if [ "$in_linker_path" = yes ]; then
  if [ "$(id -u)" -eq 0 ]; then
    "$ldconfig"
    echo "install: ran ldconfig: $libdir is in the dynamic linker's path, programs find libsuprsend.so.$major without an rpath"
  else
    echo "install: $libdir is in the dynamic linker's path, but its cache is refreshed only by root: run 'sudo ldconfig'" >&2
  fi
else
  cat >&2 <<EOF
install: $libdir is not in the dynamic linker's path, so a program linked with -lsuprsend finds
  the library only with an rpath (cc ... -Wl,-rpath,$libdir), with LD_LIBRARY_PATH=$libdir,
  or once the directory is added (as root): echo $libdir > /etc/ld.so.conf.d/suprsend.conf && ldconfig
  pkg-config: PKG_CONFIG_PATH=$libdir/pkgconfig    CMake: -DCMAKE_PREFIX_PATH=$prefix
EOF
fi
