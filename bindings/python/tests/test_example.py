"""examples/python/track_events.py runs against the hub."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import BINDING_DIR, KEY, REPO_ROOT, SECRET

EXAMPLE = os.path.join(REPO_ROOT, "examples", "python", "track_events.py")


def test_example_runs(hub):
    env = dict(os.environ)
    env.update({
        "SUPRSEND_BASE_URL": hub.base_url,
        "SUPRSEND_WORKSPACE_KEY": KEY,
        "SUPRSEND_WORKSPACE_SECRET": SECRET,
        "PYTHONPATH": os.pathsep.join(filter(None, [os.path.join(BINDING_DIR, "src"), env.get("PYTHONPATH")])),
    })
    if env.get("SUPRSEND_LIBRARY"):
        env["SUPRSEND_LIBRARY"] = os.path.abspath(env["SUPRSEND_LIBRARY"])
    proc = subprocess.run([sys.executable, EXAMPLE], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "product_purchased:" in proc.stdout
    assert "BulkResponse<status: partial | total: 3 | success: 2 | failure: 1" in proc.stdout
    stats = hub.stats()
    assert stats["accepted"] == 1 + 1 + 2
    assert stats["duplicates"] == 1
