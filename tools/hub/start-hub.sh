# Sourced by the project's shell scripts: starts the local hub on a free loopback port and
# waits until it listens.
#
#   . tools/hub/start-hub.sh
#   start_hub WORKDIR [suprsend-hub flags...]    sets HUB_PID and HUB_PORT; the hub's log is
#                                                WORKDIR/hub.log; returns 2 (after printing
#                                                the log) when it does not start
# The caller stops it (kill "$HUB_PID"), typically from an EXIT trap.

start_hub() {
    local work=$1
    shift
    local here
    here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
    rm -f "$work/port"
    python3 "$here/suprsend-hub" --host 127.0.0.1 --port 0 --port-file "$work/port" "$@" \
        >"$work/hub.log" 2>&1 &
    HUB_PID=$!
    for _ in $(seq 1 200); do
        [[ -s "$work/port" ]] && break
        if ! kill -0 "$HUB_PID" 2>/dev/null; then
            echo "start_hub: the local hub exited; its log:" >&2
            cat "$work/hub.log" >&2
            return 2
        fi
        sleep 0.05
    done
    if [[ ! -s "$work/port" ]]; then
        echo "start_hub: the local hub did not write its port file" >&2
        kill "$HUB_PID" 2>/dev/null
        return 2
    fi
    HUB_PORT=$(tr -d '[:space:]' <"$work/port")
}
