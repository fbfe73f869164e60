#!/usr/bin/env bash
# bindings/node/pack.sh OUTDIR: the Node binding as an npm package with libsuprsend inside
# (OUTDIR/suprsend-native-VERSION.tgz), made with `npm pack` offline (this is `make node-pack`).
#
# The package holds index.js, index.d.ts, package.json, build/suprsend.node and
# build/libsuprsend.so.0 (the library, under its SONAME): the addon's run path starts with
# $ORIGIN, so it loads the copy beside it, and an installed package needs no build, no Swift and
# no libsuprsend on the system. Like the Python wheel, it uses the machine's libcurl, OpenSSL and
# SQLite (see README, "Python wheel", for the packages).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="$(mkdir -p "${1:-$repo/dist/node}" && cd "${1:-$repo/dist/node}" && pwd)"
lib="$(readlink -f "$repo/dist/lib/libsuprsend.so.0")"
[[ -f "$here/build/suprsend.node" ]] || { echo "pack.sh: build/suprsend.node missing (make node)" >&2; exit 2; }
[[ -f "$lib" ]] || { echo "pack.sh: dist/lib/libsuprsend.so.0 missing (make lib)" >&2; exit 2; }
header_version="$(sed -n 's/^#define SUPRSEND_VERSION_STRING "\(.*\)"$/\1/p' "$repo/include/suprsend.h")"
package_version="$(node -p 'require(process.argv[1]).version' "$here/package.json")"
if [[ "$header_version" != "$package_version" ]]; then
    echo "pack.sh: package.json's version $package_version is not suprsend.h's $header_version" >&2
    exit 2
fi
stage="$(mktemp -d "${TMPDIR:-/tmp}/suprsend-node-pack.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
cp "$here/index.js" "$here/index.d.ts" "$here/package.json" "$here/README.md" "$stage/"
mkdir -p "$stage/build"
cp "$here/build/suprsend.node" "$stage/build/"
cp "$lib" "$stage/build/libsuprsend.so.0"
# npm pack reads no registry; an empty cache directory keeps it from touching the user's.
(cd "$stage" && npm pack --offline --silent --cache "$stage/.npm-cache" --pack-destination "$out" >/dev/null)
tgz="$out/suprsend-native-$package_version.tgz"
echo "pack.sh: $tgz ($(du -h "$tgz" | cut -f1), sha256 $(sha256sum "$tgz" | cut -c1-16)...)"
