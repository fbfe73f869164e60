#!/usr/bin/env bash
# tests/c/run.sh: build and install libsuprsend into a temporary prefix, compile the C test
# programs against it with pkg-config only, start the local hub, run the tests (test_suprsend,
# then test_background and test_outbox against the same hub), stop the hub.
#
# Works from any directory. Environment:
#   SUPRSEND_PREFIX=DIR     install into (or use) DIR instead of a temporary prefix
#   SUPRSEND_SKIP_BUILD=1   do not run `make install`: DIR (SUPRSEND_PREFIX) is already installed
#   SUPRSEND_TEST_VERBOSE=1 print every passing check too
#   SUPRSEND_TEST_KEEP=1    keep the work directory (hub database, binary) for inspection
#   CC, CXX                 compilers (default cc, c++)
# TLS: a second hub serves HTTPS with certificates made now (tests/tls/make-certs.sh, needs the
# openssl command). As root, the test CA is also put in the system's CA store for one short,
# second run of the trust checks, and taken out again right after (and on exit); otherwise those
# checks are skipped with a note.
# test_outbox also links SQLite's own library (pkg-config sqlite3: Debian's libsqlite3-dev), to
# build foreign databases and hold a write transaction from another process; its full-disk
# scenario mounts a small tmpfs, so as root only (otherwise it prints a SKIP note).
# Exit status: 0 only when every test program passed every check.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/suprsend-ctest.XXXXXX")"
. "$repo/tools/hub/start-hub.sh"  # start_hub, stop_hub
prefix="${SUPRSEND_PREFIX:-$work/prefix}"
cc="${CC:-cc}"
cxx="${CXX:-c++}"
hub_pid=""

