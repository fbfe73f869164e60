#!/usr/bin/env bash
# sanitize/run.sh: the test suites under sanitizers, each build in its own scratch path (never
# .build, so the release build is not disturbed). Steps:
#   asan-c      the library built with AddressSanitizer (.build-asan), laid out as an install
#               prefix (.build-asan/prefix: lib/, include/, lib/pkgconfig/), and tests/c/run.sh
#               against it, the C test programs compiled with clang -fsanitize=address (LSan on)
#   asan-swift  swift test --sanitize=address (.build-asan)
#   asan-faults tests/c/fault-matrix.sh (the durable outbox under faults, kill -9 included)
#               against the same ASan prefix
#   tsan-c      as asan-c with ThreadSanitizer (.build-tsan): the C programs' threads and forks
#   tsan-swift  swift test --sanitize=thread (.build-tsan)
#   valgrind-c  tests/c/run.sh against the release library (unstripped, .build-valgrind/prefix)
#               under valgrind memcheck, forked children included (sanitize/valgrind-cc)
# Suppressions, by name only: sanitize/lsan.supp, tsan.supp, valgrind.supp.
#
#   sanitize/run.sh [step...]   default: asan-c asan-swift asan-faults tsan-c tsan-swift valgrind-c
# Environment: SANITIZE_NICE=10 (niceness of builds and runs), SANITIZE_SWIFT_FILTER (a
# --filter for the Swift tests, e.g. for a short run).
# Exit status 0 only when every step was clean.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
nice="${SANITIZE_NICE:-10}"
export PATH="/opt/swift/usr/bin:$PATH"
toolchain_lib=/opt/swift/usr/lib/swift/linux
# The Swift runtime's crash handler would race the sanitizers' own reports.
export SWIFT_BACKTRACE=enable=no
steps=("$@")
[[ ${#steps[@]} -gt 0 ]] || steps=(asan-c asan-swift asan-faults tsan-c tsan-swift valgrind-c)
asan_options="detect_leaks=1:detect_stack_use_after_return=1:abort_on_error=0:halt_on_error=1:check_initialization_order=1:strict_string_checks=1"
# die_after_fork=0: test_background forks a process whose child starts its own delivery thread.
tsan_options="suppressions=$here/tsan.supp:halt_on_error=1:second_deadlock_stack=1:exitcode=66:die_after_fork=0"
filter=()
[[ -n "${SANITIZE_SWIFT_FILTER:-}" ]] && filter=(--filter "$SANITIZE_SWIFT_FILTER")

# A compiler wrapper: tests/c/run.sh takes CC and CXX as one word each.
wrapper() {  # wrapper FILE COMPILER SANITIZER
    local file=$1 compiler=$2 sanitizer=$3 libs=""
    # The toolchain's TSan runtime intercepts libdispatch: it needs libdispatch and the blocks
    # runtime of the toolchain (only when linking; the flag keeps -fsyntax-only quiet).
    [[ $sanitizer == thread ]] && libs="-L$toolchain_lib -Wl,-rpath,$toolchain_lib -ldispatch -lBlocksRuntime"
    printf '#!/bin/sh\nexec %s -fsanitize=%s -fno-omit-frame-pointer -Wno-unused-command-line-argument "$@" %s\n' \
        "$compiler" "$sanitizer" "$libs" > "$file"
    chmod +x "$file"
}

# Builds the library with -sanitize=$1 (address|thread) and lays it out as an install prefix
# in .build-asan/prefix or .build-tsan/prefix, with compiler wrappers in .build-*/bin.
sanitized_prefix() {
    local sanitizer=$1 scratch short prefix version
    case "$sanitizer" in address) short=asan ;; thread) short=tsan ;; esac
    scratch="$repo/.build-$short"
    echo "sanitize: building the library with -sanitize=$sanitizer (.build-$short)" >&2
    (cd "$repo" && nice -n "$nice" swift build --sanitize="$sanitizer" --product suprsend --scratch-path "$scratch" >&2)
    prefix="$scratch/prefix"
    version=$(sed -n 's/^#define SUPRSEND_VERSION_STRING "\(.*\)"/\1/p' "$repo/include/suprsend.h")
    rm -rf "$prefix"
    mkdir -p "$prefix/lib/pkgconfig" "$prefix/include" "$scratch/bin"
    cp "$scratch/debug/libsuprsend.so" "$prefix/lib/libsuprsend.so"
    cp "$repo/include/suprsend.h" "$prefix/include/"
    sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|$version|" "$repo/pkgconfig/suprsend.pc.in" \
        > "$prefix/lib/pkgconfig/suprsend.pc"
    wrapper "$scratch/bin/cc" /opt/swift/usr/bin/clang "$sanitizer"
    wrapper "$scratch/bin/c++" /opt/swift/usr/bin/clang++ "$sanitizer"
}

# Runs a C test script (tests/c/run.sh, tests/c/fault-matrix.sh) against that prefix.
sanitized_c() {  # sanitized_c address|thread SCRIPT
    local sanitizer=$1 script=$2 scratch
    case "$sanitizer" in address) scratch="$repo/.build-asan" ;; thread) scratch="$repo/.build-tsan" ;; esac
    sanitized_prefix "$sanitizer"
    echo "sanitize: $script against $scratch/prefix" >&2
    SUPRSEND_PREFIX="$scratch/prefix" SUPRSEND_SKIP_BUILD=1 CC="$scratch/bin/cc" CXX="$scratch/bin/c++" \
        ASAN_OPTIONS="$asan_options" LSAN_OPTIONS="suppressions=$here/lsan.supp:print_suppressions=0" \
        TSAN_OPTIONS="$tsan_options" \
        LD_LIBRARY_PATH="$toolchain_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        nice -n "$nice" "$repo/$script"
}

