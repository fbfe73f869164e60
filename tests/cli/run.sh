#!/usr/bin/env bash
# tests/cli/run.sh: tests of the suprsend-events command-line tool (cli/) against the local hub.
# Builds the tool with cli/build.sh into the library's prefix when its binary is missing or
# older than the sources or the library, then runs tests/cli/test_cli.py with pytest (which
# starts its own hub on a free loopback port). Extra arguments go to pytest.
#
# Environment:
#   SUPRSEND_PREFIX=DIR   the installed library to use (default: the repository's dist/, from
#                         `make lib`); the tool is built into DIR/bin/suprsend-events
#   PYTHON                the Python with pytest (default python3)
# Exit status: pytest's (0 only when every test passed); 2 when the library is missing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
prefix="${SUPRSEND_PREFIX:-$repo/dist}"
python="${PYTHON:-python3}"

if [[ ! -e "$prefix/lib/libsuprsend.so" || ! -e "$prefix/include/suprsend.h" ]]; then
    echo "tests/cli/run.sh: no libsuprsend in $prefix (run make lib, or set SUPRSEND_PREFIX)" >&2
    exit 2
fi
cli="$prefix/bin/suprsend-events"
stale=0
if [[ ! -x "$cli" ]]; then
    stale=1
else
    for src in "$repo"/cli/*.c "$repo"/cli/*.h "$repo/cli/build.sh" "$prefix/lib/libsuprsend.so" \
               "$prefix/include/suprsend.h"; do
        [[ "$src" -nt "$cli" ]] && stale=1
    done
fi
if [[ $stale == 1 ]]; then
    "$repo/cli/build.sh" "$prefix"
fi

report="$(mktemp "${TMPDIR:-/tmp}/suprsend-cli-report.XXXXXX")"
trap 'rm -f "$report"' EXIT
status=0
SUPRSEND_CLI="$cli" SUPRSEND_CLI_REPORT="$report" "$python" -m pytest -q "$here" "$@" || status=$?
if [[ -s "$report" ]]; then
    sed 's/^/tests\/cli\/run.sh: /' "$report" >&2
fi
exit "$status"
