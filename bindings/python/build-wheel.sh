#!/usr/bin/env bash
# bindings/python/build-wheel.sh OUTDIR: the Python binding (package suprsend_native) as a platform
# wheel with libsuprsend inside, written to OUTDIR (make wheel: dist/wheels/).
#
#   suprsend_native/...                the binding, from bindings/python/src
#   suprsend_native/_lib/libsuprsend.so.0   a copy of dist/lib/libsuprsend.so.<version> (the real
#                                      file; wheels hold no symlinks). The name is the library's
#                                      SONAME, and the loader's bundled-copy glob (_lib/libsuprsend.so*)
#                                      finds it before any system copy.
#
# Needs `make lib` first (dist/lib). The wheel is written with Python's zipfile, not with
# setuptools: setuptools before 70.1 needs the separate `wheel` package for bdist_wheel, which a
# fresh Python does not have, and `pip wheel` with build isolation would need PyPI. Here only the
# standard library is used, so the build works offline. Entries are sorted and stamped with one
# fixed date (SOURCE_DATE_EPOCH when set), so the same inputs give the same bytes (sha256 printed).
#
#   suprsend_native/_speedups.abi3.so  the optional C accelerator, when it was built (make python-ext,
#                                      which `make wheel` runs first): built against CPython's stable
#                                      ABI for 3.8+, so the tag is then cp38-abi3-linux_<arch> (one wheel
#                                      for every CPython from 3.8). Without it the binding is pure
#                                      ctypes and the tag py3-none-linux_<arch> (any Python 3).
#
# The platform part is linux_<arch> (the library is for this machine's architecture), not manylinux: manylinux promises that the wheel needs only a small
# allowlist of system libraries (glibc, libstdc++, ...), while libsuprsend links the system's
# libcurl, OpenSSL and SQLite (so that they get the distribution's security updates). Such a wheel
# runs on machines with those packages (Debian 12: libcurl4, libssl3, libsqlite3-0); PyPI does not
# accept linux_* tags, so it is installed from the file or a private index.
#
# Environment: PYTHON (default python3), SOURCE_DATE_EPOCH (timestamp of the entries).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
python="${PYTHON:-python3}"
outdir="${1:?usage: build-wheel.sh OUTDIR}"

[[ "$(uname -s)" == Linux ]] || { echo "build-wheel: only Linux wheels are built (the loader bundles libsuprsend.so*)" >&2; exit 1; }

header_version=$(sed -n 's/^#define SUPRSEND_VERSION_STRING "\(.*\)"/\1/p' "$repo/include/suprsend.h")
[[ -n "$header_version" ]] || { echo "build-wheel: no SUPRSEND_VERSION_STRING in include/suprsend.h" >&2; exit 1; }

library="$repo/dist/lib/libsuprsend.so.$header_version"
if [[ ! -f "$library" || -L "$library" ]]; then
    echo "build-wheel: $library is missing or not a regular file; run \`make lib\` first" >&2
    exit 1
fi

mkdir -p "$outdir"
outdir="$(cd "$outdir" && pwd)"

"$python" - "$here" "$library" "$header_version" "$outdir" <<'PY'
import base64
import ctypes
import hashlib
import os
import re
import sys
import sysconfig
import time
import zipfile

binding_dir, library, header_version, outdir = sys.argv[1:5]
PACKAGE = "suprsend_native"


def fail(message):
    sys.exit(f"build-wheel: {message}")


# --- project metadata from pyproject.toml ---------------------------------------------------
pyproject_path = os.path.join(binding_dir, "pyproject.toml")
with open(pyproject_path, "rb") as f:
    raw = f.read()
try:
    import tomllib  # Python 3.11+
    project = tomllib.loads(raw.decode("utf-8"))["project"]
except ImportError:  # older Python: the few plain fields this script reads
    text = raw.decode("utf-8")
    section = text.split("[project]", 1)[1].split("\n[", 1)[0]

    def field(name):
        m = re.search(rf'^{name}\s*=\s*"([^"]*)"', section, re.M)
        return m.group(1) if m else None

    def array(name):
        m = re.search(rf"^{name}\s*=\s*\[(.*?)\]", section, re.M | re.S)
        return re.findall(r'"([^"]*)"', m.group(1)) if m else []

    lic = re.search(r'^license\s*=\s*\{\s*text\s*=\s*"([^"]*)"', section, re.M)
    project = {"name": field("name"), "version": field("version"), "description": field("description"),
               "readme": field("readme"), "requires-python": field("requires-python"),
               "keywords": array("keywords"), "classifiers": array("classifiers"),
               "dependencies": array("dependencies"), "license": {"text": lic.group(1)} if lic else None}

version = project.get("version")
if version != header_version:
    fail(f"pyproject.toml says version {version!r} but include/suprsend.h says {header_version!r}; "
         "make them agree")
if project.get("dependencies"):
    fail("pyproject.toml lists dependencies; this script does not write Requires-Dist for them")

# The library itself must be the version the header names (a stale dist/ would not be).
lib_version = ctypes.CDLL(library).suprsend_version
lib_version.restype = ctypes.c_char_p
reported = (lib_version() or b"").decode("utf-8", "replace")
if reported != header_version:
    fail(f"{library} reports version {reported!r}, the header {header_version!r}; rebuild with `make lib`")

