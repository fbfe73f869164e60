"""Hooks for clients' background-delivery tests: GET /_hub/inflight, POST /_hub/release (end injected
delays early) and the refuse_records fault (per-record refusals in a bulk answer)."""

import http.client
import json
import threading
import time

import pytest

from hubtest_support import make_event


def _send_in_thread(hub, ev, out):
    def run():
        try:
            out.append(hub.send(ev)[0])
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
            out.append(type(e).__name__)
    t = threading.Thread(target=run)
    t.start()
    return t


def _wait_delayed(hub, n, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = hub.control("GET", "/_hub/inflight")
        if st["delayed"] == n:
            return st
        time.sleep(0.01)
    raise AssertionError(f"never {n} delayed requests: {st}")


def test_inflight_idle(hub):
    assert hub.control("GET", "/_hub/inflight") == {"active": 0, "delayed": 0}
    assert hub.control("POST", "/_hub/release", {}) == {"status": "ok", "released": 0}


def test_release_continues(hub):
    hub.faults({"script": [{"delay_ms": 30000}]})
    out = []
    t0 = time.monotonic()
    t = _send_in_thread(hub, make_event(), out)
    assert _wait_delayed(hub, 1) == {"active": 1, "delayed": 1}
    assert hub.control("POST", "/_hub/release", {})["released"] == 1
    t.join(10)
    assert out == [202] and time.monotonic() - t0 < 10
    assert len(hub.events()) == 1
    assert hub.control("GET", "/_hub/inflight") == {"active": 0, "delayed": 0}


def test_release_drop(hub):
    hub.faults({"rate": {"delay": 1.0}, "delay_ms": 30000})
    out = []
    threads = [_send_in_thread(hub, make_event(), out) for _ in range(3)]
    _wait_delayed(hub, 3)
    assert hub.control("POST", "/_hub/release", {"drop": True})["released"] == 3
    for t in threads:
        t.join(10)
    assert len(out) == 3 and 202 not in out
    assert hub.events() == []
    st = hub.stats()
    assert st["requests"] == 3 and st["accepted"] == 0 and st["faults_injected"] == {"delay": 3}
    assert hub.control("GET", "/_hub/inflight") == {"active": 0, "delayed": 0}


def test_delay_without_release_still_waits(hub):
    hub.faults({"script": [{"delay_ms": 300}]})
    t0 = time.monotonic()
    assert hub.send(make_event())[0] == 202 and time.monotonic() - t0 >= 0.3


def test_reset_leaves_delays_alone(hub):
    hub.faults({"script": [{"delay_ms": 30000}]})
    out = []
    t = _send_in_thread(hub, make_event(), out)
    _wait_delayed(hub, 1)
    hub.reset()
    assert hub.control("GET", "/_hub/inflight")["delayed"] == 1
    hub.control("POST", "/_hub/release", {})
    t.join(10)
    assert out == [202] and len(hub.events()) == 1


@pytest.mark.parametrize("body", [b"[]", b'{"drop": 1}', b'{"other": true}', b"{"])
def test_release_bad_body(hub, body):
    code, _, data = hub.request("POST", "/_hub/release", body, {"Content-Type": "application/json"})
    assert code == 400 and data["error"]["type"] == "invalid_request_error"


# --- refuse_records: per-record refusals in an otherwise normal answer ----------------------------

def test_refuse_records_bulk(hub):
    hub.faults({"script": [{"refuse_records": [0, 2]}]})
    evs = [make_event(distinct_id=f"u{i}") for i in range(4)]
    code, _, body = hub.send(evs, path="/v2/bulk/event/")
    assert code == 202 and body["status"] == "success"
    recs = body["records"]
    assert [r["status_code"] for r in recs] == [400, 202, 400, 202]
    assert recs[0] == {"status": "error", "status_code": 400,
                       "error": {"message": "injected fault: record refused", "type": "validation_error"}}
    assert [e["distinct_id"] for e in hub.events()] == ["u1", "u3"]
    st = hub.stats()
    assert st["accepted"] == 2 and st["rejected"] == 0 and st["faults_injected"] == {"refuse_records": 1}
    # used up: the next request is normal
    assert [r["status_code"] for r in hub.send(evs[:1], path="/v2/bulk/event/")[2]["records"]] == [202]


def test_refuse_records_single(hub):
    hub.faults({"script": [{"refuse_records": [0]}, {"refuse_records": [1]}]})
    code, _, body = hub.send(make_event())
    assert code == 400 and body["error"]["message"] == "injected fault: record refused"
    assert hub.send(make_event())[0] == 202       # index 1 does not exist in a single event
    assert len(hub.events()) == 1 and hub.stats()["rejected"] == 0


def test_refuse_records_with_drop_after(hub):
    hub.faults({"script": [{"refuse_records": [1], "drop": "after_processing"}]})
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        hub.send([make_event(distinct_id="a"), make_event(distinct_id="b")], path="/v2/bulk/event/")
    assert [e["distinct_id"] for e in hub.events()] == ["a"]


@pytest.mark.parametrize("entry", [{"refuse_records": []}, {"refuse_records": [-1]}, {"refuse_records": "0"},
                                   {"refuse_records": [True]}, {"refuse_records": [0], "status": 503},
                                   {"refuse_records": [0], "drop": "before_processing"}])
def test_refuse_records_bad_config(hub, entry):
    code, _, data = hub.request("POST", "/_hub/faults", json.dumps({"script": [entry]}).encode(),
                                {"Content-Type": "application/json"})
    assert code == 400 and "refuse_records" in data["error"]["message"]
