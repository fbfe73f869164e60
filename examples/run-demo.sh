#!/usr/bin/env bash
# examples/run-demo.sh: build libsuprsend, build the C and C++ examples against dist/ with
# pkg-config, and run them, with the CLI, the Python, Go (the seed page's code), Node.js and
# Swift (the SuprSend library product) examples (this is `make demo`).
#
# Without SUPRSEND_WORKSPACE_KEY and SUPRSEND_WORKSPACE_SECRET, a local hub (tools/hub) is
# started on a free loopback port, the examples send to it with the demo workspace, and the
# hub's view (stats and a summary of the events it accepted) is printed at the end.
# With both set, the examples send to the real hub (or to SUPRSEND_BASE_URL, if set).
#
# Environment:
#   SUPRSEND_SKIP_BUILD=1   do not run `make` (dist/ is already built)
#   SUPRSEND_DEMO_OUT=DIR   where the example programs are built (default: a temporary directory)
# Works from any directory. Exit status: 0 when every example succeeded.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/suprsend-demo.XXXXXX")"
. "$repo/tools/hub/start-hub.sh"  # start_hub, stop_hub
out="${SUPRSEND_DEMO_OUT:-$work/bin}"
hub_pid=""

cleanup() {
    stop_hub "$hub_pid"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

banner() { printf '\n==== %s ====\n' "$*"; }

# 1. The library, in dist/.
if [[ "${SUPRSEND_SKIP_BUILD:-0}" != 1 ]]; then
    banner "building libsuprsend (make -C $repo)"
    make -C "$repo"
fi
export PKG_CONFIG_PATH="$repo/dist/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
if ! pkg-config --exists suprsend; then
    echo "run-demo.sh: suprsend.pc not found in $repo/dist/lib/pkgconfig" >&2
    exit 2
fi

# 2. The C examples, with pkg-config.
banner "building examples/c (libsuprsend $(pkg-config --modversion suprsend))"
make -C "$here/c" OUT="$out"
# The C++ example (suprsend.hpp), when a C++ compiler is there.
cpp_examples=()
if command -v "${CXX:-g++}" >/dev/null; then
    banner "building examples/cpp"
    make -C "$here/cpp" OUT="$out/cpp"
    cpp_examples=(track_event)
else
    echo "run-demo.sh: no C++ compiler (${CXX:-g++}): examples/cpp skipped" >&2
fi

# 3. Where to send: the real hub, or a local one.
local_hub=0
if [[ -n "${SUPRSEND_WORKSPACE_KEY:-}" && -n "${SUPRSEND_WORKSPACE_SECRET:-}" ]]; then
    echo "Sending to ${SUPRSEND_BASE_URL:-the SuprSend hub} as workspace $SUPRSEND_WORKSPACE_KEY"
else
    local_hub=1
    export SUPRSEND_WORKSPACE_KEY=demo_key SUPRSEND_WORKSPACE_SECRET=demo_secret
    start_hub "$work" --workspace "$SUPRSEND_WORKSPACE_KEY:$SUPRSEND_WORKSPACE_SECRET" --quiet || exit 2
    hub_pid=$HUB_PID
    hub_url="http://127.0.0.1:$HUB_PORT/"
    export SUPRSEND_BASE_URL="$hub_url"
    echo "Local hub at $hub_url (workspace demo_key:demo_secret)"
fi

# 4. The examples.
failed=()
for example in track_event idempotency attachments bulk background; do
    banner "examples/c/$example.c"
    if ! "$out/$example"; then
        failed+=("$example")
        echo "(exit status: failure)"
    fi
done

for example in "${cpp_examples[@]}"; do
    banner "examples/cpp/$example.cpp"
    if ! "$out/cpp/$example"; then
        failed+=("cpp/$example")
        echo "(exit status: failure)"
    fi
done

# The command-line tool (cli/; `make` puts it in dist/bin): one event, then two from a pipe.
if [[ -x "$repo/dist/bin/suprsend-events" ]]; then
    banner "suprsend-events track, suprsend-events import (cli/)"
    if ! { "$repo/dist/bin/suprsend-events" track --distinct-id demo_user_cli --event cli_demo_tracked \
               --properties '{"via":"suprsend-events track"}' &&
           printf '%s\n' '{"distinct_id":"demo_user_cli","event":"cli_demo_imported","properties":{"n":1}}' \
               '{"distinct_id":"demo_user_cli","event":"cli_demo_imported","properties":{"n":2}}' |
               "$repo/dist/bin/suprsend-events" import -; }; then
        failed+=("suprsend CLI")
        echo "(exit status: failure)"
    fi
fi

# The Python example, once the binding is there.
if [[ -f "$here/python/track_events.py" ]] &&
    PYTHONPATH="$repo/bindings/python/src" SUPRSEND_LIBRARY="$repo/dist/lib/libsuprsend.so" \
        python3 -c 'import suprsend_native' >/dev/null 2>&1; then
    banner "examples/python/track_events.py"
    if ! PYTHONPATH="$repo/bindings/python/src${PYTHONPATH:+:$PYTHONPATH}" \
        SUPRSEND_LIBRARY="$repo/dist/lib/libsuprsend.so" python3 "$here/python/track_events.py"; then
        failed+=("python/track_events.py")
        echo "(exit status: failure)"
    fi
fi

# The Go binding's seed example (bindings/go/examples/seed: the seed page's Go code), when Go is there.
if command -v "${GO:-go}" >/dev/null; then
    banner "bindings/go/examples/seed (the seed page's Go code)"
    if ! { (cd "$repo/bindings/go" && "${GO:-go}" build -o "$out/go-seed" ./examples/seed) &&
           LD_LIBRARY_PATH="$repo/dist/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$out/go-seed"; }; then
        failed+=("go/examples/seed")
        echo "(exit status: failure)"
    fi
else
    echo "run-demo.sh: no Go toolchain (${GO:-go}): bindings/go/examples/seed skipped" >&2
fi

# The Node.js example, when node and its Node-API headers are there (the addon is built first).
if command -v node >/dev/null; then
    banner "examples/node/track_events.js"
    if ! SUPRSEND_DIST="$repo/dist" "$repo/bindings/node/build.sh"; then
        echo "run-demo.sh: the Node addon could not be built: examples/node skipped" >&2
    elif ! node "$here/node/track_events.js"; then
        failed+=("node/track_events.js")
        echo "(exit status: failure)"
    fi
else
    echo "run-demo.sh: no node: examples/node skipped" >&2
fi

# The Swift library's example (examples/swift: the SuprSend product of this package), when swift
# is there; built in .build-examples (its own copies of the packages, gitignored).
if command -v swift >/dev/null; then
    banner "examples/swift (the SuprSend Swift library)"
    if ! { swift build --package-path "$here/swift" --scratch-path "$repo/.build-examples" &&
           "$repo/.build-examples/debug/TrackEvents"; }; then
        failed+=("swift/TrackEvents")
        echo "(exit status: failure)"
    fi
else
    echo "run-demo.sh: no swift: examples/swift skipped" >&2
fi

# 5. What the local hub saw.
if [[ "$local_hub" == 1 ]]; then
    banner "the hub's view"
    python3 - "$hub_url" <<'PY' || echo "(could not read the hub's view)"
import collections, json, sys, urllib.request

base = sys.argv[1].rstrip("/")
get = lambda path: json.load(urllib.request.urlopen(base + path, timeout=10))
stats = get("/_hub/stats")
print(f"requests {stats['requests']}, accepted {stats['accepted']}, duplicates {stats['duplicates']}, "
      f"rejected {stats['rejected']}, connections {stats['connections']}")
if stats.get("rejected_by_reason"):
    print("rejected by reason:", json.dumps(stats["rejected_by_reason"]))
events = get("/_hub/events")
print(f"{len(events)} events accepted:")
# One line per kind of event: bulk runs of the same name are folded into one.
groups = collections.OrderedDict()
for ev in events:
    groups.setdefault(ev.get("event"), []).append(ev)
for name, evs in groups.items():
    first = evs[0]
    props = {k: v for k, v in (first.get("properties") or {}).items() if not k.startswith("$")}
    atts = (first.get("properties") or {}).get("$attachments") or []
    line = f"  {name!s:22} x{len(evs):<4} first: distinct_id={first.get('distinct_id')!r}"
    if first.get("$idempotency_key"):
        line += f" idempotency_key={first['$idempotency_key']!r}"
    print(line)
    print(f"  {'':27} properties={json.dumps(props)[:100]}")
    for a in atts:
        what = a.get("url") or f"{a.get('contentType')}, {len(a.get('data') or '')} base64 chars"
        print(f"  {'':27} attachment {a.get('filename')!r}: {what}")
PY
fi

if ((${#failed[@]})); then
    echo
    echo "Failed: ${failed[*]}"
    exit 1
fi
echo
echo "All examples succeeded."
