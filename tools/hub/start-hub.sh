# Sourced by the project's shell scripts: starts the local hub on a free loopback port and
# waits until it listens.
#
#   . tools/hub/start-hub.sh
#   start_hub WORKDIR [suprsend-hub flags...]    sets HUB_PID and HUB_PORT; the hub's log is
#                                                WORKDIR/hub.log; returns 2 (after printing
#                                                the log) when it does not start
#   stop_hub PID                                 stops that hub if it still runs, and reaps it
#                                                (PID may be empty: nothing to do)
# The caller stops it, typically from an EXIT trap: stop_hub "$HUB_PID".

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

stop_hub() {
    local pid=$1
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
}
