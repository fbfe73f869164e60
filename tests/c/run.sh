#!/usr/bin/env bash
# tests/c/run.sh: build and install libsuprsend into a temporary prefix, compile the C test
# program against it with pkg-config only, start the local hub, run the tests, stop the hub.
#
# Works from any directory. Environment:
#   SUPRSEND_PREFIX=DIR     install into (or use) DIR instead of a temporary prefix
#   SUPRSEND_SKIP_BUILD=1   do not run `make install`: DIR (SUPRSEND_PREFIX) is already installed
#   SUPRSEND_TEST_VERBOSE=1 print every passing check too
#   SUPRSEND_TEST_KEEP=1    keep the work directory (hub database, binary) for inspection
#   CC, CXX                 compilers (default cc, c++)
# Exit status: the test program's (0 only when every check passed).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/suprsend-ctest.XXXXXX")"
prefix="${SUPRSEND_PREFIX:-$work/prefix}"
cc="${CC:-cc}"
cxx="${CXX:-c++}"
hub_pid=""

cleanup() {
    if [[ -n "$hub_pid" ]] && kill -0 "$hub_pid" 2>/dev/null; then
        kill "$hub_pid" 2>/dev/null || true
        wait "$hub_pid" 2>/dev/null || true
    fi
    if [[ "${SUPRSEND_TEST_KEEP:-0}" == 1 ]]; then
        echo "run.sh: work directory kept: $work" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. The library, installed into a prefix.
if [[ "${SUPRSEND_SKIP_BUILD:-0}" != 1 ]]; then
    echo "run.sh: make install PREFIX=$prefix" >&2
    make -C "$repo" install PREFIX="$prefix" >&2
fi
if [[ ! -f "$prefix/lib/pkgconfig/suprsend.pc" ]]; then
    echo "run.sh: no suprsend.pc under $prefix/lib/pkgconfig" >&2
    exit 2
fi
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
cflags="$(pkg-config --cflags suprsend)"
libs="$(pkg-config --libs suprsend)"
libdir="$(pkg-config --variable=libdir suprsend 2>/dev/null || true)"
libdir="${libdir:-$prefix/lib}"

# 2. The header compiles as strict C and as C++.
# shellcheck disable=SC2086
{
    printf '#include <suprsend.h>\nint main(void) { return suprsend_version_number() == SUPRSEND_VERSION_NUMBER ? 0 : 1; }\n' \
        | "$cc" -x c -std=c99 -pedantic -Wall -Wextra -Werror $cflags -fsyntax-only -
    printf '#include <suprsend.h>\n#include <cstdio>\nint main() { std::printf("%%s\\n", suprsend_status_name(SUPRSEND_OK)); return 0; }\n' \
        | "$cxx" -x c++ -std=c++11 -pedantic -Wall -Wextra -Werror $cflags -fsyntax-only -
    "$cxx" -x c++ -Wall -Wextra -Werror $cflags -fsyntax-only "$prefix/include/suprsend.h"
}
echo "run.sh: the header compiles as C99 and C++11" >&2

# 3. The test program, with pkg-config's flags only (plus pthreads).
# shellcheck disable=SC2086
"$cc" -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -O1 -g -pthread $cflags \
    -o "$work/test_suprsend" "$here/test_suprsend.c" $libs -pthread

# 4. The hub, on a free loopback port.
key="${SUPRSEND_TEST_WORKSPACE_KEY:-ws_test_key_c_0123456789}"
secret="${SUPRSEND_TEST_WORKSPACE_SECRET:-ws_test_secret_c_9f8e7d6c5b4a}"
. "$repo/tools/hub/start-hub.sh"
start_hub "$work" --workspace "$key:$secret" --workspace "demo_key:demo_secret" --db "$work/hub.db" \
    --max-event-bytes 819200 --quiet || exit 2
hub_pid=$HUB_PID
port=$HUB_PORT
echo "run.sh: hub on 127.0.0.1:$port (pid $hub_pid)" >&2

# 5. The tests. The library is found through its libdir (no rpath in pkg-config's flags).
status=0
LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    "$work/test_suprsend" "http://127.0.0.1:$port/" "$key" "$secret" || status=$?
exit "$status"
