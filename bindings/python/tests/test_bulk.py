"""client.bulk_events: chunking, partial failure, hub failures, lifetime."""

from __future__ import annotations

import pytest

from conftest import KEY, SECRET, invalid_event, user_properties
from suprsend_native import BulkResponse, Event, InputValueError, Suprsend, SuprsendArgumentError


def _events(n, prefix="user"):
    return [Event(f"{prefix}_{i}", "bulk_event", {"i": i, "nested": {"even": i % 2 == 0}}) for i in range(n)]


def test_bulk_of_250_is_sent_in_3_requests(client, hub):
    bulk = client.bulk_events.new_instance()
    bulk.append(*_events(250))
    assert len(bulk) == 250
    response = bulk.trigger()
    assert isinstance(response, BulkResponse)
    assert (response.status, response.total, response.success, response.failure) == ("success", 250, 250, 0)
    assert response.failed_records == []
    stats = hub.stats()
    assert stats["accepted"] == 250
    assert stats["requests"] == 3
    events = hub.events()
    assert sorted(e["properties"]["i"] for e in events) == list(range(250))
    assert [e["properties"]["i"] for e in events] == list(range(250)), "sent in order"
    assert user_properties(events[7]) == {"i": 7, "nested": {"even": False}}
    assert str(response) == "BulkResponse<status: success | total: 250 | success: 250 | failure: 0 | warnings: 0>"
    assert "success" in repr(response) and "250" in repr(response)


def test_bulk_partial_failure(client, hub):
    events = _events(250)
    events[10] = invalid_event("user_10", "$reserved_name")
    events[200] = invalid_event("   ", "bulk_event")
    bulk = client.bulk_events.new_instance()
    for ev in events:
        bulk.append(ev)  # invalid events are kept as failed records, not raised
    response = bulk.trigger()
    assert response.status == "partial"
    assert response.total == 250
    assert response.success == 248
    assert response.failure == 2
    assert isinstance(response.failed_records, list) and len(response.failed_records) == 2
    for rec in response.failed_records:
        assert isinstance(rec, dict)
        assert isinstance(rec["error"], str) and rec["error"]
        assert isinstance(rec.get("code"), int)
        assert isinstance(rec["record"], dict)
    assert response.failed_records[0]["record"]["event"] == "$reserved_name"
    assert "event" in response.failed_records[0]["error"].lower() or "$" in response.failed_records[0]["error"]
    assert "distinct_id" in response.failed_records[1]["error"]
    stats = hub.stats()
    assert stats["accepted"] == 248
    assert stats["requests"] == 3
    assert "partial" in str(response)


def test_bulk_all_invalid_is_fail_and_sends_nothing(client, hub):
    bulk = client.bulk_events.new_instance()
    bulk.append(invalid_event("u", "$x"), invalid_event("u", "ss_x"), invalid_event("", "fine_name"))
    response = bulk.trigger()
    assert (response.status, response.total, response.success, response.failure) == ("fail", 3, 0, 3)
    assert len(response.failed_records) == 3
    assert hub.stats()["requests"] == 0


def test_bulk_too_large_event_is_a_failed_record(client, hub):
    bulk = client.bulk_events.new_instance()
    bulk.append(Event("u", "ok_event"), Event("u", "big_event", {"blob": "x" * 110_000}))
    response = bulk.trigger()
    assert (response.status, response.success, response.failure) == ("partial", 1, 1)
    assert response.failed_records[0]["record"]["event"] == "big_event"
    assert hub.stats()["accepted"] == 1


def test_empty_bulk(client, hub):
    response = client.bulk_events.new_instance().trigger()
    assert (response.status, response.total, response.success, response.failure) == ("success", 0, 0, 0)
    assert response.failed_records == []
    assert hub.stats()["requests"] == 0


def test_bulk_is_triggered_once(client, hub):
    bulk = client.bulk_events.new_instance()
    bulk.append(Event("u", "once"))
    assert bulk.trigger().success == 1
    with pytest.raises(SuprsendArgumentError):
        bulk.trigger()
    with pytest.raises(SuprsendArgumentError):
        bulk.append(Event("u", "late"))
    assert hub.stats()["accepted"] == 1
    assert bulk.response is not None and bulk.response.total == 1


