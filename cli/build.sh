#!/usr/bin/env bash
# cli/build.sh DIR: builds the suprsend command-line tool against an installed libsuprsend,
# DIR/include/suprsend.h and DIR/lib/libsuprsend.so, and writes DIR/bin/suprsend-events. The binary
# finds the library through the rpath $ORIGIN/../lib, so DIR can be moved as a whole.
# Environment: CC (default cc), CFLAGS (added after ours).
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: cli/build.sh DIR   (DIR holds include/suprsend.h and lib/libsuprsend.so; writes DIR/bin/suprsend-events)" >&2
    exit 2
fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
prefix="$(cd "$1" && pwd)"
cc="${CC:-cc}"

for need in "$prefix/include/suprsend.h" "$prefix/lib/libsuprsend.so"; do
    if [[ ! -e "$need" ]]; then
        echo "cli/build.sh: $need is missing (make lib, or make install PREFIX=$1)" >&2
        exit 2
    fi
done

mkdir -p "$prefix/bin"
# Built into a temporary name and moved, so that a failed build leaves no half-written binary
# and a running one is not overwritten in place.
out="$prefix/bin/.suprsend-events.build.$$"
trap 'rm -f "$out"' EXIT
# shellcheck disable=SC2086
"$cc" -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -O2 -pthread \
    -I"$prefix/include" ${CFLAGS:-} \
    -o "$out" \
    "$here/main.c" "$here/track.c" "$here/import.c" "$here/progress.c" "$here/jsonline.c" \
    -L"$prefix/lib" -lsuprsend -pthread -Wl,-rpath,'$ORIGIN/../lib'
mv -f "$out" "$prefix/bin/suprsend-events"
trap - EXIT
echo "cli/build.sh: $prefix/bin/suprsend-events" >&2
