#!/usr/bin/env bash
# bindings/python/test-ext-sanitized.sh [PYTEST ARGS...]: the binding's tests with the C accelerator
# (ext/_speedups.c) built with AddressSanitizer and UndefinedBehaviorSanitizer (gcc), in a temporary
# copy of the package, so the regular build in src/ is left alone.
#
#   bindings/python/test-ext-sanitized.sh                      # the whole suite
#   bindings/python/test-ext-sanitized.sh -k speedups          # a part
#
# The interpreter is not instrumented: libasan is preloaded, Python's own allocator is switched
# to malloc (PYTHONMALLOC=malloc) so ASan sees every block, leak detection is off (the interpreter
# keeps objects until exit), and any UBSan report aborts the run. test_no_memory_growth is left out
# (ASan's quarantine holds freed memory on purpose). Needs `make lib` first (dist/lib).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
python="${PYTHON:-python3}"
cc="${CC:-gcc}"
asan="$("$cc" -print-file-name=libasan.so)"
[[ -f "$asan" ]] || { echo "test-ext-sanitized: $cc has no libasan.so" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/suprsend-ext-asan.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cp -r "$here/src/suprsend_native" "$work/"
rm -f "$work/suprsend_native/"_speedups*.so
CC="$cc" PYTHON="$python" OUT="$work/suprsend_native/_speedups.abi3.so" \
    EXTRA_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1" \
    "$here/build-ext.sh"

# The copy first on the path; the source tree after it, so conftest.py does not put it first.
cd "$repo"
PYTHONPATH="$work:$here/src" SUPRSEND_LIBRARY="${SUPRSEND_LIBRARY:-$repo/dist/lib/libsuprsend.so}" \
    SUPRSEND_NATIVE_EXPECT_SPEEDUPS=1 LD_PRELOAD="$asan" PYTHONMALLOC=malloc \
    ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:${ASAN_OPTIONS:-}" UBSAN_OPTIONS="print_stacktrace=1" \
    "$python" - "$work" "$here/tests" "$@" <<'PY'
import os, sys
import pytest
import suprsend_native.client as client
work = sys.argv[1]
assert client._speedups is not None and client._speedups.__file__.startswith(work), \
    f"not the sanitized build: {getattr(client._speedups, '__file__', None)}"
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", sys.argv[2], "-k", "not test_no_memory_growth"] + sys.argv[3:]))
PY
