"""The whole-event fast path (suprsend_event_new_json / suprsend_bulk_append_json) must be
invisible: the same events reach the hub, and bad input raises the same exception with the
same message, as through the field-by-field path it replaces."""

from __future__ import annotations

import json
import math
from typing import Any, Callable, List, Tuple

import pytest

from suprsend_native import Event, _clib
from suprsend_native.event import _to_json

pytestmark = pytest.mark.skipif(not _clib.HAS_EVENT_JSON, reason="the library lacks suprsend_event_new_json")


def _event(**changes: Any) -> Event:
    """A valid event with some fields changed (Event() stores anything; it is checked when sent
    or appended), so that both paths see exactly the same input."""
    fields = {"distinct_id": "user_1", "event_name": "order_placed",
              "properties": {"tag": "json-path", "amount": 12.5, "items": [{"sku": "a"}]},
              "idempotency_key": "key-1", "tenant_id": "tenant_a", "brand_id": "brand_a"}
    return Event(**{**fields, **changes})


def _outcome(fn: Callable[[], Any]) -> Tuple[str, str]:
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - the exception is what is compared
        return type(e).__name__, str(e)
    return "ok", ""


def _both_paths(monkeypatch: pytest.MonkeyPatch, fn: Callable[[], Any]) -> Tuple[Tuple[str, str], Tuple[str, str]]:
    fast = _outcome(fn)
    monkeypatch.setattr(_clib, "HAS_EVENT_JSON", False)
    slow = _outcome(fn)
    monkeypatch.setattr(_clib, "HAS_EVENT_JSON", True)
    return fast, slow


def _circular() -> dict:
    d: dict = {"a": 1}
    d["self"] = d
    return d


def _deep(levels: int) -> dict:
    d: dict = {"leaf": 1}
    for _ in range(levels):
        d = {"d": d}
    return d


BAD_EVENTS = [
    ("NUL in distinct_id", {"distinct_id": "us\x00er"}),
    ("NUL in event_name", {"event_name": "ev\x00"}),
    ("NUL in idempotency_key", {"idempotency_key": "k\x00"}),
    ("NUL in tenant_id", {"tenant_id": "t\x00"}),
    ("NUL in brand_id", {"brand_id": "b\x00"}),
    ("surrogate in distinct_id", {"distinct_id": "u\ud800"}),
    ("surrogate in a property", {"properties": {"s": "x\udfff"}}),
    ("surrogate in a key", {"properties": {"k\ud800": 1}}),
    ("NaN", {"properties": {"n": math.nan}}),
    ("infinity nested", {"properties": {"a": [1, {"b": math.inf}]}}),
    ("unserializable", {"properties": {"when": object()}}),
    ("unserializable key", {"properties": {(1, 2): "tuple key"}}),
    ("circular", {"properties": _circular()}),
    ("duplicate top-level key", {"properties": {1: "int", "1": "str"}}),
    ("too deep", {"properties": _deep(70)}),
    ("distinct_id not a str", {"distinct_id": 42}),
    ("properties not a dict", {"properties": ["a"]}),
    ("tenant_id not a str", {"tenant_id": 7}),
    ("reserved event name", {"event_name": "$reserved"}),
    ("empty distinct_id", {"distinct_id": "  "}),
    ("reserved property", {"properties": {"$own": 1}}),
    ("bad tenant_id", {"tenant_id": "no spaces allowed"}),
    ("bad brand_id", {"brand_id": "brand/1"}),
    ("brand_id not a str", {"brand_id": b"bytes"}),
    ("too large", {"properties": {"blob": "x" * 200_000}}),
]


@pytest.mark.parametrize("what,changes", BAD_EVENTS, ids=[b[0] for b in BAD_EVENTS])
def test_track_event_errors_are_those_of_the_field_by_field_path(client, monkeypatch, what, changes):
    fast, slow = _both_paths(monkeypatch, lambda: client.track_event(_event(**changes)))
    assert fast[0] != "ok", what
    assert fast == slow, what


@pytest.mark.parametrize("what,changes", BAD_EVENTS, ids=[b[0] for b in BAD_EVENTS])
def test_bulk_append_errors_and_failed_records_are_the_same(client, monkeypatch, what, changes):
    def run() -> Any:
        bulk = client.bulk_events.new_instance()
        raised = _outcome(lambda: bulk.append(_event(**changes)))
        bulk.append(_event(distinct_id="after"))  # the bulk goes on after a refused append
        response = bulk.trigger()
        records = [(r.get("error"), (r.get("record") or {}).get("distinct_id")) for r in response.failed_records]
        return raised, response.total, response.success, records

    results = []
    for flag in (True, False):
        monkeypatch.setattr(_clib, "HAS_EVENT_JSON", flag)
        results.append(run())
    assert results[0] == results[1], what


def test_the_hub_gets_the_same_event_either_way(client, hub, monkeypatch):
    def sent(flag: bool, **changes: Any) -> dict:
        monkeypatch.setattr(_clib, "HAS_EVENT_JSON", flag)
        hub.reset()
        result = client.track_event(_event(**changes))
        assert result["success"], result
        (event,) = hub.events()
        event = event.get("event", event) if isinstance(event.get("event"), dict) else event
        return {k: v for k, v in event.items() if k not in ("$insert_id", "$time", "_hub")}

    for changes in ({}, {"idempotency_key": None, "tenant_id": None, "brand_id": None}, {"properties": {}},
                    {"idempotency_key": "", "tenant_id": "", "brand_id": ""},
                    {"properties": {"q": "a\"b\\c\x00d\n\u2603", 3: [True, None, -1.5e300], "big": 10**30}},
                    {"distinct_id": "we\"ird\\id\t✓", "event_name": "ev\"nt"}):
        auto_key = changes.get("idempotency_key", "key-1") in (None, "")
        fast, slow = sent(True, **changes), sent(False, **changes)
        if auto_key:  # a new automatic key each send
            fast.pop("$idempotency_key", None)
            slow.pop("$idempotency_key", None)
        assert fast == slow, changes


def test_bulk_through_the_fast_path_reaches_the_hub(client, hub):
    hub.reset()
    bulk = client.bulk_events.new_instance()
    for i in range(150):
        bulk.append(Event(f"user_{i}", "bulk_json", {"seq": i}))
    assert len(bulk) == 150
    response = bulk.trigger()
    assert (response.status, response.total, response.success, response.failure) == ("success", 150, 150, 0)
    assert sorted(e["properties"]["seq"] for e in hub.events()) == list(range(150))


def test_fast_path_is_taken_for_plain_events_only():
    assert _event()._json_bytes() is not None
    with_attachment = _event()
    with_attachment._attachments.append(object())
    for ev in [with_attachment, _event(distinct_id="a\x00"), _event(properties={"n": math.nan}),
               _event(properties={"o": object()}), _event(distinct_id=type("S", (str,), {})("sub"))]:
        assert ev._json_bytes() is None


JSON_SAMPLES: List[Any] = [
    {}, {"a": 1}, {"s": "caf\u00e9 \u2603 \U0001F600 \x00 \x1f \" \\ /"}, {1: 2, 2.5: 3, True: 4, None: 5},
    {"n": [0, -0.0, 1e-7, 1e16, 123456789012345678901234567890, 1.5, -2, 3.141592653589793]},
    {"nested": {"l": [[], {}, [{"x": None}], "", False]}}, {"k" * 100: "v" * 1000},
]


@pytest.mark.parametrize("value", JSON_SAMPLES)
def test_encoder_gives_json_dumps_text(value):
    assert _to_json(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
