"""$idempotency_key: seen in the window (per workspace) -> 202 but recorded as a duplicate."""

import time

from hubtest_support import KEY, KEY2, SECRET, SECRET2, make_event


def test_second_request_is_a_duplicate(hub):
    ev = make_event(idempotency_key="order-1")
    c1, _, b1 = hub.send(ev)
    c2, _, b2 = hub.send(ev)          # a retry: same key, same $insert_id, fresh Date
    assert c1 == c2 == 202
    assert b2["status"] == "success" and b2["message_id"]
    st = hub.stats()
    assert (st["requests"], st["accepted"], st["duplicates"]) == (2, 1, 1)
    assert len(hub.events()) == 1
    [dup] = hub.control("GET", "/_hub/duplicates")
    assert dup["original_message_id"] == b1["message_id"] and dup["idempotency_key"] == "order-1"


def test_key_is_trimmed(hub):
    hub.send(make_event(idempotency_key="k1"))
    hub.send(make_event(idempotency_key="  k1 "))
    assert hub.stats()["duplicates"] == 1


def test_different_event_same_key_is_duplicate(hub):
    hub.send(make_event(idempotency_key="k"))
    hub.send(make_event(idempotency_key="k", event="other_event"))
    assert [e["event"] for e in hub.events()] == ["product_purchased"]


def test_no_key_no_dedup(hub):
    ev = make_event()
    hub.send(ev)
    hub.send(ev)
    hub.send(make_event(idempotency_key=""))
    hub.send(make_event(idempotency_key=""))
    st = hub.stats()
    assert st["accepted"] == 4 and st["duplicates"] == 0


def test_keys_are_per_workspace(hub):
    hub.send(make_event(idempotency_key="shared"))
    hub.send(make_event(key=KEY2, idempotency_key="shared"), key=KEY2, secret=SECRET2)
    assert hub.stats()["duplicates"] == 0


def test_rejected_event_does_not_claim_key(hub):
    assert hub.send(make_event(idempotency_key="k", event="x"))[0] == 400
    assert hub.send(make_event(idempotency_key="k"))[0] == 202
    assert hub.stats()["accepted"] == 1 and hub.stats()["duplicates"] == 0


def test_duplicates_within_and_across_bulk(hub):
    evs = [make_event(idempotency_key="a"), make_event(idempotency_key="b"), make_event(idempotency_key="a")]
    code, _, body = hub.send(evs, path="/v2/bulk/event/")
    assert [r["status"] for r in body["records"]] == ["success"] * 3
    hub.send(make_event(idempotency_key="b"))
    st = hub.stats()
    assert st["accepted"] == 2 and st["duplicates"] == 2


def test_window_expires(start_hub):
    h = start_hub("--workspace", f"{KEY}:{SECRET}", "--idempotency-window-s", "0.5", "--quiet")
    h.send(make_event(idempotency_key="k"))
    h.send(make_event(idempotency_key="k"))
    time.sleep(0.6)
    h.send(make_event(idempotency_key="k"))
    st = h.stats()
    assert st["accepted"] == 2 and st["duplicates"] == 1


def test_reset_forgets_keys(hub):
    hub.send(make_event(idempotency_key="k"))
    hub.reset()
    hub.send(make_event(idempotency_key="k"))
    assert hub.stats()["duplicates"] == 0 and hub.stats()["accepted"] == 1
