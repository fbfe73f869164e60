#!/usr/bin/env bash
# tests/cpp/run.sh: the C++ header (suprsend.hpp) against an installed libsuprsend (this is
# `make test-cpp`). Builds tests/cpp/test_suprsend.cpp with g++ and with clang++, C++17 and
# strict warnings, found through pkg-config only; starts the local hub on loopback; runs each
# build, then one more built with -fsanitize=address,undefined.
#
# The prefix is dist/ (what `make lib` built) unless SUPRSEND_PREFIX names another. The header
# is the prefix's include/suprsend.hpp; a prefix without one (built before the install step
# copied it) gets the repository's include/suprsend.hpp instead, and the script says which.
#
# Works from any directory. Environment:
#   SUPRSEND_PREFIX=DIR     use DIR (installed there with `make install` unless SUPRSEND_SKIP_BUILD=1)
#   SUPRSEND_SKIP_BUILD=1   with SUPRSEND_PREFIX: DIR is already installed
#   SUPRSEND_TEST_VERBOSE=1 print every passing check too
#   SUPRSEND_CPP_SANITIZE=0 skip the sanitizer build
#   CC, GXX, CLANGXX        compilers (default cc; g++; clang++ on PATH, else /opt/swift/usr/bin/clang++)
# Exit status: 0 only when every build compiled without a warning and passed every check.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/suprsend-cpptest.XXXXXX")"
. "$repo/tools/hub/start-hub.sh"  # start_hub, stop_hub
hub_pid=""

cleanup() {
    stop_hub "$hub_pid"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. The prefix: dist/ by default (make test-cpp runs after make lib), found with pkg-config.
if [[ -n "${SUPRSEND_PREFIX:-}" ]]; then
    prefix="$SUPRSEND_PREFIX"
else
    prefix="$repo/dist"
    if [[ ! -f "$prefix/lib/pkgconfig/suprsend.pc" ]]; then
        echo "run.sh: $prefix has no lib/pkgconfig/suprsend.pc: run \`make lib\` first" >&2
        exit 2
    fi
    export SUPRSEND_SKIP_BUILD=1
fi
# shellcheck source=tests/c/prefix.sh
. "$repo/tests/c/prefix.sh"
use_prefix cpp/run.sh "$repo" "$prefix" || exit $? # sets cflags, libs, libdir
includedir="$(pkg-config --variable=includedir suprsend)"
if [[ -f "$includedir/suprsend.hpp" ]]; then
    echo "cpp/run.sh: suprsend.hpp from the prefix: $includedir/suprsend.hpp" >&2
    header_flags=""
    cmp -s "$includedir/suprsend.hpp" "$repo/include/suprsend.hpp" \
        || echo "cpp/run.sh: note: it differs from the repository's include/suprsend.hpp (make lib copies it)" >&2
else
    # Only the C++ header comes from the repository; suprsend.h stays the prefix's.
    mkdir -p "$work/include"
    cp "$repo/include/suprsend.hpp" "$work/include/"
    header_flags="-I$work/include"
    echo "cpp/run.sh: the prefix has no suprsend.hpp; using the repository's include/suprsend.hpp" >&2
fi

# 2. The compilers: g++ and clang++ (the Swift toolchain's when none is on PATH).
cc="${CC:-cc}"
compilers=()
gxx="${GXX:-g++}"
if command -v "$gxx" >/dev/null; then compilers+=("$gxx"); else echo "cpp/run.sh: note: no $gxx" >&2; fi
clangxx="${CLANGXX:-$(command -v clang++ || true)}"
[[ -z "$clangxx" && -x /opt/swift/usr/bin/clang++ ]] && clangxx=/opt/swift/usr/bin/clang++
if [[ -n "$clangxx" ]] && command -v "$clangxx" >/dev/null; then
    compilers+=("$clangxx")
else
    echo "cpp/run.sh: note: clang++ is absent; building with g++ only" >&2
fi
if ((${#compilers[@]} == 0)); then
    echo "cpp/run.sh: neither g++ nor clang++ found" >&2
    exit 2
fi

warnings=(-std=c++17 -Wall -Wextra -Werror -pedantic -Wconversion -Wsign-conversion -Wshadow -Wold-style-cast
          -Wnon-virtual-dtor -Woverloaded-virtual)

# 3. Builds: for each compiler, the header alone, then the test program (two translation units
# including the header, and the hub shim in C on top of tests/c/hub_client.h, built without the
# extra flags: it is test scaffolding, not the header).
# shellcheck disable=SC2086
build() { # build NAME CXX EXTRA_FLAGS...
    local name=$1 cxx=$2
    shift 2
    local out="$work/$name"
    mkdir -p "$out"
    "$cc" -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -O1 -g -c "$here/hub_shim.c" -o "$out/hub_shim.o"
    "$cxx" "${warnings[@]}" $cflags $header_flags -fsyntax-only -x c++ "${header_path:-/dev/null}"
    "$cxx" "${warnings[@]}" -O1 -g -pthread $cflags $header_flags "$@" -o "$out/test_suprsend" \
        "$here/test_suprsend.cpp" "$here/second_tu.cpp" "$out/hub_shim.o" $libs -pthread
}
header_path="$includedir/suprsend.hpp"
[[ -n "$header_flags" ]] && header_path="$work/include/suprsend.hpp"

names=()
for cxx in "${compilers[@]}"; do
    name="$(basename "$cxx")"
    echo "cpp/run.sh: building with $cxx ($("$cxx" --version | head -1))" >&2
    build "$name" "$cxx"
    names+=("$name")
done
if [[ "${SUPRSEND_CPP_SANITIZE:-1}" != 0 ]]; then
    # g++ when present: the Swift toolchain's clang++ links with gold, which warns on ASan's symbols.
    san_cxx="${compilers[0]}"
    echo "cpp/run.sh: building with $san_cxx -fsanitize=address,undefined" >&2
    build sanitize "$san_cxx" -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
        || { echo "cpp/run.sh: the sanitizer build failed" >&2; exit 1; }
    names+=(sanitize)
fi
echo "cpp/run.sh: built ${names[*]}: no warnings (${warnings[*]})" >&2

# 4. The hub, on a free loopback port.
key="${SUPRSEND_TEST_WORKSPACE_KEY:-ws_test_key_cpp_0123456789}"
secret="${SUPRSEND_TEST_WORKSPACE_SECRET:-ws_test_secret_cpp_9f8e7d6c5b4a}"
start_hub "$work" --workspace "$key:$secret" --max-event-bytes 819200 --quiet || exit 2
hub_pid=$HUB_PID
echo "cpp/run.sh: hub on 127.0.0.1:$HUB_PORT (pid $hub_pid)" >&2

# 5. Each build against it (every one resets the hub first).
status=0
for name in "${names[@]}"; do
    echo "cpp/run.sh: test_suprsend ($name)" >&2
    run_status=0
    ASAN_OPTIONS="detect_leaks=1:halt_on_error=1" \
        LSAN_OPTIONS="suppressions=$repo/sanitize/lsan.supp:print_suppressions=0" \
        UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
        LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        "$work/$name/test_suprsend" "http://127.0.0.1:$HUB_PORT/" "$key" "$secret" || run_status=$?
    if [[ $run_status != 0 ]]; then
        echo "cpp/run.sh: test_suprsend ($name) failed (exit status $run_status)" >&2
        status=1
    fi
done
exit "$status"
