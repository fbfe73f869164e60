#!/usr/bin/env bash
# bindings/python/build-ext.sh: compiles the binding's optional accelerator, ext/_speedups.c, into
# src/suprsend_native/_speedups.abi3.so (gitignored; make python-ext).
#
# It is built against CPython's stable ABI (Py_LIMITED_API 3.8), so one file serves every CPython
# from 3.8 on; it does not link libsuprsend (the binding hands it the library's function addresses
# at import). Needs a C compiler (CC, default cc) and the headers of the Python it is built with
# (PYTHON, default python3): pyenv's and python.org's builds have them; Debian's system Python needs
# the python3-dev package (scripts/install-deps.sh all installs it when they are missing).
#
# Environment: PYTHON, CC, EXTRA_CFLAGS (e.g. "-fsanitize=address,undefined -g -O1"), OUT (the .so
# to write; default the package directory).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"
cc="${CC:-cc}"
source="$here/ext/_speedups.c"
out="${OUT:-$here/src/suprsend_native/_speedups.abi3.so}"

include="$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
if [[ ! -f "$include/Python.h" ]]; then
    echo "build-ext: $include/Python.h is missing: install the headers of $("$python" -c 'import sys; print(sys.executable)')" \
         "(Debian: apt-get install python3-dev)" >&2
    exit 1
fi

# Into a temporary file first: a Python running the binding never sees a half-written module.
partial="$out.part.$$"
trap 'rm -f "$partial"' EXIT
# shellcheck disable=SC2086 # EXTRA_CFLAGS is a list of flags
"$cc" -std=c11 -O2 -fPIC -shared -fvisibility=hidden -Wall -Wextra -Werror=implicit-function-declaration \
    -D_POSIX_C_SOURCE=200809L -I"$include" ${EXTRA_CFLAGS:-} "$source" -o "$partial" -lm
mv -f "$partial" "$out"
echo "build-ext: $out"