asan_swift() {
    echo "sanitize: asan-swift: swift test --sanitize=address (.build-asan)" >&2
    (cd "$repo" && ASAN_OPTIONS="$asan_options" LSAN_OPTIONS="suppressions=$here/lsan.supp:print_suppressions=0" \
        nice -n "$nice" swift test --sanitize=address --scratch-path "$repo/.build-asan" "${filter[@]}")
}

tsan_swift() {
    echo "sanitize: tsan-swift: swift test --sanitize=thread (.build-tsan)" >&2
    (cd "$repo" && TSAN_OPTIONS="$tsan_options" nice -n "$nice" swift test --sanitize=thread --scratch-path "$repo/.build-tsan" "${filter[@]}")
}

valgrind_c() {
    echo "sanitize: valgrind-c: tests/c/run.sh against the release library under valgrind memcheck" >&2
    # The release build of `make lib` (scripts/build-lib.sh's flags), before dist/'s strip, so
    # that valgrind's stacks have the library's function names (and its suppressions can use them).
    local built prefix="$repo/.build-valgrind/prefix"
    built="$(cd "$repo" && swift build -c release --show-bin-path)/libsuprsend.so"
    [[ -f "$built" && -f "$repo/dist/lib/pkgconfig/suprsend.pc" ]] || make -C "$repo" lib >&2
    rm -rf "$prefix"
    mkdir -p "$prefix/lib/pkgconfig" "$prefix/include"
    cp "$built" "$prefix/lib/libsuprsend.so"
    ln -s libsuprsend.so "$prefix/lib/$(readelf -d "$built" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')"
    cp "$repo/include/suprsend.h" "$prefix/include/"
    sed -e "s|^prefix=.*|prefix=$prefix|" "$repo/dist/lib/pkgconfig/suprsend.pc" > "$prefix/lib/pkgconfig/suprsend.pc"
    # tests/c/run.sh has no runner option: CC is sanitize/valgrind-cc, which makes each test
    # program a script that runs it under valgrind (forked children followed).
    SUPRSEND_PREFIX="$prefix" SUPRSEND_SKIP_BUILD=1 CC="$here/valgrind-cc" \
        nice -n "$nice" "$repo/tests/c/run.sh"
}

status=0
for step in "${steps[@]}"; do
    start=$SECONDS
    rc=0
    case "$step" in
        asan-c) sanitized_c address tests/c/run.sh || rc=$? ;;
        asan-faults) sanitized_c address tests/c/fault-matrix.sh || rc=$? ;;
        tsan-c) sanitized_c thread tests/c/run.sh || rc=$? ;;
        asan-swift) asan_swift || rc=$? ;;
        tsan-swift) tsan_swift || rc=$? ;;
        valgrind-c) valgrind_c || rc=$? ;;
        *) echo "sanitize: unknown step $step" >&2; rc=2 ;;
    esac
    echo "sanitize: $step: $([[ $rc == 0 ]] && echo clean || echo "FAILED (exit $rc)") in $((SECONDS - start))s" >&2
    [[ $rc == 0 ]] || status=1
done
exit "$status"
