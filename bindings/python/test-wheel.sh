#!/usr/bin/env bash
# bindings/python/test-wheel.sh WHEELDIR: the wheel from build-wheel.sh (make wheel), installed into
# a fresh virtualenv and used the way a user would: from a directory outside the checkout, with
# SUPRSEND_LIBRARY, PYTHONPATH and LD_LIBRARY_PATH unset and no Swift toolchain on PATH.
#
#   0. the wheel: RECORD's sha256 and size for every entry, no symlinks, the library inside
#      (and, in a cp38-abi3 wheel, the C accelerator, which must then load in 1. and in the tests)
#   1. `import suprsend_native` loads the package and the libsuprsend from the venv's site-packages
#      (read from /proc/self/maps, and from the binding's library_path when it has one)
#   2. ldd of the bundled library: nothing "not found", no Swift runtime library
#   3. one event sent to a local hub (tools/hub) and seen there
#   4. the binding's test suite (bindings/python/tests) against the installed package: the tests
#      run from a copy of the repository without bindings/python/src, so neither conftest.py nor
#      the tests' subprocesses (which put that src on PYTHONPATH) can reach the source tree; a
#      plugin asserts that every suprsend_native module pytest imported is the venv's.
#
# The venv uses --system-site-packages for pytest and the official `suprsend` SDK that some tests
# compare against (`make deps` installs them); it is checked first that suprsend_native itself is
# not importable there. Removes the venv and stops its hub on exit. Exit status 0 only if all pass.
#
# Environment: PYTHON (default python3; the interpreter the venv is made from).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
wheeldir="$(cd "${1:?usage: test-wheel.sh WHEELDIR}" && pwd)"
started=$(date +%s)

# The real interpreter (not a pyenv shim, whose choice depends on the directory).
base_python="$("${PYTHON:-python3}" -c 'import sys; print(sys.executable)')"
platform_tag="$("$base_python" -c 'import re, sysconfig; print(re.sub(r"[^A-Za-z0-9_]", "_", sysconfig.get_platform()))')"

