"""fork() while the library logs into Python during an outbox failure: the log callback needs the
GIL, which os.fork holds while it waits for the library's critical sections; a line written
inside one would deadlock the two. The library writes such lines after its sections, so 100
forks beside a failing outbox (another process holds its write lock) never hang."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from conftest import KEY, SECRET, TESTS_DIR

SCRIPT = textwrap.dedent("""
    import logging, os, sqlite3, sys, time
    from suprsend_native import Event, Suprsend
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    path, url = sys.argv[1], sys.argv[2]
    client = Suprsend(sys.argv[3], sys.argv[4], base_url=url, outbox=path, flush_interval=0, timeout=1)
    for i in range(5):
        client.enqueue(Event("u", "fork_while_logging", {"i": i}))
    # Another process's write lock: every claim of the worker fails after its busy wait, and says so.
    # (Waiting, if need be, for a transaction of the worker's to end first.)
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    for _ in range(100):
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        time.sleep(0.03)
    db.execute("COMMIT")
    client.close(timeout=0)
    print("forked 100 times")
""")


def test_forks_while_a_python_log_callback_runs_during_an_outbox_failure(tmp_path, unused_port):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(os.path.dirname(TESTS_DIR), "src") + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "outbox.db"), f"http://127.0.0.1:{unused_port}/",
                           KEY, SECRET], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "forked 100 times"
    assert "claiming events failed" in done.stderr or "failed" in done.stderr, "the outbox failure was not logged"
