"""Every rule of the spec's Validation table, on single events (bulk records share the code)."""

import json

import pytest

from hubtest_support import DROP, KEY2, make_event

LONG = "x" * 256

# (overrides, reason, words expected in the message)
BAD = [
    ({"insert_id": DROP}, "invalid_insert_id", "$insert_id: required"),
    ({"insert_id": "not-a-uuid"}, "invalid_insert_id", "$insert_id: must be a UUID"),
    ({"insert_id": 123}, "invalid_insert_id", "$insert_id: must be a UUID"),
    ({"time": DROP}, "invalid_time", "$time: required"),
    ({"time": "1764237600000"}, "invalid_time", "$time: must be a positive integer"),
    ({"time": 1764237600000.5}, "invalid_time", "$time: must be a positive integer"),
    ({"time": True}, "invalid_time", "$time"),
    ({"time": -5}, "invalid_time", "$time"),
    ({"event": DROP}, "invalid_event", "event: required"),
    ({"event": 5}, "invalid_event", "event: must be a string"),
    ({"event": "a"}, "invalid_event", "at least 2 characters"),
    ({"event": "  a  "}, "invalid_event", "at least 2 characters"),
    ({"event": "$custom"}, "reserved_event_name", "reserved"),
    ({"event": "ss_custom"}, "reserved_event_name", "reserved"),
    ({"event": "SS_custom"}, "reserved_event_name", "reserved"),
    ({"event": "$IDENTIFY"}, "reserved_event_name", "reserved"),
    ({"env": DROP}, "invalid_env", "env: required"),
    ({"env": 1}, "invalid_env", "env: must be a string"),
    ({"env": KEY2}, "env_mismatch", "env: must equal the workspace key"),
    ({"distinct_id": DROP}, "invalid_distinct_id", "distinct_id: required"),
    ({"distinct_id": "   "}, "invalid_distinct_id", "distinct_id: must be a non-empty string"),
    ({"distinct_id": 42}, "invalid_distinct_id", "distinct_id"),
    ({"properties": DROP}, "invalid_properties", "properties: required"),
    ({"properties": []}, "invalid_properties", "properties: must be a JSON object"),
    ({"properties": "x"}, "invalid_properties", "properties: must be a JSON object"),
    ({"properties": {"$custom": 1}}, "reserved_property_key", "properties.$custom"),
    ({"properties": {"ss_custom": 1}}, "reserved_property_key", "properties.ss_custom"),
    ({"properties": {"SS_Custom": 1}}, "reserved_property_key", "properties.SS_Custom"),
    ({"properties": {"$SS_SDK_VERSION": "x"}}, "reserved_property_key", "properties.$SS_SDK_VERSION"),
    ({"idempotency_key": LONG}, "invalid_idempotency_key", "at most 255"),
    ({"idempotency_key": 12}, "invalid_idempotency_key", "$idempotency_key: must be a string"),
    ({"tenant_id": "t" * 65}, "invalid_tenant_id", "tenant_id: must be at most 64"),
    ({"tenant_id": "bad tenant"}, "invalid_tenant_id", "tenant_id"),
    ({"tenant_id": "tenant.1"}, "invalid_tenant_id", "tenant_id"),
    ({"tenant_id": 7}, "invalid_tenant_id", "tenant_id"),
    ({"properties": {"$attachments": {}}}, "invalid_attachments", "must be an array"),
    ({"properties": {"$attachments": ["x"]}}, "invalid_attachments", "[0]: must be an object"),
    ({"properties": {"$attachments": [{"filename": "a"}]}}, "invalid_attachments", "exactly one of 'url' or 'data'"),
    ({"properties": {"$attachments": [{"url": "https://a/b", "data": "AA=="}]}}, "invalid_attachments", "exactly one"),
    ({"properties": {"$attachments": [{"url": "ftp://x/y"}]}}, "invalid_attachments", "url: must be an http"),
    ({"properties": {"$attachments": [{"data": "not base64!", "filename": "a"}]}}, "invalid_attachments", "base64"),
    ({"properties": {"$attachments": [{"url": "https://a/b", "ignore_if_error": "yes"}]}},
     "invalid_attachments", "ignore_if_error"),
    ({"properties": {"$attachments": [{"url": "https://a/b", "filename": 3}]}}, "invalid_attachments", "filename"),
]


@pytest.mark.parametrize("over,reason,words", BAD, ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD)])
def test_rule_broken(hub, over, reason, words):
    code, _, body = hub.send(make_event(**over))
    assert code == 400, body
    assert body["status"] == "error" and body["error"]["type"] == "validation_error"
    assert words.lower() in body["error"]["message"].lower(), body
    st = hub.stats()
    assert st["rejected_by_reason"] == {reason: 1} and st["accepted"] == 0
    assert hub.events() == []


