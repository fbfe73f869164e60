#!/usr/bin/env bash
# tests/install/run.sh (make test-install): `make install` as a packager and as a new user would
# run it, then the installed tree used the ways the README says.
#   (a) DESTDIR staging, PREFIX=/opt/suprsend-install-test: every file under DESTDIR, nothing
#       outside it, paths inside files are PREFIX, ldconfig not run; then the staged tree is moved
#       elsewhere and used through pkg-config (--define-prefix) and CMake.
#   (b) as root, `make install` with the default prefix /usr/local, starting from no previous
#       libsuprsend there: a C program linked with plain -lsuprsend (no rpath, no LD_LIBRARY_PATH)
#       runs, and the Python binding finds /usr/local/lib's library by itself. Not root: SKIP.
#   (c) pkg-config --cflags, --libs and --static, each used to build and run a program.
#   (d) the CMake project tests/install/cmake-project, configured with -DCMAKE_PREFIX_PATH, built,
#       run; find_package version requests: same major accepted, newer release or other major refused.
# /usr/local keeps the installed library afterwards; the temporary directory is removed.
# Reuses the release build of .build (make install does not rebuild what is current).
# Exit status 0 only when every check passed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export PATH="/opt/swift/usr/bin:$PATH"
unset PREFIX DESTDIR SUPRSEND_LIBRARY LD_LIBRARY_PATH PKG_CONFIG_PATH
cc="${CC:-cc}"
work="$(mktemp -d "${TMPDIR:-/tmp}/suprsend-install.XXXXXX")"
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "  ok    $*"; }
bad() { failed=$((failed + 1)); echo "  FAIL  $*"; }
# check DESCRIPTION COMMAND...: passes when COMMAND succeeds.
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
# same DESCRIPTION EXPECTED ACTUAL
same() { if [[ "$2" == "$3" ]]; then ok "$1"; else bad "$1: expected '$2', got '$3'"; fi; }
# has DESCRIPTION TEXT WORD...: every WORD occurs in TEXT.
has() {
    local what=$1 text=" $2 " word missing=()
    shift 2
    for word in "$@"; do [[ "$text" == *" $word "* ]] || missing+=("$word"); done
    if [[ ${#missing[@]} -eq 0 ]]; then ok "$what"; else bad "$what: no ${missing[*]} in '$2'"; fi
}
# resolved_lib BINARY: the file the dynamic linker loads for libsuprsend.so.MAJOR.
resolved_lib() { ldd "$1" | sed -n "s|^\s*libsuprsend\.so\.$major => \(/[^ ]*\).*|\1|p"; }
section() { echo; echo "== $*"; }

version=$(sed -n 's/^#define SUPRSEND_VERSION_STRING "\(.*\)"/\1/p' "$repo/include/suprsend.h")
major=${version%%.*}
minor=${version#*.}; minor=${minor%%.*}
real="libsuprsend.so.$version"
program="$here/cmake-project/main.c"
echo "install test: libsuprsend $version, work directory $work"

# ---------------------------------------------------------------------------------------------
section "(a) make install DESTDIR=... PREFIX=/opt/suprsend-install-test"
staged_prefix=/opt/suprsend-install-test
destdir="$work/destdir"
prefix_existed=no; [[ -e "$staged_prefix" ]] && prefix_existed=yes
cache_before=$(stat -c %y /etc/ld.so.cache 2>/dev/null || echo none)
if make -C "$repo" install PREFIX="$staged_prefix" DESTDIR="$destdir" >"$work/a.log" 2>&1; then
    ok "make install DESTDIR (log: $(grep -c . "$work/a.log") lines)"
else
    bad "make install DESTDIR failed:"; sed 's/^/        /' "$work/a.log"; exit 1
fi
tree="$destdir$staged_prefix"
for file in "lib/$real" include/suprsend.h lib/pkgconfig/suprsend.pc \
            lib/cmake/suprsend/suprsend-config.cmake lib/cmake/suprsend/suprsend-config-version.cmake; do
    check "staged $file" test -f "$tree/$file"
done
same "lib/libsuprsend.so.$major -> $real" "$real" "$(readlink "$tree/lib/libsuprsend.so.$major")"
same "lib/libsuprsend.so -> libsuprsend.so.$major" "libsuprsend.so.$major" "$(readlink "$tree/lib/libsuprsend.so")"
[[ ! -f "$repo/include/suprsend.hpp" ]] || check "staged include/suprsend.hpp" test -f "$tree/include/suprsend.hpp"
[[ ! -f "$repo/dist/bin/suprsend-events" ]] || check "staged bin/suprsend-events" test -x "$tree/bin/suprsend-events"
same "files only under DESTDIR/PREFIX" "$destdir$staged_prefix" "$(find "$destdir" -type f -printf '%h\n' | sed "s|^\($destdir$staged_prefix\).*|\1|" | sort -u)"
if [[ $prefix_existed == no ]]; then check "nothing written to $staged_prefix itself" test ! -e "$staged_prefix"; fi
same ".pc prefix is PREFIX" "prefix=$staged_prefix" "$(grep '^prefix=' "$tree/lib/pkgconfig/suprsend.pc")"
same "no file mentions the DESTDIR" "" "$(grep -rl -- "$work" "$destdir" || true)"
same "CMake files hold no absolute path" "" "$(grep -l "$staged_prefix\|$repo" "$tree"/lib/cmake/suprsend/* || true)"
check "ldconfig not run: log says so" grep -q "ldconfig not run" "$work/a.log"
same "ldconfig not run: /etc/ld.so.cache unchanged" "$cache_before" "$(stat -c %y /etc/ld.so.cache 2>/dev/null || echo none)"

moved="$work/moved"
mv "$tree" "$moved"
echo "   (staged tree moved to $moved)"
if [[ -x "$moved/bin/suprsend-events" ]]; then
    loaded=$(resolved_lib "$moved/bin/suprsend-events")
    check "moved bin/suprsend-events loads the moved library, rpath \$ORIGIN/../lib (loaded: $loaded)" test "$loaded" -ef "$moved/lib/$real"
fi

# ---------------------------------------------------------------------------------------------
# pkg_config_checks LABEL PREFIX [pkg-config options]: (c) against one tree.
pkg_config_checks() {
    local label=$1 prefix=$2 out
    shift 2
    local pc=(pkg-config "$@")
    same "$label: --modversion" "$version" "$("${pc[@]}" --modversion suprsend)"
    check "$label: --validate" "${pc[@]}" --validate suprsend
    out=$("${pc[@]}" --cflags suprsend)
    # pkg-config leaves out -I of a directory the compiler searches anyway (/usr/include).
    if [[ "$prefix" == /usr ]]; then same "$label: --cflags" "" "${out% }"; else has "$label: --cflags" "$out" "-I$prefix/include"; fi
    out=$("${pc[@]}" --libs suprsend)
    has "$label: --libs" "$out" -lsuprsend
    local rpath=()
    [[ "$prefix" == /usr/local ]] || rpath=("-Wl,-rpath,$prefix/lib")
    # shellcheck disable=SC2046  # word splitting of pkg-config output is intended
    if "$cc" "$program" -o "$work/pc-shared" $("${pc[@]}" --cflags --libs suprsend) "${rpath[@]}" 2>"$work/cc.log" \
        && same "$label: program built with --cflags --libs runs" "libsuprsend $version ok" "$("$work/pc-shared")"; then :
    else
        bad "$label: build with --cflags --libs"; sed 's/^/        /' "$work/cc.log"
    fi
    out=$("${pc[@]}" --libs --static suprsend) || { bad "$label: --libs --static failed"; return; }
    has "$label: --libs --static lists what libsuprsend.so links" "$out" -lsuprsend -lcurl -lcrypto -lsqlite3 -lstdc++ -lm
    # Linking with that list needs every library it names. Debian's libcurl.pc names more than
    # libcurl4-openssl-dev pulls in (-lnghttp2, -lrtmp, -lssh2, ... need their own -dev packages):
    # those missing are a note, any other missing library a failure.
    local flag missing=() not_curls=()
    for flag in $out; do
        [[ "$flag" == -l* && "$flag" != -lsuprsend ]] || continue
        [[ "$("$cc" -print-file-name="lib${flag#-l}.so")" == /* || "$("$cc" -print-file-name="lib${flag#-l}.a")" == /* ]] \
            || missing+=("$flag")
    done
    if [[ ${#missing[@]} -gt 0 ]]; then
        local curls=" $(pkg-config --libs --static libcurl) "
        for flag in "${missing[@]}"; do [[ "$curls" == *" $flag "* ]] || not_curls+=("$flag"); done
        if [[ ${#not_curls[@]} -gt 0 ]]; then
            bad "$label: --libs --static names libraries that are not installed: ${not_curls[*]}"
        else
            echo "  note  $label: not linked with --libs --static: libcurl.pc names libraries without their -dev package here: ${missing[*]}"
        fi
        return
    fi
    # shellcheck disable=SC2046
    if "$cc" "$program" -o "$work/pc-static" $("${pc[@]}" --cflags --libs --static suprsend) "${rpath[@]}" 2>"$work/cc.log" \
        && same "$label: program built with --libs --static runs" "libsuprsend $version ok" "$("$work/pc-static")"; then :
    else
        bad "$label: build with --libs --static"; sed 's/^/        /' "$work/cc.log"
    fi
}

# cmake_checks LABEL PREFIX [versions]: (d) against one tree; with "versions", also find_package's
# version requests (configure only).
cmake_checks() {
    local label=$1 prefix=$2 build="$work/cmake-$RANDOM"
    if ! command -v cmake >/dev/null; then bad "$label: cmake is missing (make deps installs it)"; return; fi
    if cmake -S "$here/cmake-project" -B "$build" -DCMAKE_PREFIX_PATH="$prefix" >"$build.log" 2>&1 \
        && cmake --build "$build" >>"$build.log" 2>&1; then
        ok "$label: CMake project configured and built"
        same "$label: find_package used PREFIX/lib/cmake/suprsend" "$prefix/lib/cmake/suprsend" \
            "$(sed -n 's|^-- suprsend [^ ]* from ||p' "$build.log")"
        same "$label: install_check runs" "libsuprsend $version ok" "$("$build/install_check" 2>&1)"
        local loaded; loaded=$(resolved_lib "$build/install_check")
        check "$label: install_check loads $prefix/lib's library (loaded: $loaded)" test "$loaded" -ef "$prefix/lib/$real"
        if [[ -x "$build/install_check_cpp" ]]; then
            same "$label: install_check_cpp (suprsend.hpp) runs" "libsuprsend $version ok (C++)" "$("$build/install_check_cpp" 2>&1)"
        elif [[ -f "$prefix/include/suprsend.hpp" ]]; then
            bad "$label: suprsend.hpp is installed but the C++ program was not built"
        fi
    else
        bad "$label: CMake project"; sed 's/^/        /' "$build.log"
    fi
    [[ "${3:-}" == versions ]] || return 0
    # request EXPECT(accepted|refused) [EXACT]
    request() {
        local want=$2 exact=OFF dir="$work/cmake-$RANDOM" got
        [[ "${3:-}" == EXACT ]] && exact=ON
        if cmake -S "$here/cmake-project" -B "$dir" -DCMAKE_PREFIX_PATH="$prefix" -DSUPRSEND_FIND_VERSION="$1" \
            -DSUPRSEND_FIND_EXACT="$exact" >"$dir.log" 2>&1; then got=accepted; else got=refused; fi
        if [[ $got == refused && $want == refused ]] && ! grep -q "suprsend-config.cmake, version: $version" "$dir.log"; then
            bad "$label: find_package(suprsend $1 ${3:-}) refused, but not for its version:"; sed 's/^/        /' "$dir.log"
            return
        fi
        same "$label: find_package(suprsend $1${3:+ $3}) $want" "$want" "$got"
    }
    request "$major" accepted
    request "$version" accepted EXACT
    request "$major.$minor" accepted
    request "$major.$((minor + 1))" refused
    request "$((major + 1))" refused
    request "$((major + 1)).0" refused
    request "$major...<$((major + 1))" accepted
    request "$((major + 1))...<$((major + 2))" refused
}

section "(c) pkg-config, moved staged tree (--define-prefix)"
PKG_CONFIG_PATH="$moved/lib/pkgconfig" pkg_config_checks "moved tree" "$moved" --define-prefix
section "(d) CMake, moved staged tree"
cmake_checks "moved tree" "$moved" versions

# ---------------------------------------------------------------------------------------------
section "(b) make install, default prefix /usr/local, as root"
if [[ "$(id -u)" -ne 0 ]]; then
    echo "  SKIP  ***** (b), (c) and (d) for /usr/local: not root, so make install into /usr/local cannot run *****"
    echo "  SKIP  ***** run tests/install/run.sh as root (CI does) to test the default install *****"
    skipped=yes
else
    skipped=no
    # The first install on a machine: no earlier libsuprsend in /usr/local, not in ld.so.cache.
    rm -f /usr/local/lib/libsuprsend.so /usr/local/lib/libsuprsend.so.[0-9]* /usr/local/include/suprsend.h \
          /usr/local/include/suprsend.hpp /usr/local/lib/pkgconfig/suprsend.pc /usr/local/bin/suprsend-events
    rm -rf /usr/local/lib/cmake/suprsend
    ldconfig
    same "before: ld.so.cache has no libsuprsend" "" "$(ldconfig -p | grep libsuprsend || true)"
    if make -C "$repo" install >"$work/b.log" 2>&1; then
        ok "make install (log: $(grep -c . "$work/b.log") lines)"
    else
        bad "make install failed:"; sed 's/^/        /' "$work/b.log"; exit 1
    fi
    check "install said it ran ldconfig" grep -q "ran ldconfig" "$work/b.log"
    same "ld.so.cache: libsuprsend.so.$major => /usr/local/lib" "libsuprsend.so.$major => /usr/local/lib/libsuprsend.so.$major" \
        "$(ldconfig -p | sed -n "s|^\s*\(libsuprsend\.so\.$major\) (.*) => \(.*\)|\1 => \2|p")"
    if [[ -f "$repo/dist/bin/suprsend-events" ]]; then
        loaded=$(resolved_lib /usr/local/bin/suprsend-events)
        check "/usr/local/bin/suprsend-events loads /usr/local/lib's library (loaded: $loaded)" test "$loaded" -ef "/usr/local/lib/$real"
    fi

    if (cd "$work" && "$cc" "$program" -o norpath -lsuprsend) 2>"$work/cc.log"; then
        ok "cc main.c -lsuprsend (no -I, -L or rpath) builds"
        same "no RPATH/RUNPATH in the program" "" "$(readelf -d "$work/norpath" | grep -E 'RPATH|RUNPATH' || true)"
        same "it runs without LD_LIBRARY_PATH" "libsuprsend $version ok" "$(env -u LD_LIBRARY_PATH "$work/norpath" 2>&1)"
        same "it loads /usr/local/lib's library" "/usr/local/lib/libsuprsend.so.$major" "$(resolved_lib "$work/norpath")"
    else
        bad "cc main.c -lsuprsend"; sed 's/^/        /' "$work/cc.log"
    fi

    # The binding from the source tree, run from elsewhere, with nothing pointing it at a library:
    # which file it mapped is read from /proc/self/maps.
    py_out=$(cd "$work" && env -u SUPRSEND_LIBRARY -u LD_LIBRARY_PATH PYTHONPATH="$repo/bindings/python/src" python3 -c '
import os, suprsend_native
mapped = sorted({line.split()[-1] for line in open("/proc/self/maps") if "libsuprsend" in line})
print(suprsend_native.library_version, suprsend_native.library_path, *[os.path.realpath(m) for m in mapped])
' 2>&1) || true
    same "Python: import suprsend_native finds /usr/local/lib's library (version, loaded name, mapped file)" \
        "$version libsuprsend.so.$major /usr/local/lib/$real" "$py_out"

    section "(c) pkg-config, /usr/local (default search path)"
    pkg_config_checks "/usr/local" /usr/local
    section "(d) CMake, /usr/local"
    cmake_checks "/usr/local" /usr/local
fi

echo
echo "install test: $passed passed, $failed failed$([[ $skipped == yes ]] && echo ", /usr/local part SKIPPED (not root)")"
[[ $failed -eq 0 ]]
