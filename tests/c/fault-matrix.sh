#!/usr/bin/env bash
# tests/c/fault-matrix.sh: the fault matrix of libsuprsend's durable outbox. Builds and installs
# the library into a temporary prefix, compiles tests/c/fault_matrix.c against it with
# pkg-config's flags only (plus SQLite's: one scenario holds a write lock on an outbox through
# SQLite's C API), starts the local hub with a --db file on a fixed free port and two workspaces
# (so that the program can stop the hub and start it again on the same port with the same
# database, and give one outbox path to clients of two workspaces), runs every scenario, stops
# everything. Prints one table and "N passed, M failed[, K skipped]".
#
# Run as root, scenario 10 mounts a small tmpfs in the work directory (a full disk); where mounting
# is not possible it reports SKIP with the reason. Whatever is still mounted there is unmounted at
# exit.
#
# Works from any directory. Environment:
#   SUPRSEND_PREFIX=DIR     install into (or use) DIR instead of a temporary prefix
#   SUPRSEND_SKIP_BUILD=1   do not run `make install`: DIR (SUPRSEND_PREFIX) is already installed
#   SUPRSEND_TEST_KEEP=1    keep the work directory (outboxes, hub database and log, library logs);
#                           it is also kept, and named, when a scenario fails
#   FAULT_MATRIX_ONLY=1,5   run only these scenarios (ids as in the table)
#   FAULT_MATRIX_LOG_LEVEL=10  the library's log level for WORKDIR/logs (default 30, warnings)
#   SUPRSEND_TEST_WORKSPACE_KEY, _SECRET, _KEY2, _SECRET2   the hub's two workspaces
#   CC                      C compiler (default cc)
# Exit status: the program's (0 only when no acknowledged event was lost, none was processed
# twice, and nothing crashed or hung; a skipped scenario is not a failure).
#
# Internal: `fault-matrix.sh --hub-ctl run WORKDIR` execs the hub with WORKDIR's settings
# (hub.env); the program uses it to start the hub again after stopping it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

if [[ "${1:-}" == --hub-ctl ]]; then
    if [[ "${2:-}" != run || -z "${3:-}" ]]; then
        echo "usage: $0 --hub-ctl run WORKDIR" >&2
        exit 2
    fi
    hub_work=$3
    # shellcheck disable=SC1091
    . "$hub_work/hub.env"
    echo "$$" >"$hub_work/hub.pid"   # exec keeps the pid
    exec python3 "$repo/tools/hub/suprsend-hub" --host 127.0.0.1 --port "$HUB_PORT" \
        --port-file "$hub_work/hub.port" --db "$hub_work/hub.db" --workspace "$HUB_KEY:$HUB_SECRET" \
        ${HUB_KEY2:+--workspace "$HUB_KEY2:$HUB_SECRET2"} --quiet >>"$hub_work/hub.log" 2>&1
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/suprsend-faults.XXXXXX")"
prefix="${SUPRSEND_PREFIX:-$work/prefix}"
cc="${CC:-cc}"
hub_pid=""
status=2

stop_hub() {
    local pid
    for pid in "$hub_pid" "$(cat "$work/hub.pid" 2>/dev/null || true)"; do
        if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 1 100); do
                kill -0 "$pid" 2>/dev/null || break
                [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" == Z ]] && break
                sleep 0.05
            done
        fi
    done
    [[ -n "$hub_pid" ]] && wait "$hub_pid" 2>/dev/null || true
    hub_pid=""
}

# A tmpfs the program mounted under the work directory (scenario 10) and could not unmount
# (it was killed): lazily unmounted, so that the directory can go.
unmount_work() {
    local mnt
    [[ -r /proc/mounts ]] || return 0
    while read -r _ mnt _; do
        [[ "$mnt" == "$work"/* ]] && umount -l "$mnt" 2>/dev/null || true
    done </proc/mounts
}

cleanup() {
    stop_hub
    unmount_work
    if [[ "${SUPRSEND_TEST_KEEP:-0}" == 1 || "$status" != 0 ]]; then
        echo "fault-matrix.sh: work directory kept: $work" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. The library, installed into a prefix (tests/c/prefix.sh): sets cflags, libs, libdir.
# shellcheck source=tests/c/prefix.sh
. "$here/prefix.sh"
use_prefix fault-matrix.sh "$repo" "$prefix" || exit $?

# 2. The program, with pkg-config's flags only (plus pthreads, and SQLite for the lock holder of
#    scenario 12).
sqlite_cflags="$(pkg-config --cflags sqlite3 2>/dev/null || true)"
sqlite_libs="$(pkg-config --libs sqlite3 2>/dev/null || echo -lsqlite3)"
# shellcheck disable=SC2086
"$cc" -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O1 -g -pthread $cflags $sqlite_cflags \
    -o "$work/fault_matrix" "$here/fault_matrix.c" $libs $sqlite_libs -pthread

# 3. The hub, on a fixed free port below the ephemeral range (the library's own outgoing
#    connections never take it while the hub is down), with a database that outlives it.
port="$(python3 - <<'EOF'
import random, socket
try:
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except (OSError, ValueError, IndexError):
    low = 32768
low = max(low, 12000)
for _ in range(200):
    p = random.randint(10000, low - 1)
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            continue
    print(p)
    break
EOF
)"
if [[ -z "$port" ]]; then
    echo "fault-matrix.sh: found no free port" >&2
    exit 2
fi
key="${SUPRSEND_TEST_WORKSPACE_KEY:-ws_fault_matrix_key_0123456789}"
secret="${SUPRSEND_TEST_WORKSPACE_SECRET:-ws_fault_matrix_secret_9f8e7d6c}"
# a second workspace (scenario 9: two workspaces given one outbox path)
key2="${SUPRSEND_TEST_WORKSPACE_KEY2:-ws_fault_matrix_other_key_5432109876}"
secret2="${SUPRSEND_TEST_WORKSPACE_SECRET2:-ws_fault_matrix_other_secret_1a2b3c4d}"
printf 'HUB_PORT=%q\nHUB_KEY=%q\nHUB_SECRET=%q\nHUB_KEY2=%q\nHUB_SECRET2=%q\n' \
    "$port" "$key" "$secret" "$key2" "$secret2" >"$work/hub.env"
"$here/fault-matrix.sh" --hub-ctl run "$work" &
hub_pid=$!
for _ in $(seq 1 200); do
    [[ -s "$work/hub.port" ]] && break
    if ! kill -0 "$hub_pid" 2>/dev/null; then
        echo "fault-matrix.sh: the hub exited; its log:" >&2
        cat "$work/hub.log" >&2
        exit 2
    fi
    sleep 0.05
done
if [[ ! -s "$work/hub.port" ]]; then
    echo "fault-matrix.sh: the hub did not write its port file" >&2
    exit 2
fi
echo "fault-matrix.sh: hub on 127.0.0.1:$port (pid $hub_pid), database $work/hub.db" >&2

# 4. The scenarios (bounded inside the program; the timeout is a last resort against a hang).
status=0
LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    timeout -k 10 900 "$work/fault_matrix" "http://127.0.0.1:$port/" "$key" "$secret" "$work" \
    "$here/fault-matrix.sh" "$key2" "$secret2" || status=$?
exit "$status"
