"""suprsend_native.asyncio: AsyncSuprsend against the local hub.

No pytest plugin: each test runs its coroutine with asyncio.run (or uvloop's loop)."""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any, Dict, List

import pytest

from conftest import KEY, SECRET, invalid_event
from suprsend_native import (
    BulkResponse,
    Event,
    SuprsendArgumentError,
    SuprsendClosedError,
    Suprsend,
)
from suprsend_native import _clib

aio = pytest.importorskip("suprsend_native.asyncio")
AsyncSuprsend = aio.AsyncSuprsend

pytestmark = pytest.mark.skipif(not _clib.HAS_ASYNC, reason="the library lacks the asynchronous calls")


def _options(hub: Any, **extra: Any) -> Dict[str, Any]:
    options: Dict[str, Any] = {"base_url": hub.base_url, "max_retries": 0, "timeout": 20}
    options.update(extra)
    return options


def _stripped(record: Any) -> Any:
    """A failed record without what differs between two sends of one event ($insert_id, $time)."""
    if isinstance(record, dict) and isinstance(record.get("record"), dict):
        inner = {k: v for k, v in record["record"].items() if k not in ("$insert_id", "$time")}
        return {**record, "record": inner}
    return record


async def _until(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.01)
    return True


# --- the loop goes on --------------------------------------------------------------------------

async def _held_request_with_ticker(hub: Any) -> None:
    hub.faults([{"delay_ms": 1500}])
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    async with AsyncSuprsend(KEY, SECRET, **_options(hub)) as client:
        task = asyncio.create_task(ticker())
        started = time.monotonic()
        result = await client.track_event(Event("user_1", "held_event", {"n": 1}))
        elapsed = time.monotonic() - started
        task.cancel()
    assert result["success"] is True and result["status_code"] == 202, result
    assert elapsed >= 1.4, "the hub held the request 1.5 s"
    # A loop blocked by the call would have ticked once at most; a free one ~150 times.
    assert ticks >= 50, f"the loop ticked {ticks} times during a 1.5 s request"


def test_loop_keeps_running_while_the_hub_holds_a_request(hub):
    asyncio.run(_held_request_with_ticker(hub))


def test_with_uvloop(hub):
    uvloop = pytest.importorskip("uvloop", reason="uvloop is not installed (pip install uvloop to run this test)")
    loop = uvloop.new_event_loop()
    try:
        loop.run_until_complete(_held_request_with_ticker(hub))
    finally:
        loop.close()


def test_100_concurrent_calls_held_200ms_each_complete_side_by_side(hub):
    async def main() -> List[Dict[str, Any]]:
        async with AsyncSuprsend(KEY, SECRET, **_options(hub)) as client:
            hub.faults({"rate": {"delay": 1.0}, "delay_ms": 200})
            started = time.monotonic()
            results = await asyncio.gather(*[client.track_event(Event(f"user_{i}", "side_by_side", {"i": i}))
                                             for i in range(100)])
            elapsed = time.monotonic() - started
        # One after another they would take 100 * 0.2 = 20 s.
        assert elapsed < 4.0, f"100 calls held 200 ms each took {elapsed:.2f} s"
        return results

    results = asyncio.run(main())
    assert len(results) == 100 and all(r["success"] for r in results), [r for r in results if not r["success"]][:3]
    assert len({r["message"] for r in results}) == 100
    events = hub.events()
    assert sorted(e["properties"]["i"] for e in events) == list(range(100))
    assert hub.stats()["faults_injected"].get("delay", 0) >= 100


