"""Background delivery: enqueue, flush, close, stats, on_delivery, fork and the exit hook.

Every wait is a flush or close with a deadline, or a poll of a condition with a deadline;
no sleep stands in for an assertion.
"""

from __future__ import annotations

import gc
import logging
import math
import os
import shutil
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Dict, List

import pytest

from conftest import BINDING_DIR, KEY, SECRET
from suprsend_native import (
    Event,
    EventTooLargeError,
    SuprsendArgumentError,
    SuprsendAttachmentError,
    SuprsendClosedError,
    SuprsendError,
    SuprsendQueueFullError,
    SuprsendStorageError,
    SuprsendValidationError,
    Suprsend,
)


class Deliveries:
    """An on_delivery callable that records what it is given (from any thread).

    No lock of its own (list.append is atomic): a child forked while the worker was inside
    a lock here would inherit it held.
    """

    def __init__(self) -> None:
        self.items: List[Dict[str, Any]] = []

    def __call__(self, info: Dict[str, Any]) -> None:
        self.items.append(info)

    def snapshot(self) -> List[Dict[str, Any]]:
        return list(self.items)

    def statuses(self) -> List[str]:
        return [d["status"] for d in self.snapshot()]


def make(hub, **kw: Any) -> Suprsend:
    kw.setdefault("flush_interval", 0.05)
    return Suprsend(KEY, SECRET, base_url=hub.base_url, timeout=10, **kw)


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.01)


def set_faults(hub, config: Dict[str, Any]) -> None:
    hub.call("POST", "/_hub/faults", config)


# --- delivery ------------------------------------------------------------------------------------

def test_enqueue_many_then_flush_delivers_each_once(hub):
    got = Deliveries()
    n = 600
    with make(hub, on_delivery=got) as client:
        for i in range(n):
            assert client.enqueue(Event(f"user_{i % 7}", "bg_event", {"i": i})) is None
        client.enqueue(Event("keyed", "bg_keyed", idempotency_key="order-1234"))
        assert client.flush(timeout=30) is True
        stats = client.stats()
    items = got.snapshot()
    assert len(items) == n + 1, f"{len(items)} deliveries for {n + 1} events"
    insert_ids = [d["insert_id"] for d in items]
    assert len(set(insert_ids)) == n + 1, "an event was reported twice"
    for d in items:
        assert d["status"] == "delivered" and d["code"] == 0 and d["status_name"] == "SUPRSEND_OK", d
        assert d["http_status"] == 202 and d["attempts"] == 1 and d["message"], d
        assert d["idempotency_key"], d  # auto idempotency is on by default

    events = hub.events()
    assert len(events) == n + 1
    by_id = {e["$insert_id"]: e for e in events}
    assert len(by_id) == n + 1, "the hub received an event twice"
    assert set(by_id) == set(insert_ids)
    assert sorted(e["properties"]["i"] for e in events if e["event"] == "bg_event") == list(range(n))
    for d in items:
        e = by_id[d["insert_id"]]
        assert d["event_name"] == e["event"] and d["distinct_id"] == e["distinct_id"]
        assert d["idempotency_key"] == e["$idempotency_key"]
        assert d["message"] == e["_hub"]["message_id"]
    keyed = [d for d in items if d["event_name"] == "bg_keyed"]
    assert keyed[0]["idempotency_key"] == "order-1234" and keyed[0]["distinct_id"] == "keyed"
    assert hub.stats()["duplicates"] == 0
    assert stats["delivered"] == n + 1 and stats["queued"] == 0 and stats["in_flight"] == 0
    assert stats["refused"] == 0 and stats["dropped"] == 0