shopt -s nullglob
wheels=("$wheeldir"/suprsend_native-*-py3-none-"$platform_tag".whl "$wheeldir"/suprsend_native-*-cp38-abi3-"$platform_tag".whl)
shopt -u nullglob
if [[ ${#wheels[@]} -ne 1 ]]; then
    echo "test-wheel: expected one suprsend_native-*-{py3-none,cp38-abi3}-$platform_tag.whl in $wheeldir, found ${#wheels[@]}" >&2
    exit 1
fi
wheel="${wheels[0]}"
# A cp38-abi3 wheel carries the C accelerator (suprsend_native/_speedups.abi3.so): it must load.
accelerated=0
[[ "$wheel" == *-cp38-abi3-* ]] && accelerated=1

work="$(mktemp -d "${TMPDIR:-/tmp}/suprsend-wheel.XXXXXX")"
. "$repo/tools/hub/start-hub.sh"  # stop_hub
hub_pid=""
cleanup() {
    stop_hub "$hub_pid"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { echo "test-wheel: FAIL: $*" >&2; exit 1; }

# A user's environment: nothing pointing at the checkout or at the Swift toolchain.
unset SUPRSEND_LIBRARY PYTHONPATH LD_LIBRARY_PATH PYTHONHOME PYTHONSTARTUP
export PYTHONNOUSERSITE=1
PATH="$(printf '%s' "$PATH" | tr ':' '\n' | grep -v '^/opt/swift' | paste -sd: -)"
export PATH
mkdir -p "$work/run"
cd "$work/run"

echo "test-wheel: $wheel ($(stat -c %s "$wheel") bytes)"

# --- 0. the wheel itself ---------------------------------------------------------------------
"$base_python" - "$wheel" "$accelerated" <<'PY' || fail "the wheel's contents"
import base64, hashlib, stat, sys, zipfile
zf = zipfile.ZipFile(sys.argv[1])
accelerated = sys.argv[2] == "1"
names = zf.namelist()
record_name = next(n for n in names if n.endswith(".dist-info/RECORD"))
rows = [line.split(",") for line in zf.read(record_name).decode().splitlines() if line]
recorded = {r[0]: (r[1], r[2]) for r in rows}
assert set(recorded) == set(names), f"RECORD and the archive differ: {set(recorded) ^ set(names)}"
for name in names:
    info = zf.getinfo(name)
    assert not stat.S_ISLNK(info.external_attr >> 16), f"{name} is a symlink"
    if name == record_name:
        continue
    data = zf.read(name)
    expected = "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    assert recorded[name] == (expected, str(len(data))), f"{name}: RECORD says {recorded[name]}"
libs = [n for n in names if n.startswith("suprsend_native/_lib/libsuprsend.so")]
assert len(libs) == 1, f"expected one bundled library, found {libs}"
compiled = [n for n in names if n.endswith(".so") or ".so." in n]
assert sorted(compiled) == sorted(libs + (["suprsend_native/_speedups.abi3.so"] if accelerated else [])), \
    f"compiled files {compiled} do not fit the tag"
tag = next(l for l in zf.read(next(n for n in names if n.endswith(".dist-info/WHEEL"))).decode().splitlines()
           if l.startswith("Tag: "))
assert tag.startswith("Tag: cp38-abi3-" if accelerated else "Tag: py3-none-"), tag
print(f"test-wheel: 0. {len(names)} entries match RECORD, no symlinks, bundled {libs[0]}"
      + (", with the C accelerator" if accelerated else ""))
PY

# --- a fresh venv ----------------------------------------------------------------------------
"$base_python" -m venv --system-site-packages "$work/venv"
venv_python="$work/venv/bin/python"
"$venv_python" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("suprsend_native") is not None)' \
    || fail "suprsend_native is already importable in $base_python's environment; the test would not be of the wheel"
"$venv_python" -c 'import pytest' 2>/dev/null || fail "pytest is missing in $base_python (make deps installs it)"
if ! "$venv_python" -c 'import suprsend' 2>/dev/null; then
    echo "test-wheel: note: the official suprsend SDK is not installed; tests comparing against it may skip"
fi
"$venv_python" -m pip install --quiet --no-index --no-deps --no-cache-dir --disable-pip-version-check "$wheel"
site_packages="$("$venv_python" -c 'import os, sysconfig; print(os.path.realpath(sysconfig.get_paths()["platlib"]))')"

# --- 1. package and library come from the venv -----------------------------------------------
bundled="$("$venv_python" - "$site_packages" "$accelerated" <<'PY'
import os, sys
site = sys.argv[1]
lib_dir = os.path.join(site, "suprsend_native", "_lib")
import suprsend_native

def inside(path, directory):
    return os.path.realpath(path).startswith(directory + os.sep)

assert inside(suprsend_native.__file__, site), f"suprsend_native imported from {suprsend_native.__file__}, not {site}"
mapped = set()
with open("/proc/self/maps") as maps:
    for line in maps:
        fields = line.split(None, 5)
        if len(fields) == 6 and "libsuprsend" in fields[5]:
            mapped.add(fields[5].strip())
assert mapped, "no libsuprsend is mapped into the process after the import"
assert all(inside(p, lib_dir) for p in mapped), f"libsuprsend loaded from {mapped}, not from {lib_dir}"
# The binding names the path it loaded (suprsend_native._clib.library_path today); checked when present.
clib = getattr(suprsend_native, "_clib", None)
for named in (getattr(clib, "library_path", None), getattr(suprsend_native, "library_path", None)):
    if named is not None:
        assert inside(named, lib_dir), f"the binding says it loaded {named}"
if sys.argv[2] == "1":
    import suprsend_native.client
    speedups = suprsend_native.client._speedups
    assert speedups is not None, "the wheel's C accelerator did not load"
    assert inside(speedups.__file__, site), f"the accelerator loaded from {speedups.__file__}"
print(sorted(mapped)[0])
PY
)" || fail "the installed package or library is not the venv's"
echo "test-wheel: 1. suprsend_native and $bundled are the venv's$( ((accelerated)) && echo ", the C accelerator too")"

# --- 2. the bundled library's dependencies ---------------------------------------------------
ldd_out="$(ldd "$bundled")" || fail "ldd $bundled"
if grep -q 'not found' <<<"$ldd_out"; then
    echo "$ldd_out" >&2; fail "the bundled library has unresolved dependencies"
fi
if grep -Eiq 'swift|libFoundation|libdispatch|libBlocksRuntime' <<<"$ldd_out"; then
    echo "$ldd_out" >&2; fail "the bundled library needs the Swift runtime"
fi
needed="$(awk '{print $1}' <<<"$ldd_out" | grep -E '^lib(curl|ssl|crypto|sqlite3|stdc\+\+)' | paste -sd' ' -)"
echo "test-wheel: 2. ldd: $(wc -l <<<"$ldd_out") entries, none missing, no Swift runtime ($needed ...)"

# --- 3. one event to a local hub -------------------------------------------------------------
"$base_python" "$repo/tools/hub/suprsend-hub" --host 127.0.0.1 --port 0 --port-file "$work/hub.port" \
    --workspace demo_key:demo_secret --quiet >"$work/hub.log" 2>&1 &
hub_pid=$!
for _ in $(seq 1 300); do
    [[ -s "$work/hub.port" ]] && break
    kill -0 "$hub_pid" 2>/dev/null || { cat "$work/hub.log" >&2; fail "the hub exited"; }
    sleep 0.05
done
[[ -s "$work/hub.port" ]] || { cat "$work/hub.log" >&2; fail "the hub did not start in 15 s"; }
hub_url="http://127.0.0.1:$(cat "$work/hub.port")/"
"$venv_python" - "$hub_url" <<'PY' || fail "sending an event with the installed wheel"
import json, sys, urllib.request
from suprsend_native import Event, Suprsend
url = sys.argv[1]
client = Suprsend("demo_key", "demo_secret", base_url=url)
result = client.track_event(Event("wheel-user-1", "wheel_installed", {"via": "test-wheel.sh"}))
assert result["success"] is True, result
with urllib.request.urlopen(url + "_hub/events", timeout=30) as resp:
    events = json.loads(resp.read())
assert [(e["event"], e["distinct_id"], e["properties"]["via"]) for e in events] == \
    [("wheel_installed", "wheel-user-1", "test-wheel.sh")], events
print(f"test-wheel: 3. event sent with the installed wheel, the hub has it (status {result['status_code']})")
PY
kill "$hub_pid"; wait "$hub_pid" 2>/dev/null || true; hub_pid=""

# --- 4. the binding's tests against the installed package ------------------------------------
# A copy of the repository's files (tracked and new ones; the tests use tools/hub, include/,
# examples/) without bindings/python/src, dist/ and build trees.
mkdir -p "$work/tree"
if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$repo" ls-files -z --cached --others --exclude-standard \
        | grep -zv '^bindings/python/src/' \
        | tar -C "$repo" --null --files-from=- --ignore-failed-read -cf - 2>/dev/null \
        | tar -C "$work/tree" -xf -
else
    tar -C "$repo" --exclude=./.git --exclude='./.build*' --exclude=./dist --exclude=./bindings/python/src \
        --exclude=__pycache__ --exclude=.pytest_cache -cf - . | tar -C "$work/tree" -xf -
fi
[[ -d "$work/tree/bindings/python/tests" ]] || fail "copying the tests"
[[ ! -e "$work/tree/bindings/python/src" ]] || fail "the copy has bindings/python/src"

"$venv_python" - "$work/tree/bindings/python/tests" "$site_packages" "$accelerated" <<'PY' || fail "the binding's tests against the installed wheel"
import os, sys
import pytest

tests, site = sys.argv[1], sys.argv[2]


class InstalledPackageOnly:
    """Records every suprsend_native module pytest's process imported from outside the venv."""

    def __init__(self):
        self.seen, self.foreign = set(), set()

    def _check(self):
        for name, module in list(sys.modules.items()):
            if name == "suprsend_native" or name.startswith("suprsend_native."):
                path = getattr(module, "__file__", None)
                if path:
                    self.seen.add(name)
                    if not os.path.realpath(path).startswith(site + os.sep):
                        self.foreign.add(path)

    def pytest_collection_finish(self, session):
        self._check()

    def pytest_sessionfinish(self, session, exitstatus):
        self._check()


if sys.argv[3] == "1":  # test_speedups fails if the accelerator does not load
    os.environ["SUPRSEND_NATIVE_EXPECT_SPEEDUPS"] = "1"
guard = InstalledPackageOnly()
status = pytest.main(["-q", "-p", "no:cacheprovider", tests], plugins=[guard])
if "suprsend_native" not in guard.seen:
    sys.exit("test-wheel: the tests never imported suprsend_native")
if guard.foreign:
    sys.exit(f"test-wheel: the tests imported suprsend_native from outside the venv: {sorted(guard.foreign)}")
print(f"test-wheel: 4. pytest exit status {int(status)}; all {len(guard.seen)} suprsend_native modules "
      f"were the venv's ({os.path.join(site, 'suprsend_native')})")
sys.exit(int(status))
PY

echo "test-wheel: passed in $(( $(date +%s) - started )) s"
