#!/usr/bin/env bash
# fuzz/run.sh: builds the library with libFuzzer and AddressSanitizer instrumentation
# (swift build -sanitize=fuzzer,address, scratch path .build-fuzz, never .build), compiles each
# harness fuzz/fuzz_<target>.c against it with the toolchain's clang, and runs each target for
# FUZZ_SECONDS, starting from its committed seeds (fuzz/corpus/<target>/, read only). What a run
# finds is kept under .build-fuzz/: corpus/<target>/ (new inputs), artifacts/ (crashes), logs/.
#
#   fuzz/run.sh [target...]     default: every fuzz/fuzz_*.c
# Environment:
#   FUZZ_SECONDS=60             per target
#   FUZZ_JOBS=1                 libFuzzer processes per target (-fork=N when more than 1)
#   FUZZ_NICE=10                niceness of the build and the runs
#   FUZZ_SKIP_BUILD=1           use the library and harnesses already built
#   FUZZ_ARGS="..."             more libFuzzer options
# Prints a line per target (executions, size of its working corpus, crashes) and writes the same table to
# .build-fuzz/results.txt. Exit status 0 only when no target crashed or broke an invariant.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
scratch="$repo/.build-fuzz"
seconds="${FUZZ_SECONDS:-60}"
jobs="${FUZZ_JOBS:-1}"
nice="${FUZZ_NICE:-10}"
export PATH="/opt/swift/usr/bin:$PATH"
clang="${FUZZ_CC:-/opt/swift/usr/bin/clang}"

if [[ $# -gt 0 ]]; then
    targets=("$@")
else
    targets=()
    for source in "$here"/fuzz_*.c; do
        name="$(basename "$source" .c)"
        targets+=("${name#fuzz_}")
    done
fi

libdir="$scratch/release"
bindir="$scratch/fuzzers"
if [[ "${FUZZ_SKIP_BUILD:-0}" != 1 ]]; then
    echo "fuzz: building the instrumented library (.build-fuzz)" >&2
    (cd "$repo" && nice -n "$nice" swift build -c release --product suprsend --scratch-path "$scratch" \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -DSUPRSEND_FUZZ_HOOKS >&2)
    mkdir -p "$bindir"
    for target in "${targets[@]}"; do
        # Harnesses of code outside the library compile that code in (instrumented alike).
        extra=()
        [[ "$target" == cli_jsonline ]] && extra=("$repo/cli/jsonline.c")
        nice -n "$nice" "$clang" -g -O1 -fsanitize=fuzzer,address -I "$repo/include" \
            -fuse-ld=lld -o "$bindir/fuzz_$target" "$here/fuzz_$target.c" "${extra[@]}" \
            -L "$libdir" -lsuprsend -Wl,-rpath,"$libdir"
    done
fi

mkdir -p "$scratch/artifacts" "$scratch/logs"
results="$scratch/results.txt"
: > "$results"
status=0
total=0
for target in "${targets[@]}"; do
    corpus="$scratch/corpus/$target"
    seeds="$here/corpus/$target"
    mkdir -p "$corpus"
    log="$scratch/logs/$target.log"
    fork=()
    [[ "$jobs" -gt 1 ]] && fork=(-fork="$jobs")
    rc=0
    # shellcheck disable=SC2086
    # SWIFT_BACKTRACE: the Swift runtime's crash handler would race ASan's and libFuzzer's reports.
    SWIFT_BACKTRACE=enable=no ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" \
    nice -n "$nice" "$bindir/fuzz_$target" "${fork[@]}" -max_total_time="$seconds" -timeout=10 \
        -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
        -artifact_prefix="$scratch/artifacts/$target-" ${FUZZ_ARGS:-} \
        "$corpus" "$seeds" > "$log" 2>&1 || rc=$?
    # -fork mode prints its own totals; otherwise the final stats.
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
    [[ -n "$execs" ]] || execs="$(grep -o '#[0-9]*' "$log" | tail -1 | tr -d '#')"
    execs="${execs:-0}"
    crashes="$(grep -c -E '^==[0-9]+==ERROR|fuzz invariant:|^SUMMARY: libFuzzer' "$log" || true)"
    size="$(find "$corpus" -type f | wc -l)"
    line="$(printf '%-16s %12s executions in %ss, corpus %5s, crashes %s, exit %s' "$target" "$execs" "$seconds" "$size" "$crashes" "$rc")"
    echo "$line" | tee -a "$results"
    total=$((total + execs))
    if [[ $rc != 0 || $crashes != 0 ]]; then
        status=1
        echo "fuzz: $target failed; its log ($log) ends:" >&2
        tail -40 "$log" >&2
    fi
done
echo "fuzz: $total executions in all, $( [[ $status == 0 ]] && echo 'no crashes' || echo 'FAILURES')" | tee -a "$results"
exit "$status"
