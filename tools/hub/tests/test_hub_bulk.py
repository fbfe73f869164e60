"""POST {base}v2/bulk/event/: positional records, the 100-record limit, per-record size."""

import json

from hubtest_support import KEY, SECRET, make_event

BULK = "/v2/bulk/event/"


def test_all_valid(hub):
    evs = [make_event(event=f"ev_{i}") for i in range(3)]
    code, _, body = hub.send(evs, path=BULK)
    assert code == 202 and body["status"] == "success"
    assert [r["status"] for r in body["records"]] == ["success"] * 3
    assert all(r["status_code"] == 202 and r["message_id"] for r in body["records"])
    assert len({r["message_id"] for r in body["records"]}) == 3
    got = hub.events()
    assert [e["event"] for e in got] == ["ev_0", "ev_1", "ev_2"]
    assert [e["_hub"]["message_id"] for e in got] == [r["message_id"] for r in body["records"]]


def test_mixed_records_are_positional(hub):
    evs = [make_event(event="ok_1"), make_event(event="x"), make_event(event="ok_2"), "not an object",
           make_event(event="ok_3", tenant_id="bad tenant!"), make_event(event="ok_4")]
    code, _, body = hub.send(evs, path=BULK)
    assert code == 202 and len(body["records"]) == 6
    recs = body["records"]
    assert [r["status"] for r in recs] == ["success", "error", "success", "error", "error", "success"]
    assert recs[1] == {"status": "error", "status_code": 400,
                       "error": {"message": recs[1]["error"]["message"], "type": "validation_error"}}
    assert "event:" in recs[1]["error"]["message"]
    assert "JSON object" in recs[3]["error"]["message"]
    assert "tenant_id" in recs[4]["error"]["message"]
    assert [e["event"] for e in hub.events()] == ["ok_1", "ok_2", "ok_4"]
    st = hub.stats()
    assert (st["requests"], st["accepted"], st["rejected"]) == (1, 3, 3)
    assert st["rejected_by_reason"] == {"invalid_event": 1, "invalid_record": 1, "invalid_tenant_id": 1}


def test_exactly_100_records(hub):
    code, _, body = hub.send([make_event() for _ in range(100)], path=BULK)
    assert code == 202 and len(body["records"]) == 100
    assert hub.stats()["accepted"] == 100


def test_more_than_100_records(hub):
    code, _, body = hub.send([make_event() for _ in range(101)], path=BULK)
    assert code == 400 and body["status"] == "error"
    assert "101 records" in body["error"]["message"] and "100" in body["error"]["message"]
    st = hub.stats()
    assert st["accepted"] == 0 and st["rejected_by_reason"] == {"too_many_records": 1}


def test_empty_bulk(hub):
    code, _, body = hub.send([], path=BULK)
    assert code == 202 and body == {"status": "success", "records": []}


def test_bulk_body_must_be_array(hub):
    code, _, body = hub.send(make_event(), path=BULK)
    assert code == 400 and "JSON array" in body["error"]["message"]


def test_bulk_auth_failure_rejects_whole_request(hub):
    code, _, body = hub.send([make_event()], path=BULK, secret="wrong")
    assert code == 401 and body["status"] == "error"
    assert hub.events() == []


def test_bulk_record_size_is_its_byte_span(start_hub):
    h = start_hub("--workspace", f"{KEY}:{SECRET}", "--max-event-bytes", "600", "--quiet")
    small = make_event(event="small")
    big = make_event(event="big", properties={"pad": "y" * 600})
    # pretty-printed: whitespace inside the record counts, whitespace between records doesn't
    body = ("[\n  " + json.dumps(small) + " ,\n  " + json.dumps(big) + "\n]").encode()
    code, _, resp = h.send(body, path=BULK)
    assert code == 202
    assert resp["records"][0]["status"] == "success"
    assert resp["records"][1]["status"] == "error" and "event size" in resp["records"][1]["error"]["message"]
    # The same small event alone, padded so the record itself is just over the limit
    pad = 600 - len(json.dumps(small).encode())
    spaced = json.dumps(small).replace('{"', '{' + " " * (pad + 1) + '"', 1)
    code, _, resp = h.send(("[" + spaced + "]").encode(), path=BULK)
    assert resp["records"][0]["status"] == "error"
    code, _, resp = h.send(("[" + json.dumps(small).replace('{"', '{' + " " * pad + '"', 1) + "]").encode(), path=BULK)
    assert resp["records"][0]["status"] == "success"
