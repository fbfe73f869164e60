#!/usr/bin/env bash
# bindings/node/test-asan.sh: the addon built with AddressSanitizer and UBSan, and the binding's
# suites run on it (this is `make test-node-asan`).
#
# node itself is not instrumented, so the ASan runtime is preloaded (LD_PRELOAD) into every node
# process, the test runner's children and workers included; SUPRSEND_NODE_ADDON points index.js at
# the instrumented addon (build-asan/suprsend.node, linked against the same dist/lib library).
# Leak checking is off: node and V8 free little at exit by design, so LeakSanitizer would report
# the runtime's own memory; use-after-free, overflows and double frees are what this run is for.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cc="${CC:-gcc}"
out="$here/build-asan"
CC="$cc" SANITIZE=address,undefined "$here/build.sh" "$out"
asan="$("$cc" -print-file-name=libasan.so)"
ubsan="$("$cc" -print-file-name=libubsan.so)"
if [[ ! -f "$asan" ]]; then
    echo "test-asan.sh: $cc has no libasan.so" >&2
    exit 2
fi
export LD_PRELOAD="$asan:$ubsan${LD_PRELOAD:+:$LD_PRELOAD}"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1:detect_odr_violation=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export SUPRSEND_NODE_ADDON="$out/suprsend.node"
cd "$here"
# The instrumented addon, and the ASan runtime in it, must be what index.js loads.
node -e 'const s = require("."); if (s.addonPath !== process.env.SUPRSEND_NODE_ADDON) process.exit(3);
  const maps = require("fs").readFileSync("/proc/self/maps", "utf8");
  if (!maps.includes("build-asan/suprsend.node") || !maps.includes("libasan")) process.exit(4);'
echo "test-asan.sh: node $(node --version) with $asan preloaded, addon $SUPRSEND_NODE_ADDON"
node --expose-gc --test "$@" test/*.test.js
