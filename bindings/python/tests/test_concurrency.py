"""Many threads on one client, fork, the GIL, and memory over many calls."""

from __future__ import annotations

import gc
import os
import threading
import time

import pytest

from conftest import KEY, SECRET, invalid_event
from suprsend_native import Event, Suprsend


def test_8_threads_x_200_events_on_one_client(hub):
    failures = []
    with Suprsend(KEY, SECRET, base_url=hub.base_url, max_retries=3) as client:
        def worker(t):
            for i in range(200):
                r = client.track_event(Event(f"user_{t}", "threaded", {"t": t, "i": i}))
                if not r["success"]:
                    failures.append(r)

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    assert failures == []
    stats = hub.stats()
    assert stats["accepted"] == 1600
    assert stats["duplicates"] == 0
    seen = {(e["properties"]["t"], e["properties"]["i"]) for e in hub.events()}
    assert len(seen) == 1600


def test_calls_release_the_gil(hub):
    """4 calls that the hub holds are at the hub at once while this thread runs Python: no call
    keeps the GIL while it waits (one that did would keep the other threads from starting theirs,
    and this thread from polling). No timing: the hub holds them until told."""
    hub.faults([{"delay_ms": 20000}] * 4)
    results = []
    with Suprsend(KEY, SECRET, base_url=hub.base_url, max_retries=0) as client:
        def worker():
            results.append(client.track_event(Event("user", "parallel")))

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for th in threads:
            th.start()
        deadline = time.monotonic() + 15
        active = 0
        while active < 4 and time.monotonic() < deadline:
            active = hub.call("GET", "/_hub/inflight")["active"]
            time.sleep(0.01)
        waiting = sum(th.is_alive() for th in threads)
        hub.release(drop=False)  # the hub answers them now
        for th in threads:
            th.join(30)
    assert active == 4, f"the hub saw {active} of the 4 calls at once: calls are serialized (GIL held?)"
    assert waiting == 4
    assert all(r["success"] for r in results) and len(results) == 4