def test_bulk_append_copies_the_event(client, hub):
    ev = Event("u", "copied", {"v": 1})
    bulk = client.bulk_events.new_instance()
    bulk.append(ev)
    ev.properties["v"] = 2
    bulk.append(ev)
    bulk.trigger()
    assert [e["properties"]["v"] for e in hub.events()] == [1, 2]


def test_bulk_append_of_what_is_not_an_event_raises(client, hub):
    bulk = client.bulk_events.new_instance()
    with pytest.raises(TypeError):
        bulk.append(Event("u", "fine"), {"event": "not an Event"})
    assert len(bulk) == 0


def test_events_the_library_cannot_take_are_failed_records_in_order(client, hub):
    """A wrong type, properties that are not a dict or that JSON cannot hold, NaN: append does
    not raise (the official SDK's append never does for an Event); each is a failed record, code
    500, with the message track_event raises for it, in the order appended among the library's
    own refusals; the valid events are sent."""
    unsendable = [Event(None, "bulk_event"), Event("u", "bulk_event", ["not", "a", "dict"]),
                  Event("u", "bulk_event", {"when": object()}), Event("u", "bulk_event", {"n": float("nan")}),
                  Event("u", 7), Event("u", "bulk_event", tenant_id=1)]
    raised = []
    for ev in unsendable:
        with pytest.raises(InputValueError) as info:
            client.track_event(ev)
        raised.append(str(info.value))
    events = []
    for i, ev in enumerate(unsendable):
        events += [Event(f"user_{i}", "bulk_event", {"i": i}), ev]
    events.insert(3, Event("u", "$reserved_name"))  # refused by the library itself
    bulk = client.bulk_events.new_instance()
    for ev in events:
        bulk.append(ev)
    assert len(bulk) == len(events) == 13
    ev_copy = unsendable[1]
    ev_copy.properties.append("changed later")  # the record is the event as appended
    response = bulk.trigger()
    assert (response.status, response.total, response.success, response.failure) == ("partial", 13, 6, 7)
    assert [r["code"] for r in response.failed_records] == [500] * 7
    errors = [r["error"] for r in response.failed_records]
    assert errors[:1] + errors[2:] == raised and "reserved" in errors[1]
    records = [r["record"] for r in response.failed_records]
    assert records[0] == {"event": "bulk_event", "distinct_id": None, "properties": {}}
    assert records[1]["event"] == "$reserved_name"
    assert records[2] == {"event": "bulk_event", "distinct_id": "u", "properties": ["not", "a", "dict"]}
    assert records[6] == {"event": "bulk_event", "distinct_id": "u", "properties": {}, "tenant_id": 1}
    assert sorted(e["properties"]["i"] for e in hub.events()) == list(range(6))


def test_bulk_hub_error_becomes_failed_records(hub):
    hub.faults([{"status": 503}])
    with Suprsend(KEY, SECRET, base_url=hub.base_url, max_retries=0) as c:
        bulk = c.bulk_events.new_instance()
        bulk.append(*_events(150))
        response = bulk.trigger()
    assert response.status == "partial"
    assert (response.total, response.success, response.failure) == (150, 50, 100)
    assert len(response.failed_records) == 100
    assert {r["code"] for r in response.failed_records} == {503}
    assert hub.stats()["accepted"] == 50


def test_bulk_with_network_failure(unused_port):
    with Suprsend(KEY, SECRET, base_url=f"http://127.0.0.1:{unused_port}/", max_retries=0) as c:
        bulk = c.bulk_events.new_instance()
        bulk.append(*_events(3))
        response = bulk.trigger()
    assert (response.status, response.total, response.success, response.failure) == ("fail", 3, 0, 3)
    assert all(r["error"] for r in response.failed_records)


def test_bulk_context_manager_frees_without_sending(client, hub):
    with client.bulk_events.new_instance() as bulk:
        bulk.append(Event("u", "never_sent"))
    assert hub.stats()["requests"] == 0