def test_threads_and_hub_faults_still_give_each_event_one_fate(hub):
    """4 threads enqueue while the hub fails a third of the requests (503, lost answers, drops):
    every event has exactly one fate, "delivered", and the hub holds each exactly once."""
    got = Deliveries()
    set_faults(hub, {"rate": {"status_503": 0.15, "drop_after_processing": 0.1, "drop_before_processing": 0.1},
                     "seed": 11})
    per_thread = 500
    with make(hub, on_delivery=got, flush_interval=0.02) as client:
        def producer(t: int) -> None:
            for i in range(per_thread):
                client.enqueue(Event(f"user_{t}", "under_faults", {"t": t, "i": i}))

        threads = [threading.Thread(target=producer, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert client.flush(timeout=45) is True
        stats = client.stats()
    items = got.snapshot()
    assert len(items) == 4 * per_thread and len({d["insert_id"] for d in items}) == 4 * per_thread
    assert set(got.statuses()) == {"delivered"}
    events = hub.events()
    assert len(events) == 4 * per_thread, f"{len(events)} events at the hub"
    assert {(e["properties"]["t"], e["properties"]["i"]) for e in events} == \
        {(t, i) for t in range(4) for i in range(per_thread)}
    assert {e["$insert_id"] for e in events} == {d["insert_id"] for d in items}
    assert stats["delivered"] == 4 * per_thread and stats["retries"] >= 1


def test_flush_without_events_and_trimmed_names(hub):
    got = Deliveries()
    with make(hub, on_delivery=got) as client:
        assert client.flush(timeout=5) is True  # nothing queued: done at once
        client.enqueue(Event("  user_1  ", "  trimmed_name  "))
        assert client.flush(timeout=10) is True
    (d,) = got.snapshot()
    assert d["distinct_id"] == "user_1" and d["event_name"] == "trimmed_name"


def test_bad_events_raise_like_track_event(hub, tmp_path):
    got = Deliveries()
    att = tmp_path / "gone.txt"
    att.write_text("soon gone")
    with make(hub, on_delivery=got, max_event_bytes=2048) as client:
        reserved, empty_user = Event("user", "$reserved"), Event("   ", "empty_user")  # checked when enqueued
        with pytest.raises(SuprsendValidationError) as e:
            client.enqueue(reserved)
        assert "$reserved" in str(e.value)
        with pytest.raises(SuprsendValidationError):
            client.enqueue(empty_user)
        wrong_type = Event("user", "wrong_type", ["not", "a", "dict"])  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="properties"):
            client.enqueue(wrong_type)
        with pytest.raises(EventTooLargeError):
            client.enqueue(Event("user", "too_large", {"x": "y" * 5000}))
        with pytest.raises(SuprsendArgumentError):
            client.enqueue(Event("user", "nan", {"x": math.nan}))
        with pytest.raises(TypeError):
            client.enqueue({"event": "not an Event"})  # type: ignore[arg-type]
        # A file is read when added (see test_dropin): a missing one fails there, not at enqueue.
        ev = Event("user", "attached")
        att.unlink()
        with pytest.raises(SuprsendAttachmentError):
            ev.add_attachment(str(att))
        stats = client.stats()
        assert stats["queued"] == 0 and stats["in_flight"] == 0
        assert client.flush(timeout=5) is True
    assert got.snapshot() == []
    assert hub.stats()["requests"] == 0


def test_refused_event_is_never_retried(hub):
    got = Deliveries()
    with make(hub, on_delivery=got, flush_interval=60) as client:
        for i in range(3):
            client.enqueue(Event("user", "to_refuse", {"i": i}))
        hub.faults([{"status": 400}] * 3)  # however the worker batches them
        assert client.flush(timeout=15) is True
        items = got.snapshot()
        assert len(items) == 3
        for d in items:
            assert d["status"] == "refused" and d["code"] == 6 and d["status_name"] == "SUPRSEND_E_HTTP", d
            assert d["http_status"] == 400 and d["attempts"] == 1 and d["message"], d
        refused_requests = hub.stats()["requests"]
        assert 1 <= refused_requests <= 3
        stats = client.stats()
        assert stats["refused"] == 3 and stats["retries"] == 0 and stats["delivered"] == 0

        hub.faults([])
        client.enqueue(Event("user", "after_refusal"))
        assert client.flush(timeout=15) is True
        stats = client.stats()
    assert got.statuses()[3:] == ["delivered"]
    assert hub.stats()["requests"] == refused_requests + 1, "a refused event was sent again"
    assert [e["event"] for e in hub.events()] == ["after_refusal"]
    assert stats["refused"] == 3 and stats["delivered"] == 1 and stats["retries"] == 0


def test_503_then_success_is_delivered_once(hub):
    got = Deliveries()
    hub.faults([{"status": 503}])
    with make(hub, on_delivery=got) as client:
        client.enqueue(Event("user", "after_503"))
        assert client.flush(timeout=20) is True
        stats = client.stats()
    (d,) = got.snapshot()
    assert d["status"] == "delivered" and d["http_status"] == 202 and d["attempts"] == 2, d
    assert stats["retries"] >= 1 and stats["delivered"] == 1 and stats["refused"] == 0
    assert [e["$insert_id"] for e in hub.events()] == [d["insert_id"]]
    assert hub.stats()["requests"] == 2


def test_lost_answer_is_retried_and_not_processed_twice(hub):
    got = Deliveries()
    hub.faults([{"drop": "after_processing"}])
    with make(hub, on_delivery=got) as client:
        client.enqueue(Event("user", "answer_lost"))
        assert client.flush(timeout=20) is True
    (d,) = got.snapshot()
    assert d["status"] == "delivered" and d["attempts"] == 2, d
    events = hub.events()
    assert [e["$insert_id"] for e in events] == [d["insert_id"]]
    assert hub.stats()["duplicates"] == 1  # the retry carried the same idempotency key


def test_retry_after_is_honoured(hub):
    got = Deliveries()
    hub.faults([{"status": 429, "retry_after": 1}])
    with make(hub, on_delivery=got) as client:
        client.enqueue(Event("user", "after_429"))
        start = time.monotonic()
        assert client.flush(timeout=20) is True
        elapsed = time.monotonic() - start
    (d,) = got.snapshot()
    assert d["status"] == "delivered" and d["attempts"] == 2, d
    assert elapsed >= 0.9, f"retried {elapsed:.2f} s after a 429 with Retry-After: 1"
    assert len(hub.events()) == 1


def test_expired_event(hub):
    got = Deliveries()
    set_faults(hub, {"rate": {"status_503": 1.0}})
    with make(hub, on_delivery=got, max_event_age=1) as client:
        client.enqueue(Event("user", "never_accepted"))
        start = time.monotonic()
        assert client.flush(timeout=15) is True
        elapsed = time.monotonic() - start
        stats = client.stats()
    (d,) = got.snapshot()
    assert d["status"] == "expired" and d["code"] == 7 and d["status_name"] == "SUPRSEND_E_TIMEOUT", d
    assert d["attempts"] >= 1
    assert elapsed >= 0.9, f"expired after {elapsed:.2f} s, before max_event_age (1 s)"
    assert stats["dropped"] == 1 and stats["delivered"] == 0 and stats["refused"] == 0
    assert stats["retries"] == d["attempts"] - 1
    assert hub.events() == []


def test_stats_count_exactly(hub):
    got = Deliveries()
    with make(hub, on_delivery=got, flush_interval=60) as client:
        zero = client.stats()
        assert zero == {"queued": 0, "in_flight": 0, "delivered": 0, "refused": 0, "dropped": 0,
                        "retries": 0, "outbox_bytes": 0}
        for i in range(10):
            client.enqueue(Event("user", "counted", {"i": i}))
        assert client.stats() == dict(zero, queued=10)
        assert client.flush(timeout=15) is True
        assert client.stats() == dict(zero, delivered=10)
        hub.faults([{"status": 503}])
        client.enqueue(Event("user", "retried"))
        assert client.flush(timeout=15) is True
        assert client.stats() == dict(zero, delivered=11, retries=1)
        hub.faults([{"status": 422}] * 2)  # however the worker batches them
        client.enqueue(Event("user", "refused_1"))
        client.enqueue(Event("user", "refused_2"))
        assert client.flush(timeout=15) is True
        hub.faults([])
        assert client.stats() == dict(zero, delivered=11, refused=2, retries=1)
    assert sorted(got.statuses()) == ["delivered"] * 11 + ["refused"] * 2
    assert len(hub.events()) == 11


# --- deadlines -----------------------------------------------------------------------------------

def test_flush_deadline_while_the_hub_stalls(hub):
    got = Deliveries()
    hub.faults([{"delay_ms": 2000, "status": 503}])
    with make(hub, on_delivery=got, flush_interval=0) as client:
        client.enqueue(Event("user", "stalled"))
        start = time.monotonic()
        assert client.flush(timeout=0.2) is False
        elapsed = time.monotonic() - start
        assert 0.15 <= elapsed < 1.0, f"flush(timeout=0.2) took {elapsed:.2f} s"
        assert got.snapshot() == []
        # The event goes on being delivered: after the stall, a retry succeeds.
        assert client.flush(timeout=20) is True
    (d,) = got.snapshot()
    assert d["status"] == "delivered" and d["attempts"] == 2, d
    assert len(hub.events()) == 1


def test_flush_releases_the_gil(hub):
    hub.faults([{"delay_ms": 1500, "status": 503}])
    with make(hub, flush_interval=0) as client:
        client.enqueue(Event("user", "gil"))
        ticks = []
        stop = threading.Event()

        def ticker() -> None:
            while not stop.is_set():
                ticks.append(1)
                time.sleep(0.005)

        th = threading.Thread(target=ticker)
        th.start()
        try:
            assert client.flush(timeout=0.6) is False
        finally:
            stop.set()
            th.join()
        assert len(ticks) > 30, f"only {len(ticks)} ticks while flush waited: the GIL was held"
        assert client.flush(timeout=20) is True


def test_close_with_events_queued_while_the_hub_stalls(hub):
    got = Deliveries()
    hub.faults([{"delay_ms": 4000, "status": 503}] * 5)
    client = make(hub, on_delivery=got, flush_interval=0)
    for i in range(5):
        client.enqueue(Event("user", "left_at_close", {"i": i}))
    wait_until(lambda: client.stats()["in_flight"] > 0, 5, "a request in flight")
    start = time.monotonic()
    assert client.close(timeout=0.5) is False
    elapsed = time.monotonic() - start
    assert elapsed < 2.0, f"close(timeout=0.5) took {elapsed:.2f} s"
    items = got.snapshot()
    assert len(items) == 5 and len({d["insert_id"] for d in items}) == 5, items
    for d in items:
        assert d["status"] == "closed" and d["code"] == 10 and d["status_name"] == "SUPRSEND_E_CLOSED", d
    assert client.closed
    with pytest.raises(SuprsendClosedError):
        client.enqueue(Event("user", "after_close"))
    with pytest.raises(SuprsendClosedError):
        client.flush(timeout=1)
    with pytest.raises(SuprsendClosedError):
        client.stats()
    assert client.close() is True  # idempotent
    assert len(got.snapshot()) == 5
    assert hub.events() == []
    hub.release()  # the request the close abandoned, still held by the hub


def test_close_delivers_what_is_queued(hub):
    got = Deliveries()
    client = make(hub, on_delivery=got, flush_interval=60)
    for i in range(20):
        client.enqueue(Event("user", "delivered_at_close", {"i": i}))
    assert client.close(timeout=10) is True
    assert got.statuses() == ["delivered"] * 20
    assert len(hub.events()) == 20


def test_close_with_slow_callbacks_returns_true_when_everything_was_delivered(hub):
    got = Deliveries()

    def slow(info: Dict[str, Any]) -> None:
        time.sleep(0.1)
        got(info)

    client = make(hub, on_delivery=slow, flush_interval=60)
    for i in range(6):
        client.enqueue(Event("user", "slow_callback", {"i": i}))
    result = client.close(timeout=0.2)
    assert got.statuses() == ["delivered"] * 6 and len(hub.events()) == 6
    assert result is True, "close() said events were left, but every one was delivered"


def test_with_block_delivers_within_the_shutdown_timeout(hub):
    got = Deliveries()
    with make(hub, on_delivery=got, flush_interval=60, shutdown_timeout=10) as client:
        for i in range(5):
            client.enqueue(Event("user", "with_block", {"i": i}))
    assert client.closed
    assert got.statuses() == ["delivered"] * 5
    assert len(hub.events()) == 5


def test_collected_client_delivers_its_queue(hub):
    out: List[Dict[str, Any]] = []
    client = make(hub, on_delivery=lambda d: out.append(d), flush_interval=60)
    for i in range(3):
        client.enqueue(Event("user", "collected", {"i": i}))
    del client
    gc.collect()
    assert [d["status"] for d in out] == ["delivered"] * 3
    assert len(hub.events()) == 3


def test_queue_capacity_counts_events_in_flight(hub):
    got = Deliveries()
    hub.faults([{"delay_ms": 1500, "status": 503}] * 5)
    with make(hub, on_delivery=got, flush_interval=0, queue_capacity=5) as client:
        for i in range(5):
            client.enqueue(Event("user", "capacity", {"i": i}))
        wait_until(lambda: client.stats()["in_flight"] > 0, 5, "a request in flight")
        with pytest.raises(SuprsendQueueFullError) as e:
            client.enqueue(Event("sixth", "capacity", {"i": 5}))
        assert e.value.status_name == "SUPRSEND_E_QUEUE_FULL"
        stats = client.stats()
        assert stats["queued"] + stats["in_flight"] == 5, stats
        hub.faults([])
        assert client.flush(timeout=20) is True
        client.enqueue(Event("user", "capacity_again"))  # room again
        assert client.flush(timeout=20) is True
    assert got.statuses() == ["delivered"] * 6
    events = hub.events()
    assert sorted(e["properties"].get("i", -1) for e in events) == [-1, 0, 1, 2, 3, 4]
    assert all(e["distinct_id"] != "sixth" for e in events)
    assert len({e["$insert_id"] for e in events}) == 6


# --- the callback --------------------------------------------------------------------------------

def test_callback_exceptions_are_logged_and_ignored(hub, caplog):
    calls = Deliveries()

    def bad(info: Dict[str, Any]) -> None:
        calls(info)
        if len(calls.items) == 1:
            raise SystemExit(3)  # not an Exception: caught all the same
        raise ValueError(f"callback failure for {info['insert_id']}")

    caplog.set_level(logging.ERROR, logger="suprsend_native")
    with make(hub, on_delivery=bad) as client:
        for i in range(20):
            client.enqueue(Event("user", "callback_raises", {"i": i}))
        assert client.flush(timeout=20) is True
        client.enqueue(Event("user", "still_working"))
        assert client.flush(timeout=20) is True
    assert calls.statuses() == ["delivered"] * 21
    assert len(hub.events()) == 21
    logged = [r for r in caplog.records if r.name == "suprsend_native" and r.exc_info]
    assert len(logged) == 21
    assert sorted(type(r.exc_info[1]).__name__ for r in logged) == ["SystemExit"] + ["ValueError"] * 20


def test_client_collected_inside_its_own_callback(hub):
    """The last reference to a client dropped in its on_delivery call (on the worker thread):
    the client is freed from another thread, and every event still gets its fate."""
    holder: Dict[str, Any] = {}
    out: List[str] = []
    finished = threading.Event()

    def on_delivery(info: Dict[str, Any]) -> None:
        out.append(info["status"])
        holder.pop("client", None)  # the last reference: collected here, on the worker thread
        if len(out) == 3:
            finished.set()

    def start() -> None:
        client = make(hub, on_delivery=on_delivery, flush_interval=60)
        for i in range(3):
            client.enqueue(Event("user", "collected_in_callback", {"i": i}))
        holder["client"] = client
        client.flush(timeout=0)  # send now; do not wait

    start()
    assert finished.wait(15), f"fates so far: {out}"
    assert out == ["delivered"] * 3
    wait_until(lambda: len(hub.events()) == 3, 5, "3 events at the hub")


def test_callback_may_enqueue_but_not_flush_or_close(hub, caplog):
    seen: List[Any] = []
    holder: Dict[str, Suprsend] = {}

    def on_delivery(info: Dict[str, Any]) -> None:
        client = holder["client"]
        seen.append(info["event_name"])
        if info["event_name"] == "first":
            client.enqueue(Event("user", "follow_up"))
            for call in (lambda: client.flush(timeout=1), lambda: client.close(timeout=1)):
                try:
                    call()
                except RuntimeError as e:
                    seen.append(str(e))

    caplog.set_level(logging.ERROR, logger="suprsend_native")
    with make(hub, on_delivery=on_delivery) as client:
        holder["client"] = client
        client.enqueue(Event("user", "first"))
        assert client.flush(timeout=10) is True
        assert client.flush(timeout=10) is True  # the follow-up, enqueued during the first flush
        assert not client.closed
    assert seen[0] == "first" and "flush()" in seen[1] and "close()" in seen[2]
    assert seen[3:] == ["follow_up"]
    assert [e["event"] for e in hub.events()] == ["first", "follow_up"]
    assert not [r for r in caplog.records if r.exc_info]


def test_callback_stays_alive_with_the_client(hub):
    out: List[str] = []
    client = make(hub, on_delivery=lambda d: out.append(d["status"]))
    gc.collect()  # the lambda and its C trampoline are referenced by the client only
    try:
        client.enqueue(Event("user", "alive"))
        assert client.flush(timeout=10) is True
    finally:
        client.close()
    assert out == ["delivered"]


def test_options_are_checked(hub):
    for kw, exc in (({"queue_capacity": 0}, SuprsendArgumentError),
                    ({"flush_interval": -1}, SuprsendArgumentError),
                    ({"max_event_age": 82801}, SuprsendArgumentError),
                    ({"shutdown_timeout": -1}, SuprsendArgumentError),
                    ({"on_delivery": 5}, TypeError),
                    ({"queue_capacity": 1.5}, TypeError),
                    ({"shutdown_timeout": "2"}, TypeError)):
        with pytest.raises(exc) as e:
            make(hub, **kw)
        if exc is SuprsendArgumentError:
            assert next(iter(kw)) in str(e.value)
    with make(hub) as client:
        with pytest.raises(SuprsendArgumentError):
            client.flush(timeout=-1)
        with pytest.raises(TypeError):
            client.flush(timeout="1")
        with pytest.raises(SuprsendArgumentError):
            client.close(timeout=math.nan)
    assert issubclass(SuprsendQueueFullError, SuprsendError)
    assert issubclass(SuprsendStorageError, SuprsendError)


# --- the outbox ----------------------------------------------------------------------------------

def test_unusable_outbox_raises_storage_error(hub, tmp_path):
    missing = tmp_path / "no" / "such" / "dir" / "outbox.db"
    with pytest.raises(SuprsendStorageError) as e:
        client = make(hub, outbox=missing)  # a PathLike is accepted
        try:
            client.enqueue(Event("user", "no_outbox"))
        finally:
            client.close(timeout=0)
    assert e.value.status_name == "SUPRSEND_E_STORAGE"
    assert hub.events() == []


def test_outbox_survives_a_killed_process(hub, tmp_path):
    outbox = str(tmp_path / "outbox.db")
    proc = _run_script(
        "import os\n"
        "from suprsend_native import Suprsend, Event\n"
        f"c = Suprsend({KEY!r}, {SECRET!r}, base_url={hub.base_url!r}, flush_interval=60, outbox={outbox!r})\n"
        "for i in range(5):\n"
        "    c.enqueue(Event('u', 'kept_in_outbox', {'i': i}))\n"
        "print('QUEUED', c.stats()['queued'], flush=True)\n"
        "os.kill(os.getpid(), 9)\n")
    assert proc.returncode == -9, proc.stderr
    assert proc.stdout.splitlines() == ["QUEUED 5"]
    assert hub.events() == []
    got = Deliveries()
    with make(hub, on_delivery=got, outbox=outbox) as client:
        assert client.stats()["outbox_bytes"] > 0
        assert client.flush(timeout=20) is True
        wait_until(lambda: len(hub.events()) >= 5, 15, "the outbox's events at the hub")
    events = hub.events()
    assert sorted(e["properties"]["i"] for e in events) == [0, 1, 2, 3, 4]
    assert len({e["$insert_id"] for e in events}) == 5


def test_outbox_keeps_what_close_left_for_the_next_client(hub, tmp_path):
    outbox = str(tmp_path / "outbox.db")
    first = Deliveries()
    hub.faults([{"delay_ms": 3000, "status": 503}] * 4)
    client = make(hub, on_delivery=first, flush_interval=0, outbox=outbox)
    for i in range(4):
        client.enqueue(Event("user", "left_in_outbox", {"i": i}))
    wait_until(lambda: client.stats()["in_flight"] > 0, 5, "a request in flight")
    assert client.stats()["outbox_bytes"] > 0
    assert client.close(timeout=0.3) is False
    assert first.snapshot() == []  # an outbox keeps them: no "closed" fate
    hub.release()  # the request the close abandoned, still held by the hub
    hub.faults([])
    second = Deliveries()
    with make(hub, on_delivery=second, outbox=outbox) as client:
        # Its worker starts at once and may be sending them already. stats() is one snapshot
        # (suprsend_client_stats): each event is counted once, queued, in flight or delivered,
        # whenever it is read.
        for _ in range(200):
            stats = client.stats()
            assert stats["queued"] + stats["in_flight"] + stats["delivered"] == 4, stats
        assert client.flush(timeout=10) is True
    assert second.statuses() == ["delivered"] * 4
    events = hub.events()
    assert sorted(e["properties"]["i"] for e in events) == [0, 1, 2, 3]


def test_power_safe_outbox_delivers(hub, tmp_path):
    got = Deliveries()
    with make(hub, on_delivery=got, outbox=tmp_path / "safe.db", outbox_power_safe=True) as client:
        for i in range(3):
            client.enqueue(Event("user", "power_safe", {"i": i}))
        assert client.stats()["outbox_bytes"] > 0
        assert client.flush(timeout=10) is True
    assert got.statuses() == ["delivered"] * 3
    assert sorted(e["properties"]["i"] for e in hub.events()) == [0, 1, 2]


# --- fork and exit -------------------------------------------------------------------------------

def _thread_stacks(pid: int) -> str:
    """Every thread's stack in a hung process (gdb), to say where it hangs."""
    if not shutil.which("gdb"):
        return "(gdb is not installed)"
    try:
        out = subprocess.run(["gdb", "-p", str(pid), "-batch", "-ex", "thread apply all bt"],
                             capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as err:
        return f"(gdb failed: {err})"
    return "\n".join(l for l in out.stdout.splitlines() if l.startswith(("#", "Thread")))


def _wait_child(pid: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.WIFEXITED(status), f"child ended with status {status}"
            return os.WEXITSTATUS(status)
        if time.monotonic() > deadline:
            stacks = _thread_stacks(pid)
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            raise AssertionError(f"child {pid} hung (killed after {timeout} s); its threads:\n{stacks}")
        time.sleep(0.005)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_sends_only_its_own_events(hub):
    got = Deliveries()
    with make(hub, on_delivery=got, flush_interval=60) as client:
        for i in range(10):
            client.enqueue(Event("parent", "queued_in_parent", {"i": i}))
        assert client.stats()["queued"] == 10
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                before = len(got.snapshot())
                client.enqueue(Event("child", "from_child"))
                ok = client.flush(timeout=10)
                mine = got.snapshot()[before:]
                code = 0 if ok and [(d["event_name"], d["status"]) for d in mine] == [("from_child", "delivered")] \
                    and client.stats()["queued"] == 0 else 2
            except BaseException:
                code = 3
            finally:
                os._exit(code)
        assert _wait_child(pid, 20) == 0
        assert [e["event"] for e in hub.events()] == ["from_child"]
        assert client.stats()["queued"] == 10  # the parent is not affected
        assert client.flush(timeout=20) is True
    events = hub.events()
    assert len(events) == 11 and len({e["$insert_id"] for e in events}) == 11
    assert sorted(e["properties"]["i"] for e in events if e["event"] == "queued_in_parent") == list(range(10))
    assert got.statuses() == ["delivered"] * 10
    assert all(d["event_name"] == "queued_in_parent" for d in got.snapshot())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_while_deliveries_and_callbacks_run(hub):
    """Children forked while the worker is delivering and calling back into Python neither
    hang nor send their parent's events."""
    got = Deliveries()
    n = 400
    with make(hub, on_delivery=got, flush_interval=0) as client:
        done = threading.Event()

        def producer() -> None:
            try:
                for i in range(n):
                    client.enqueue(Event("parent", "busy_parent", {"i": i}))
                    if i % 10 == 0:
                        time.sleep(0.005)
            finally:
                done.set()

        th = threading.Thread(target=producer)
        th.start()
        codes = []
        try:
            for k in range(5):
                wait_until(lambda: len(got.items) > 0 or done.is_set(), 5, "deliveries under way")
                pid = os.fork()
                if pid == 0:
                    code = 1
                    try:
                        client.enqueue(Event("child", "busy_child", {"k": k}))
                        code = 0 if client.flush(timeout=10) else 2
                    except BaseException:
                        code = 3
                    finally:
                        os._exit(code)
                codes.append(_wait_child(pid, 20))
        finally:
            th.join()
        assert codes == [0] * 5
        assert client.flush(timeout=30) is True
    events = hub.events()
    assert len({e["$insert_id"] for e in events}) == len(events) == n + 5
    assert sorted(e["properties"]["k"] for e in events if e["event"] == "busy_child") == list(range(5))
    assert len(got.snapshot()) == n and set(got.statuses()) == {"delivered"}


def _run_script(source: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.path.join(BINDING_DIR, "src"), env.get("PYTHONPATH")]))
    if env.get("SUPRSEND_LIBRARY"):
        env["SUPRSEND_LIBRARY"] = os.path.abspath(env["SUPRSEND_LIBRARY"])
    return subprocess.run([sys.executable, "-c", source], env=env, capture_output=True, text=True, timeout=timeout)


def test_exit_without_close_delivers_through_the_atexit_hook(hub):
    proc = _run_script(
        "from suprsend_native import Suprsend, Event\n"
        f"c = Suprsend({KEY!r}, {SECRET!r}, base_url={hub.base_url!r}, flush_interval=60,\n"
        "              on_delivery=lambda d: print('FATE', d['status'], d['event_name'], flush=True))\n"
        "for i in range(3):\n"
        "    c.enqueue(Event('u', 'at_exit_bg', {'i': i}))\n"
        "print('QUEUED', c.stats()['queued'], flush=True)\n")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "QUEUED 3", proc.stdout
    assert lines[1:] == ["FATE delivered at_exit_bg"] * 3, proc.stdout + proc.stderr
    events = hub.events()
    assert sorted(e["properties"]["i"] for e in events) == [0, 1, 2]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_exiting_normally_closes_only_its_own_queue(hub):
    """A child that leaves through sys.exit runs the exit hook on the inherited client: it
    delivers the child's event, and neither sends nor reports the parent's queued ones."""
    proc = _run_script(
        "import os, sys\n"
        "from suprsend_native import Suprsend, Event\n"
        f"c = Suprsend({KEY!r}, {SECRET!r}, base_url={hub.base_url!r}, flush_interval=60,\n"
        "              on_delivery=lambda d: print(os.getpid(), d['status'], d['event_name'], flush=True))\n"
        "for i in range(3):\n"
        "    c.enqueue(Event('u', 'parent_queued', {'i': i}))\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    print(os.getpid(), 'child', flush=True)\n"
        "    c.enqueue(Event('u', 'child_queued'))\n"
        "    sys.exit(0)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "print(os.getpid(), 'parent', status, flush=True)\n"
        "print(os.getpid(), 'closed', c.close(timeout=10), flush=True)\n")
    assert proc.returncode == 0, proc.stderr
    lines = [line.split() for line in proc.stdout.splitlines()]
    child = next(pid for pid, *rest in lines if rest == ["child"])
    parent = next(pid for pid, *rest in lines if rest[0] == "parent")
    assert [rest for pid, *rest in lines if pid == child] == [["child"], ["delivered", "child_queued"]], proc.stdout
    assert [rest for pid, *rest in lines if pid == parent] == \
        [["parent", "0"]] + [["delivered", "parent_queued"]] * 3 + [["closed", "True"]], proc.stdout
    events = hub.events()
    assert sorted(e["event"] for e in events) == ["child_queued"] + ["parent_queued"] * 3
    assert len({e["$insert_id"] for e in events}) == 4


def test_exit_hook_keeps_to_the_shutdown_timeout(hub):
    hub.faults([{"delay_ms": 8000, "status": 503}] * 2)
    start = time.monotonic()
    proc = _run_script(
        "from suprsend_native import Suprsend, Event\n"
        f"c = Suprsend({KEY!r}, {SECRET!r}, base_url={hub.base_url!r}, flush_interval=0,\n"
        "              shutdown_timeout=0.5,\n"
        "              on_delivery=lambda d: print('FATE', d['status'], flush=True))\n"
        "c.enqueue(Event('u', 'stalled_at_exit'))\n"
        "c.enqueue(Event('u', 'stalled_at_exit'))\n"
        "import time; t = time.monotonic()\n"
        "while c.stats()['in_flight'] == 0 and time.monotonic() - t < 5: time.sleep(0.01)\n")
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["FATE closed"] * 2, proc.stdout + proc.stderr
    assert elapsed < 5.0, f"the process took {elapsed:.2f} s to exit (shutdown_timeout 0.5 s, hub stall 8 s)"
    assert hub.events() == []
    hub.release()  # the request the exiting process abandoned, still held by the hub
