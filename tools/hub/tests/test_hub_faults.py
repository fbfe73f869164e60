"""POST /_hub/faults: scripted and seeded random outcomes for the next event API requests."""

import http.client
import time

import pytest

from hubtest_support import make_event


def test_status_fault(hub):
    hub.faults({"script": [{"status": 503}]})
    code, _, body = hub.send(make_event())
    assert code == 503 and body["status"] == "error" and "503" in body["error"]["message"]
    assert hub.events() == []
    assert hub.send(make_event())[0] == 202          # script used up: normal again
    st = hub.stats()
    assert st["requests"] == 2 and st["accepted"] == 1 and st["faults_injected"] == {"status_503": 1}


def test_429_with_retry_after(hub):
    hub.faults({"script": [{"status": 429, "retry_after": 1}]})
    code, headers, body = hub.send(make_event())
    assert code == 429 and headers["Retry-After"] == "1" and body["error"]["type"] == "rate_limit_error"


def test_script_in_order_and_skip(hub):
    hub.faults({"script": [{"status": 500}, {}, {"status": 502}]})
    codes = [hub.send(make_event())[0] for _ in range(4)]
    assert codes == [500, 202, 502, 202]


def test_delay(hub):
    hub.faults({"script": [{"delay_ms": 400}]})
    t0 = time.monotonic()
    code, _, _ = hub.send(make_event())
    assert code == 202 and time.monotonic() - t0 >= 0.4
    assert len(hub.events()) == 1


def test_drop_before_processing(hub):
    hub.faults({"script": [{"drop": "before_processing"}]})
    c = hub.conn()
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)):
        hub.send(make_event(), conn=c)
    c.close()
    assert hub.events() == []
    st = hub.stats()
    assert st["requests"] == 1 and st["accepted"] == 0 and st["faults_injected"] == {"drop_before_processing": 1}


def test_drop_after_processing(hub):
    hub.faults({"script": [{"drop": "after_processing"}]})
    ev = make_event(idempotency_key="retry-me")
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        hub.send(ev)
    assert [e["$insert_id"] for e in hub.events()] == [ev["$insert_id"]]
    # the client's retry is then a duplicate
    assert hub.send(ev)[0] == 202
    st = hub.stats()
    assert st["accepted"] == 1 and st["duplicates"] == 1


def test_drop_after_processing_bulk(hub):
    hub.faults({"script": [{"drop": "after_processing"}]})
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        hub.send([make_event(), make_event()], path="/v2/bulk/event/")
    assert len(hub.events()) == 2


def test_faults_apply_to_event_api_only(hub):
    hub.faults({"script": [{"status": 503}]})
    hub.stats()
    hub.request("GET", "/nope")
    assert hub.send(make_event())[0] == 503


def test_empty_script_clears(hub):
    hub.faults({"script": [{"status": 503}], "rate": {"status_500": 1.0}})
    hub.faults({"script": []})
    assert hub.send(make_event())[0] == 202


def test_reset_clears_faults(hub):
    hub.faults({"script": [{"status": 503}]})
    hub.reset()
    assert hub.send(make_event())[0] == 202


def _run_rates(hub, n=40):
    hub.reset()
    hub.faults({"rate": {"status_503": 0.3, "status_500": 0.1, "status_429": 0.1}, "seed": 7, "retry_after": 2})
    out = []
    for _ in range(n):
        code, headers, _ = hub.send(make_event())
        out.append(code)
        if code == 429:
            assert headers["Retry-After"] == "2"
    return out


def test_seeded_rates_are_reproducible(hub):
    a = _run_rates(hub)
    b = _run_rates(hub)
    assert a == b
    assert set(a) <= {202, 503, 500, 429} and 202 in a and 503 in a
    assert hub.stats()["accepted"] == a.count(202)


def test_rate_drops_and_delay(hub):
    hub.faults({"rate": {"drop_before_processing": 1.0}, "seed": 1})
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        hub.send(make_event())
    hub.faults({"rate": {"drop_after_processing": 1.0}, "seed": 1})
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        hub.send(make_event())
    hub.faults({"rate": {"delay": 1.0}, "delay_ms": 200})
    t0 = time.monotonic()
    assert hub.send(make_event())[0] == 202 and time.monotonic() - t0 >= 0.2
    assert len(hub.events()) == 2


@pytest.mark.parametrize("spec", [
    {"script": [{"drop": "sometimes"}]}, {"script": [{"status": "x"}]}, {"script": [{"bogus": 1}]},
    {"script": {}}, {"rate": {"status_503": 2}}, {"rate": {"explode": 0.1}},
    {"rate": {"status_503": 0.6, "status_500": 0.6}}, [],
])
def test_bad_fault_config(hub, spec):
    import json
    code, _, body = hub.request("POST", "/_hub/faults", json.dumps(spec).encode())
    assert code == 400 and body["status"] == "error"
