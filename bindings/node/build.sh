#!/usr/bin/env bash
# bindings/node/build.sh: builds the Node-API addon (build/suprsend.node) with the C compiler,
# against the headers Node installs and the library in dist/ (this is `make node`). No node-gyp.
#
#   bindings/node/build.sh              release build: build/suprsend.node
#   SANITIZE=address bindings/node/build.sh OUT   an ASan build into OUT (see test-asan.sh)
#
# Environment: CC (default cc), NODE_INCLUDE (default: beside the running node, else
# /usr/include/node), SUPRSEND_DIST (default: the repository's dist/).
# The addon finds libsuprsend the way the Python binding does: beside itself ($ORIGIN, where an
# npm package puts it), then the repository's dist/lib, then the system's library path.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="${1:-$here/build}"
dist="${SUPRSEND_DIST:-$repo/dist}"
cc="${CC:-cc}"

inc="${NODE_INCLUDE:-}"
if [[ -z "$inc" ]]; then
    node_prefix="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")"
    for d in "$node_prefix/include/node" /usr/include/node /usr/local/include/node; do
        if [[ -f "$d/node_api.h" ]]; then inc="$d"; break; fi
    done
fi
if [[ -z "$inc" || ! -f "$inc/node_api.h" ]]; then
    echo "build.sh: node_api.h not found (set NODE_INCLUDE to the directory of Node's headers)" >&2
    exit 2
fi
if [[ ! -f "$dist/include/suprsend.h" || ! -e "$dist/lib/libsuprsend.so" ]]; then
    echo "build.sh: $dist has no libsuprsend (run \`make lib\` first)" >&2
    exit 2
fi

flags=(-O2 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter -fPIC -fvisibility=hidden)
if [[ -n "${SANITIZE:-}" ]]; then
    flags=(-O1 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter -fPIC
           -fsanitize="$SANITIZE" -fno-omit-frame-pointer)
fi
mkdir -p "$out"
# $ORIGIN: beside the addon; the second entry: dist/lib of this checkout, relative to build/.
rel="$(realpath --relative-to="$out" "$dist/lib")"
"$cc" "${flags[@]}" -shared -I"$inc" -I"$dist/include" "$here/src/addon.c" -o "$out/suprsend.node.tmp" \
    -L"$dist/lib" -lsuprsend -lpthread -ldl -Wl,--enable-new-dtags -Wl,-rpath,"\$ORIGIN:\$ORIGIN/$rel"
mv -f "$out/suprsend.node.tmp" "$out/suprsend.node"
echo "build.sh: $out/suprsend.node (Node-API 8, headers $inc)"