# --- the tag: this interpreter's platform, e.g. linux-x86_64 -> linux_x86_64 ---------------
platform_tag = re.sub(r"[^A-Za-z0-9_]", "_", sysconfig.get_platform())
if not platform_tag.startswith("linux_"):
    fail(f"unexpected platform {sysconfig.get_platform()!r}")
accelerator = os.path.join(binding_dir, "src", PACKAGE, "_speedups.abi3.so")
tag = f"cp38-abi3-{platform_tag}" if os.path.isfile(accelerator) else f"py3-none-{platform_tag}"
dist_name = re.sub(r"[-_.]+", "_", project["name"]).lower()
wheel_name = f"{dist_name}-{version}-{tag}.whl"
dist_info = f"{dist_name}-{version}.dist-info"

# --- files ----------------------------------------------------------------------------------
package_src = os.path.join(binding_dir, "src", PACKAGE)
entries = []  # (archive name, bytes, executable)
for dirpath, dirnames, filenames in os.walk(package_src):
    rel_dir = os.path.relpath(dirpath, package_src)
    # _lib in the source tree would be a stray local copy; the wheel's comes from dist/lib.
    dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not (rel_dir == "." and d == "_lib"))
    for name in sorted(filenames):
        if name.endswith((".pyc", ".pyo")) or name.startswith(".") or ".part." in name:
            continue
        if name.endswith(".so") and not (rel_dir == "." and name == "_speedups.abi3.so"):
            fail(f"{os.path.join(dirpath, name)}: an unexpected compiled module (only _speedups.abi3.so, "
                 "built for the stable ABI, may go into the wheel)")
        path = os.path.join(dirpath, name)
        if os.path.islink(path):
            fail(f"{path} is a symlink; wheels cannot hold symlinks")
        arcname = "/".join([PACKAGE] + ([] if rel_dir == "." else rel_dir.split(os.sep)) + [name])
        with open(path, "rb") as f:
            entries.append((arcname, f.read(), False))
if not any(name == f"{PACKAGE}/__init__.py" for name, _, _ in entries):
    fail(f"{package_src}/__init__.py is missing")

with open(library, "rb") as f:
    entries.append((f"{PACKAGE}/_lib/libsuprsend.so.{header_version.split('.')[0]}", f.read(), True))

readme = project.get("readme")
description = ""
if readme:
    with open(os.path.join(binding_dir, readme), encoding="utf-8") as f:
        description = f.read()

meta = ["Metadata-Version: 2.1", f"Name: {project['name']}", f"Version: {version}"]
if project.get("description"):
    meta.append(f"Summary: {project['description']}")
if project.get("keywords"):
    meta.append("Keywords: " + ",".join(project["keywords"]))
if project.get("license"):
    meta.append(f"License: {project['license'].get('text', '')}")
meta += [f"Classifier: {c}" for c in project.get("classifiers", [])]
if project.get("requires-python"):
    meta.append(f"Requires-Python: {project['requires-python']}")
for extra, requirements in sorted((project.get("optional-dependencies") or {}).items()):
    meta.append(f"Provides-Extra: {extra}")
    meta += [f'Requires-Dist: {r}; extra == "{extra}"' for r in requirements]
if description:
    meta.append("Description-Content-Type: text/markdown")
metadata = "\n".join(meta) + "\n"
if description:
    metadata += "\n" + description

wheel_info = ("Wheel-Version: 1.0\n"
              "Generator: libsuprsend bindings/python/build-wheel.sh\n"
              "Root-Is-Purelib: false\n"
              f"Tag: {tag}\n")

entries.append((f"{dist_info}/METADATA", metadata.encode("utf-8"), False))
entries.append((f"{dist_info}/WHEEL", wheel_info.encode("utf-8"), False))
entries.append((f"{dist_info}/top_level.txt", f"{PACKAGE}\n".encode(), False))


def digest(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


record = "".join(f"{name},{digest(data)},{len(data)}\n" for name, data, _ in entries)
record += f"{dist_info}/RECORD,,\n"
entries.append((f"{dist_info}/RECORD", record.encode(), False))

# --- write ----------------------------------------------------------------------------------
epoch = int(os.environ.get("SOURCE_DATE_EPOCH") or 315532800)  # default: 1980-01-01, zip's earliest
stamp = time.gmtime(max(epoch, 315532800))[:6]

for old in os.listdir(outdir):  # one wheel of this package per platform in OUTDIR (with or without C)
    if old.startswith(f"{dist_name}-") and old.endswith(f"-{platform_tag}.whl"):
        os.remove(os.path.join(outdir, old))
target = os.path.join(outdir, wheel_name)
partial = target + ".part"
with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as zf:
    for name, data, executable in entries:  # dist-info last, RECORD at the very end (as the spec asks)
        info = zipfile.ZipInfo(name, date_time=stamp)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = ((0o100755 if executable else 0o100644) & 0xFFFF) << 16
        info.create_system = 3  # Unix, so the modes above are honoured
        zf.writestr(info, data)
os.replace(partial, target)

with open(target, "rb") as f:
    sha = hashlib.sha256(f.read()).hexdigest()
print(f"build-wheel: {target}")
print(f"build-wheel: {os.path.getsize(target)} bytes, sha256 {sha}, {len(entries)} files, tag {tag}, "
      f"libsuprsend {header_version}")
PY
