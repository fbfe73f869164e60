#!/usr/bin/env bash
# bindings/python/test-busy.sh [ROUNDS]: the binding's suite ROUNDS times in a row (default 20),
# each round with the C accelerator and on the pure-Python path, while two busy loops keep both
# CPUs occupied: a check that no test depends on timing. Needs dist/ (make lib) and the
# accelerator (make python-ext). Prints one line per run and each failing test; the whole output
# of a failing run is kept in $TMPDIR. Exit status 0 only when every run passed.
set -u
rounds=${1:-20}
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo" || exit 2
busy=()
for _ in 1 2; do
    nice -n 10 sh -c 'while :; do :; done' &
    busy+=("$!")
done
trap 'kill "${busy[@]}" 2>/dev/null' EXIT
failed=0
for round in $(seq 1 "$rounds"); do
    for mode in speedups pure; do
        if [[ $mode == speedups ]]; then flag=SUPRSEND_NATIVE_EXPECT_SPEEDUPS=1; else flag=SUPRSEND_NATIVE_PURE=1; fi
        log="$(mktemp "${TMPDIR:-/tmp}/suprsend-busy.XXXXXX")"
        env PYTHONPATH="$repo/bindings/python/src" SUPRSEND_LIBRARY="$repo/dist/lib/libsuprsend.so" "$flag" \
            timeout 900 "${PYTHON:-python3}" -m pytest -q -rf -p no:cacheprovider bindings/python/tests >"$log" 2>&1
        status=$?
        echo "round $round, $mode: $(tail -n 1 "$log")"
        if [[ $status != 0 ]]; then
            failed=$((failed + 1))
            grep -E '^(FAILED|ERROR)' "$log"
            echo "  (output kept in $log)"
        else
            rm -f "$log"
        fi
    done
done
echo "test-busy: $((rounds * 2 - failed)) of $((rounds * 2)) runs passed"
[[ $failed == 0 ]]