def test_close_waits_for_calls_in_flight(hub):
    hub.faults([{"delay_ms": 500}])
    client = Suprsend(KEY, SECRET, base_url=hub.base_url, max_retries=0)
    results = []
    th = threading.Thread(target=lambda: results.append(client.track_event(Event("user", "in_flight"))))
    th.start()
    time.sleep(0.15)
    client.close()  # must not free the client under the running call
    th.join()
    assert results and results[0]["success"] is True


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_uses_the_parents_client(hub):
    with Suprsend(KEY, SECRET, base_url=hub.base_url, max_retries=2) as client:
        assert client.track_event(Event("parent", "before_fork"))["success"]
        pid = os.fork()
        if pid == 0:  # child: send one event with the inherited client, then leave at once
            code = 1
            try:
                r = client.track_event(Event("child", "from_child", {"pid": os.getpid()}))
                code = 0 if r["success"] else 2
            except BaseException:
                code = 3
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status), f"child did not exit normally (status {status})"
        assert os.WEXITSTATUS(status) == 0, f"child exit code {os.WEXITSTATUS(status)}"
        assert client.track_event(Event("parent", "after_fork"))["success"]
    names = [e["event"] for e in hub.events()]
    assert names == ["before_fork", "from_child", "after_fork"]
    assert hub.stats()["accepted"] == 3


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forks_while_other_threads_send(hub):
    """A child forked while other threads are inside the library must not inherit a held
    lock: every child sends and exits within its deadline."""
    stop = threading.Event()
    with Suprsend(KEY, SECRET, base_url=hub.base_url, max_retries=1) as client:
        def sender() -> None:
            while not stop.is_set():
                client.track_event(Event("busy", "background", {"n": 1}))

        threads = [threading.Thread(target=sender) for _ in range(3)]
        for t in threads:
            t.start()
        failures = []
        try:
            for i in range(20):
                pid = os.fork()
                if pid == 0:
                    code = 1
                    try:
                        code = 0 if client.track_event(Event("child", "forked", {"i": i}))["success"] else 2
                    finally:
                        os._exit(code)
                deadline = time.monotonic() + 15
                while True:
                    done, status = os.waitpid(pid, os.WNOHANG)
                    if done:
                        break
                    if time.monotonic() > deadline:
                        os.kill(pid, 9)
                        os.waitpid(pid, 0)
                        status = -1
                        break
                    time.sleep(0.005)
                if status != 0:
                    failures.append((i, status))
        finally:
            stop.set()
            for t in threads:
                t.join()
    assert failures == [], f"children that hung or failed: {failures}"
    assert sum(1 for e in hub.events() if e["event"] == "forked") == 20


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc/self/statm")
def test_no_memory_growth(hub, capsys, tmp_path):
    """20,000 sends, 2,000 rejected events and 20,000 event builds: RSS stays flat after a warm-up."""
    att = tmp_path / "a.bin"
    att.write_bytes(os.urandom(2048))
    props = {"name": "User ✓", "nested": {"list": list(range(20)), "s": "x" * 200}}

    def one_round(client, sends, builds):
        for i in range(sends):
            r = client.track_event(Event(f"user_{i % 50}", "memory_check", props))
            assert r["success"]
        for i in range(sends // 10):  # failures too: responses and errors must be freed
            try:
                client.track_event(invalid_event("user", "$bad"))
            except ValueError:
                pass
        ev = Event("user", "memory_check", props)
        ev.add_attachment(str(att))
        ev.add_attachment("https://example.com/a.pdf")
        for _ in range(builds):
            from suprsend_native._clib import lib
            lib.suprsend_event_free(ev._build())
        bulk = client.bulk_events.new_instance()
        bulk.append(*[Event(f"u{i}", "memory_bulk", props) for i in range(sends // 10)], invalid_event("u", "$bad"))
        assert bulk.trigger().failure == 1

    with Suprsend(KEY, SECRET, base_url=hub.base_url, max_retries=2) as client:
        one_round(client, 500, 2000)  # warm-up: caches, connection pool, allocator arenas
        gc.collect()
        before = _rss_mb()
        t0 = time.monotonic()
        for _ in range(4):
            one_round(client, 5000, 5000)  # 20,000 sends + 2,000 rejected + 20,000 builds + 4 bulks
        gc.collect()
        after = _rss_mb()
        elapsed = time.monotonic() - t0
    with capsys.disabled():
        print(f"\n[memory] RSS before {before:.1f} MB, after {after:.1f} MB, growth {after - before:+.2f} MB "
              f"over 20000 sends + 2000 rejected + 20000 builds + 4 bulks of 500 ({elapsed:.1f} s)")
    assert after - before < 8.0, f"RSS grew {after - before:.1f} MB"
    assert hub.stats()["accepted"] == 500 + 50 + 4 * (5000 + 500)


def test_errors_are_per_thread(hub):
    """suprsend_last_error() is thread-local: each thread sees the message of its own failure."""
    problems = []
    with Suprsend(KEY, SECRET, base_url=hub.base_url) as client:
        def worker(t):
            for i in range(100):
                name = f"$bad_{t}_{i}"
                try:
                    client.track_event(invalid_event(f"user_{t}", name))
                    problems.append(f"{name} was accepted")
                except ValueError as e:
                    if name not in str(e):
                        problems.append(f"{name}: got {e}")
                if not client.track_event(Event(f"user_{t}", f"good_{t}"))["success"]:
                    problems.append("good event failed")

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(6)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    assert problems == []
    assert hub.stats()["accepted"] == 600


def test_unclosed_objects_at_exit(hub, tmp_path):
    """Clients, bulks and events left open when the interpreter exits: no crash, exit code 0."""
    import subprocess
    import sys

    from conftest import BINDING_DIR

    script = tmp_path / "leave_open.py"
    script.write_text(
        "import sys, gc\n"
        "from suprsend_native import Suprsend, Event\n"
        f"c = Suprsend({KEY!r}, {SECRET!r}, base_url={hub.base_url!r})\n"
        "assert c.track_event(Event('u', 'at_exit'))['success']\n"
        "b = c.bulk_events.new_instance(); b.append(Event('u', 'never'))\n"
        "c2 = Suprsend('k2', 's2'); del c2; gc.collect()\n"
        "ev = Event('u', 'left')\n"
        "sys.exit(0)\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.path.join(BINDING_DIR, "src"), env.get("PYTHONPATH")]))
    if env.get("SUPRSEND_LIBRARY"):
        env["SUPRSEND_LIBRARY"] = os.path.abspath(env["SUPRSEND_LIBRARY"])
    proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert hub.stats()["accepted"] == 1