def test_max_connections_bounds_the_calls_side_by_side(hub):
    async def main() -> float:
        async with AsyncSuprsend(KEY, SECRET, **_options(hub, max_connections=4)) as client:
            hub.faults({"rate": {"delay": 1.0}, "delay_ms": 200})
            before = hub.stats()["connections"]
            started = time.monotonic()
            results = await asyncio.gather(*[client.track_event(Event(f"user_{i}", "bounded")) for i in range(20)])
            elapsed = time.monotonic() - started
            assert all(r["success"] for r in results)
            opened = hub.stats()["connections"] - before - 1  # minus the connection that asked
            assert opened <= 4, f"{opened} connections"
            return elapsed

    elapsed = asyncio.run(main())
    # 20 calls, 4 at a time, 200 ms each: 5 rounds (0.2 s with the default 32 connections).
    assert elapsed >= 0.95, f"20 calls over 4 connections took {elapsed:.2f} s"
    with pytest.raises(SuprsendArgumentError):
        AsyncSuprsend(KEY, SECRET, **_options(hub, max_connections=0))


def test_results_equal_the_sync_calls(hub, client):
    """Accepted, refused by the hub, no answer: the same dict as Suprsend.track_event."""
    async def main() -> List[Dict[str, Any]]:
        async with AsyncSuprsend(KEY, SECRET, **_options(hub)) as aclient:
            hub.faults([{"status": 503}])
            refused = await aclient.track_event(Event("user_1", "refused_event"))
            accepted = await aclient.track_event(Event("user_1", "accepted_event"))
        return [refused, accepted]

    refused, accepted = asyncio.run(main())
    hub.faults([{"status": 503}])
    assert refused == client.track_event(Event("user_1", "refused_event"))
    assert refused["success"] is False and refused["status_code"] == 503
    sync_accepted = client.track_event(Event("user_1", "accepted_event"))
    assert set(accepted) == set(sync_accepted)
    assert {k: v for k, v in accepted.items() if k not in ("message", "raw_response")} == \
        {k: v for k, v in sync_accepted.items() if k not in ("message", "raw_response")}
    assert accepted["raw_response"]["message_id"] == accepted["message"]


def test_no_answer_is_reported_as_the_sync_call_does(unused_port):
    url = f"http://127.0.0.1:{unused_port}/"

    async def main() -> Dict[str, Any]:
        async with AsyncSuprsend(KEY, SECRET, base_url=url, max_retries=0, connect_timeout=2) as aclient:
            return await aclient.track_event(Event("user_1", "nowhere"))

    result = asyncio.run(main())
    with Suprsend(KEY, SECRET, base_url=url, max_retries=0, connect_timeout=2) as sync:
        expected = sync.track_event(Event("user_1", "nowhere"))
    assert result["success"] is False and result["status_code"] == 500
    assert {k: v for k, v in result.items() if k != "message"} == {k: v for k, v in expected.items() if k != "message"}


# --- cancellation ------------------------------------------------------------------------------

def _recording_response_free(monkeypatch: Any) -> List[int]:
    freed: List[int] = []
    real_free = _clib.lib.suprsend_response_free

    def free(response: int) -> None:
        freed.append(response)
        real_free(response)

    monkeypatch.setattr(_clib.lib, "suprsend_response_free", free)
    return freed


def test_cancelling_the_awaiting_task_leaves_the_call_to_the_library(hub, monkeypatch):
    freed = _recording_response_free(monkeypatch)

    async def main() -> Dict[str, Any]:
        async with AsyncSuprsend(KEY, SECRET, **_options(hub)) as client:
            hub.faults([{"delay_ms": 30000}])
            task = asyncio.create_task(client.track_event(Event("user_1", "cancelled_event")))
            assert await _until(lambda: hub.call("GET", "/_hub/inflight")["delayed"] == 1, 10), \
                "the request did not reach the hub"
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert aio._pending, "the call is still in the library"
            assert freed == []
            # The hub answers now; the completion finds its future cancelled and frees the response.
            assert hub.release(drop=False) == 1
            assert await _until(lambda: not aio._pending and freed, 10), "the completion did not run"
            # The client goes on.
            return await client.track_event(Event("user_2", "after_cancel"))

    after = asyncio.run(main())
    assert after["success"] is True
    assert len(freed) == 2, freed  # the cancelled call's response, then the later call's
    assert [e["event"] for e in hub.events()] == ["cancelled_event", "after_cancel"]


