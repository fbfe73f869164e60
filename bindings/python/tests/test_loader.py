"""Finding the library, and the ImportError when it cannot be found."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import BINDING_DIR


def _import(env_changes):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(BINDING_DIR, "src")
    for k, v in env_changes.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return subprocess.run([sys.executable, "-c", "import suprsend_native as s; print(s.library_path)"],
                          env=env, capture_output=True, text=True, timeout=60)


def test_bad_suprsend_library_is_an_import_error_that_says_what_to_do(tmp_path):
    proc = _import({"SUPRSEND_LIBRARY": str(tmp_path / "missing" / "libsuprsend.so")})
    assert proc.returncode != 0
    assert "ImportError" in proc.stderr
    assert "SUPRSEND_LIBRARY" in proc.stderr and "make" in proc.stderr and "make install" in proc.stderr


def test_not_a_library(tmp_path):
    fake = tmp_path / "libsuprsend.so"
    fake.write_bytes(b"not an ELF file")
    proc = _import({"SUPRSEND_LIBRARY": str(fake)})
    assert proc.returncode != 0 and "ImportError" in proc.stderr


def test_suprsend_library_wins(tmp_path):
    import suprsend_native

    link = tmp_path / "libsuprsend-copy.so"
    os.symlink(os.path.realpath(suprsend_native.library_path), link)
    proc = _import({"SUPRSEND_LIBRARY": str(link)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(link)


def test_found_without_suprsend_library():
    """From a checkout (dist/lib/libsuprsend.so) or the system, without the variable."""
    proc = _import({"SUPRSEND_LIBRARY": None})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith(("libsuprsend.so", "libsuprsend.so.0"))


def test_every_function_has_a_prototype():
    from suprsend_native import _clib

    header = os.path.join(os.path.dirname(os.path.dirname(BINDING_DIR)), "include", "suprsend.h")
    import re

    declared = set(re.findall(r"\b(suprsend_[a-z_]+)\s*\(", open(header).read()))
    declared.discard("suprsend_log_fn")
    declared.discard("suprsend_delivery_fn")
    bound = (set(_clib._PROTOTYPES) | set(_clib._BACKGROUND_PROTOTYPES) | set(_clib._JSON_EVENT_PROTOTYPES)
             | set(_clib._TYPED_OUTCOME_PROTOTYPES) | set(_clib._ASYNC_PROTOTYPES)
             | set(_clib._OUTBOX_EXTRA_PROTOTYPES))
    assert not set(_clib._PROTOTYPES) & set(_clib._BACKGROUND_PROTOTYPES)
    assert declared == bound, declared ^ bound
