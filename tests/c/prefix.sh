# Sourced by tests/c/run.sh and tests/c/fault-matrix.sh: libsuprsend installed into a prefix,
# found with pkg-config only.
#
#   . tests/c/prefix.sh
#   use_prefix WHO REPO PREFIX || exit $?
#       unless SUPRSEND_SKIP_BUILD=1, runs `make -C REPO install PREFIX=PREFIX`; then needs
#       PREFIX/lib/pkgconfig/suprsend.pc (returns 2 without it), puts that directory first in
#       PKG_CONFIG_PATH (exported) and sets cflags, libs and libdir from pkg-config. WHO names
#       the caller in its messages. Returns the failing command's status otherwise (the caller's
#       set -e does not reach into a function called before ||).

use_prefix() {
    local who=$1 repo=$2 prefix=$3
    if [[ "${SUPRSEND_SKIP_BUILD:-0}" != 1 ]]; then
        echo "$who: make install PREFIX=$prefix" >&2
        make -C "$repo" install PREFIX="$prefix" >&2 || return
    fi
    if [[ ! -f "$prefix/lib/pkgconfig/suprsend.pc" ]]; then
        echo "$who: no suprsend.pc under $prefix/lib/pkgconfig" >&2
        return 2
    fi
    export PKG_CONFIG_PATH="$prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
    cflags="$(pkg-config --cflags suprsend)" || return
    libs="$(pkg-config --libs suprsend)" || return
    libdir="$(pkg-config --variable=libdir suprsend 2>/dev/null || true)"
    libdir="${libdir:-$prefix/lib}"
}