def test_a_call_completing_after_its_loop_closed_frees_its_response(hub, monkeypatch):
    """asyncio.run ends (cancelling the task, closing the loop) while the hub holds the request:
    the completion comes later, finds the loop closed and frees the response."""
    freed = _recording_response_free(monkeypatch)
    client = AsyncSuprsend(KEY, SECRET, **_options(hub))

    async def main() -> None:
        hub.faults([{"delay_ms": 30000}])
        asyncio.create_task(client.track_event(Event("user_1", "orphaned_event")))
        assert await _until(lambda: hub.call("GET", "/_hub/inflight")["delayed"] == 1, 10)

    asyncio.run(main())
    assert aio._pending and freed == []
    assert hub.release(drop=False) == 1
    deadline = time.monotonic() + 10
    while (aio._pending or not freed) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not aio._pending and len(freed) == 1
    client.sync_client.close()
    assert [e["event"] for e in hub.events()] == ["orphaned_event"]


def test_a_client_dropped_with_a_call_in_flight_lives_until_it_completed(hub):
    import gc
    import weakref

    async def main() -> None:
        client = AsyncSuprsend(KEY, SECRET, **_options(hub))
        sync_ref = weakref.ref(client.sync_client)
        hub.faults([{"delay_ms": 30000}])
        task = asyncio.create_task(client.track_event(Event("user_1", "dropped_client")))
        assert await _until(lambda: hub.call("GET", "/_hub/inflight")["delayed"] == 1, 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        del client, task
        gc.collect()
        assert sync_ref() is not None, "the call in flight keeps its client"
        assert hub.release(drop=False) == 1
        assert await _until(lambda: not aio._pending, 10)
        await asyncio.sleep(0.05)
        gc.collect()
        assert sync_ref() is None, "collected once its call completed"

    asyncio.run(main())
    assert [e["event"] for e in hub.events()] == ["dropped_client"]


def test_close_completes_a_call_in_flight_with_closed(hub):
    async def main() -> None:
        client = AsyncSuprsend(KEY, SECRET, **_options(hub))
        hub.faults([{"delay_ms": 30000}])
        task = asyncio.create_task(client.track_event(Event("user_1", "left_at_close")))
        assert await _until(lambda: hub.call("GET", "/_hub/inflight")["delayed"] == 1, 10)
        await client.aclose(0.2)
        with pytest.raises(SuprsendClosedError):
            await asyncio.wait_for(task, 10)
        with pytest.raises(SuprsendClosedError):
            await client.track_event(Event("user_1", "after_close"))
        assert hub.release() == 1

    asyncio.run(main())


# --- background delivery -----------------------------------------------------------------------

def test_async_with_delivers_what_was_enqueued(hub):
    delivered: List[Dict[str, Any]] = []

    async def main() -> None:
        async with AsyncSuprsend(KEY, SECRET, **_options(hub, on_delivery=delivered.append,
                                                           flush_interval=60, shutdown_timeout=10)) as client:
            for i in range(30):
                started = time.perf_counter()
                client.enqueue(Event(f"user_{i}", "enqueued_event", {"i": i}))
                assert time.perf_counter() - started < 0.5
            assert hub.stats()["accepted"] == 0, "flush_interval 60 s: sent at close"
        assert client.closed

    asyncio.run(main())
    assert sorted(e["properties"]["i"] for e in hub.events()) == list(range(30))
    assert len(delivered) == 30 and {d["status"] for d in delivered} == {"delivered"}


def test_flush_waits_for_the_fates(hub):
    delivered: List[Dict[str, Any]] = []

    async def main() -> bool:
        async with AsyncSuprsend(KEY, SECRET, **_options(hub, on_delivery=delivered.append,
                                                           flush_interval=60)) as client:
            for i in range(5):
                client.enqueue(Event(f"user_{i}", "flushed_event"))
            done = await client.flush(10)
            assert len(delivered) == 5
            return done

    assert asyncio.run(main()) is True


# --- refusals ----------------------------------------------------------------------------------

def _bad_events() -> List[Any]:
    return [invalid_event("", "bad_event"), invalid_event("user_1", "$reserved"),
            invalid_event(None, "bad_event"), invalid_event("user_1", "bad_event", ["not", "a", "dict"]),
            invalid_event("user_1", "bad_event", {"n": math.nan}),
            invalid_event("user_1", "bad_event", {"big": "x" * 200_000}), "not an event"]


def test_bad_events_raise_at_once_as_the_sync_call(hub, client):
    expected = []
    for ev in _bad_events():
        with pytest.raises(Exception) as info:
            client.track_event(ev)
        expected.append((type(info.value), str(info.value)))

    async def main() -> None:
        async with AsyncSuprsend(KEY, SECRET, **_options(hub)) as aclient:
            for ev, (cls, message) in zip(_bad_events(), expected):
                coro = aclient.track_event(ev)
                # Raised on the first step, without suspending.
                with pytest.raises(Exception) as info:
                    coro.send(None)
                assert type(info.value) is cls and str(info.value) == message, (ev, info.value)
            assert not aio._pending

    asyncio.run(main())
    assert hub.stats()["requests"] == 0


# --- bulk --------------------------------------------------------------------------------------

def _bulk_events() -> List[Any]:
    events: List[Any] = [Event(f"user_{i}", "bulk_event", {"i": i}) for i in range(120)]
    events[3] = invalid_event("user_3", "$reserved")
    events[50] = invalid_event(None, "bulk_event")
    events[110] = invalid_event("", "bulk_event")
    return events


def test_bulk_with_invalid_events_gives_the_sync_bulks_failed_records(hub, client):
    sync_bulk = client.bulk_events.new_instance()
    sync_bulk.append(*_bulk_events())
    expected = sync_bulk.trigger()
    hub.reset()

    async def main() -> BulkResponse:
        async with AsyncSuprsend(KEY, SECRET, **_options(hub)) as aclient:
            bulk = aclient.bulk_events.new_instance()
            bulk.append(*_bulk_events())
            assert len(bulk) == 120
            response = await bulk.trigger()
            assert bulk.response is response and len(bulk) == 120
            with pytest.raises(SuprsendArgumentError):
                await bulk.trigger()
            with pytest.raises(SuprsendArgumentError):
                bulk.append(Event("user_1", "too_late"))
            return response

    response = asyncio.run(main())
    assert isinstance(response, BulkResponse)
    assert (response.status, response.total, response.success, response.failure) == ("partial", 120, 117, 3)
    assert str(response) == str(expected)
    assert [_stripped(r) for r in response.failed_records] == [_stripped(r) for r in expected.failed_records]
    assert [r["record"]["distinct_id"] for r in response.failed_records] == ["user_3", None, ""]
    assert hub.stats()["accepted"] == 117


def test_bulk_refused_by_the_hub(hub):
    async def main() -> BulkResponse:
        async with AsyncSuprsend(KEY, SECRET, **_options(hub)) as aclient:
            bulk = aclient.bulk_events.new_instance()
            bulk.append(*[Event(f"user_{i}", "bulk_event") for i in range(4)])
            hub.faults([{"refuse_records": [1, 2]}])
            return await bulk.trigger()

    response = asyncio.run(main())
    assert (response.status, response.success, response.failure) == ("partial", 2, 2)
    assert [r["record"]["distinct_id"] for r in response.failed_records] == ["user_1", "user_2"]
    assert {r["code"] for r in response.failed_records} == {400}


def test_deprecated_track(hub):
    async def main() -> Dict[str, Any]:
        async with AsyncSuprsend(KEY, SECRET, **_options(hub)) as client:
            with pytest.warns(DeprecationWarning):
                return await client.track("user_1", "tracked_event", {"a": 1}, tenant_id="acme")

    assert asyncio.run(main())["success"] is True
    (event,) = hub.events()
    assert (event["event"], event["tenant_id"], event["properties"]["a"]) == ("tracked_event", "acme", 1)