cleanup() {
    stop_hub "$hub_pid"
    # A tmpfs test_outbox mounted and could not unmount (it was killed): unmounted before rm.
    if [[ -r /proc/mounts ]] && grep -q " $work/" /proc/mounts; then
        grep " $work/" /proc/mounts | cut -d' ' -f2 | sort -r | while read -r m; do umount -l "$m" || true; done
    fi
    if [[ "${SUPRSEND_TEST_KEEP:-0}" == 1 ]]; then
        echo "run.sh: work directory kept: $work" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. The library, installed into a prefix (tests/c/prefix.sh): sets cflags, libs, libdir.
# shellcheck source=tests/c/prefix.sh
. "$here/prefix.sh"
use_prefix run.sh "$repo" "$prefix" || exit $?

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

# 3. The test programs, with pkg-config's flags only (plus pthreads).
for prog in test_suprsend test_background; do
    # shellcheck disable=SC2086
    "$cc" -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -O1 -g -pthread $cflags \
        -o "$work/$prog" "$here/$prog.c" $libs -pthread
done
if ! sqlite_cflags="$(pkg-config --cflags sqlite3)" || ! sqlite_libs="$(pkg-config --libs sqlite3)"; then
    echo "run.sh: test_outbox needs SQLite's development files (pkg-config sqlite3; apt-get install libsqlite3-dev)" >&2
    exit 2
fi
# shellcheck disable=SC2086
"$cc" -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -O1 -g -pthread $cflags $sqlite_cflags \
    -o "$work/test_outbox" "$here/test_outbox.c" $libs $sqlite_libs -pthread

# 4. The hub, on a free loopback port.
key="${SUPRSEND_TEST_WORKSPACE_KEY:-ws_test_key_c_0123456789}"
secret="${SUPRSEND_TEST_WORKSPACE_SECRET:-ws_test_secret_c_9f8e7d6c5b4a}"
start_hub "$work" --workspace "$key:$secret" --workspace "demo_key:demo_secret" --db "$work/hub.db" \
    --max-event-bytes 819200 --quiet || exit 2
hub_pid=$HUB_PID
port=$HUB_PORT
echo "run.sh: hub on 127.0.0.1:$port (pid $hub_pid)" >&2

# ---- TLS, part 1 (test_suprsend.c, test_tls): throw-away certificates (tests/tls/make-certs.sh)
# and a second hub serving HTTPS with a certificate of the test CA. Part 2 is after the tests.
tls_hub_pid=""
tls_system_ca=/usr/local/share/ca-certificates/suprsend-test-ca.crt
tls_system_ca_added=0
tls_cleanup() {
    stop_hub "$tls_hub_pid"
    tls_hub_pid=""
    if [[ "$tls_system_ca_added" == 1 ]]; then
        tls_system_ca_added=0
        rm -f "$tls_system_ca"
        # update-ca-certificates rebuilds the bundle but leaves the removed file's links behind
        find /etc/ssl/certs -maxdepth 1 -type l \( -name suprsend-test-ca.pem -o -lname suprsend-test-ca.pem \) \
            -delete 2>/dev/null || true
        update-ca-certificates >"$work/update-ca-certificates.log" 2>&1 \
            || { echo "run.sh: update-ca-certificates failed after removing $tls_system_ca:" >&2
                 cat "$work/update-ca-certificates.log" >&2; }
    fi
}
trap 'tls_cleanup; cleanup' EXIT
"$repo/tests/tls/make-certs.sh" "$work/tls" || exit 2
mkdir -p "$work/tls-hub"
start_hub "$work/tls-hub" --workspace "$key:$secret" --tls-cert "$work/tls/server.pem" \
    --tls-key "$work/tls/server.key" --quiet || exit 2
tls_hub_pid=$HUB_PID
export SUPRSEND_TEST_TLS_URL="https://127.0.0.1:$HUB_PORT/"
export SUPRSEND_TEST_TLS_CA="$work/tls/ca.pem" SUPRSEND_TEST_TLS_OTHER_CA="$work/tls/other-ca.pem"
export SUPRSEND_TEST_TLS_SYSTEM_CA=absent
echo "run.sh: TLS hub on 127.0.0.1:$HUB_PORT (pid $tls_hub_pid)" >&2
# ---- end of TLS, part 1

# 5. The tests. The library is found through its libdir (no rpath in pkg-config's flags).
status=0
LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    "$work/test_suprsend" "http://127.0.0.1:$port/" "$key" "$secret" || status=$?

# ---- TLS, part 2: the trust checks again with the test CA in the system's store (the default
# trust must take it in; another CA's file must still refuse the hub). Root only: the CA is
# added with update-ca-certificates and removed again right after (and by the EXIT trap).
if [[ "$(id -u)" == 0 ]]; then
    tls_status=0
    if ! command -v update-ca-certificates >/dev/null; then
        echo "run.sh: update-ca-certificates is missing (apt-get install ca-certificates)" >&2
        tls_status=2
    else
        mkdir -p "$(dirname "$tls_system_ca")"
        tls_system_ca_added=1
        cp "$work/tls/ca.pem" "$tls_system_ca"
        update-ca-certificates >"$work/update-ca-certificates.log" 2>&1 \
            || { cat "$work/update-ca-certificates.log" >&2; tls_status=2; }
        if [[ $tls_status == 0 ]]; then
            echo "run.sh: the test CA is in the system's store for the next run" >&2
            SUPRSEND_TEST_TLS_SYSTEM_CA=present SUPRSEND_TEST_ONLY=tls-trust \
                LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
                "$work/test_suprsend" "http://127.0.0.1:$port/" "$key" "$secret" || tls_status=$?
        fi
    fi
    tls_cleanup
    [[ $status == 0 ]] && status=$tls_status
else
    echo "run.sh: note: not root, so the test CA is not put in the system's store: the checks" \
         "that need it (default trust takes it in; another CA's file still refuses) are skipped" >&2
fi
# ---- end of TLS, part 2

# 6. The background-delivery tests (test_background.c), against the same hub: it resets the hub
# and sets its faults itself. Run whatever test_suprsend's outcome; either failing fails run.sh.
echo "run.sh: test_background" >&2
bg_status=0
LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    "$work/test_background" "http://127.0.0.1:$port/" "$key" "$secret" || bg_status=$?
[[ $bg_status == 0 ]] || echo "run.sh: test_background failed (exit status $bg_status)" >&2
[[ $status == 0 ]] && status=$bg_status

# 7. The outbox-integrity tests (test_outbox.c, issue 16), against the same hub: each scenario in
# a process and a directory of its own, under $work (TMPDIR).
echo "run.sh: test_outbox" >&2
ob_status=0
TMPDIR="$work" LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    "$work/test_outbox" "http://127.0.0.1:$port/" "$key" "$secret" || ob_status=$?
[[ $ob_status == 0 ]] || echo "run.sh: test_outbox failed (exit status $ob_status)" >&2
[[ $status == 0 ]] && status=$ob_status
exit "$status"