GOOD = [
    {},
    {"event": "$identify"}, {"event": "$notification_delivered"}, {"event": "$notification_dismiss"},
    {"event": "$notification_clicked"}, {"event": "$app_launched"}, {"event": "$user_login"},
    {"event": "$user_logout"}, {"event": "ab"}, {"event": "  padded  "}, {"event": "Ünïcode_ëvent"},
    {"insert_id": "3F0E4B1C-9A7D-4C7E-8A51-2D6B0F9E1A11"},
    {"properties": {}},
    {"properties": {"nested": {"$inner": 1, "ss_inner": [1, 2.5, None, True]}, "price$": "$10", "s_s": 1}},
    {"properties": {"$ss_sdk_version": "x", "$ss_other_sdk_key": 1}},
    {"idempotency_key": "x" * 255}, {"idempotency_key": " " + "x" * 255 + " "}, {"idempotency_key": ""},
    {"idempotency_key": None},
    {"tenant_id": "t" * 64}, {"tenant_id": "Tenant_1-b"}, {"tenant_id": None},
    {"properties": {"$attachments": []}},
    {"properties": {"$attachments": [
        {"filename": None, "contentType": None, "data": None, "url": "https://example.com/a.pdf", "ignore_if_error": False},
        {"filename": "x.txt", "contentType": "text/plain", "data": "aGVsbG8K", "url": None, "ignore_if_error": True},
        {"url": "HTTP://example.com/x"}]}},
    {"brand_id": "unknown-top-level-field-is-tolerated"},
]


@pytest.mark.parametrize("over", GOOD, ids=[str(i) for i in range(len(GOOD))])
def test_rule_kept(hub, over):
    ev = make_event(**over)
    code, _, body = hub.send(ev)
    assert code == 202, body
    [got] = hub.events()
    got.pop("_hub")
    assert got == ev


def test_event_size_limit_single(hub):
    ev = make_event(properties={"blob": ""})
    base = len(json.dumps(ev).encode())
    ev["properties"]["blob"] = "x" * (102400 - base)
    assert len(json.dumps(ev).encode()) == 102400
    assert hub.send(ev)[0] == 202
    ev = make_event(properties={"blob": "x" * (102401 - base)})
    code, _, body = hub.send(ev)
    assert code == 400 and "102401 bytes" in body["error"]["message"] and "102400" in body["error"]["message"]
    assert hub.stats()["rejected_by_reason"] == {"event_too_large": 1}


def test_event_size_counts_utf8_bytes(start_hub):
    from hubtest_support import KEY, SECRET
    h = start_hub("--workspace", f"{KEY}:{SECRET}", "--max-event-bytes", "1000", "--quiet")
    ev = make_event(properties={"s": ""})
    base = len(json.dumps(ev, ensure_ascii=False).encode())
    ev["properties"]["s"] = "é" * ((1000 - base) // 2 + 1)   # 2 bytes each in UTF-8
    body = json.dumps(ev, ensure_ascii=False).encode()
    assert len(body) > 1000 and len(json.dumps(ev, ensure_ascii=False)) < 1000
    code, _, resp = h.send(body)
    assert code == 400 and "event size" in resp["error"]["message"]


def test_body_not_utf8(hub):
    code, _, body = hub.send(b'{"event": "caf\xe9"}')
    assert code == 400 and "UTF-8" in body["error"]["message"]


def test_lone_surrogate_rejected(hub):
    raw = json.dumps(make_event(properties={"bad": "x"})).replace('"x"', '"\\ud800"').encode()
    code, _, body = hub.send(raw)
    assert code == 400 and "properties.bad" in body["error"]["message"] and "UTF-8" in body["error"]["message"]


@pytest.mark.parametrize("raw", [b"", b"{", b"not json", b'{"a": NaN}', b"\xef\xbb\xbf{}"])
def test_body_not_json(hub, raw):
    code, _, body = hub.send(raw)
    assert code == 400 and body["status"] == "error"


@pytest.mark.parametrize("raw", [b"[]", b'"str"', b"1", b"null"])
def test_single_body_must_be_object(hub, raw):
    code, _, body = hub.send(raw)
    assert code == 400 and "one JSON event object" in body["error"]["message"]


def test_pretty_printed_body_is_fine(hub):
    assert hub.send(json.dumps(make_event(), indent=4).encode())[0] == 202
