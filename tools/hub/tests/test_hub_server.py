"""HTTP behaviour: keep-alive, connection counting, chunked bodies, concurrency, SIGTERM, --db, startup."""

import json
import os
import signal
import socket
import sqlite3
import threading

from hubtest_support import CT, KEY, SECRET, HubProcess, make_event
from suprsend_hub.signing import format_http_date, sign


def test_keep_alive_counts_one_connection(hub):
    c = hub.conn()
    for _ in range(50):
        code, headers, _ = hub.send(make_event(), conn=c)
        assert code == 202
    status, _, st = hub.request("GET", "/_hub/stats", conn=c)
    c.close()
    assert st["connections"] == 1 and st["requests"] == 50 and st["accepted"] == 50


def test_every_answer_has_content_length(hub):
    c = hub.conn()
    for path in ("/v2/event/", "/nope", "/_hub/stats", "/_hub/nope"):
        c.request("POST" if "v2" in path else "GET", path, body=b"{}", headers={"Content-Type": CT})
        r = c.getresponse()
        assert int(r.headers["Content-Length"]) == len(r.read())
    c.close()


def test_new_connections_are_counted(hub):
    for _ in range(3):
        hub.send(make_event())
    assert hub.stats()["connections"] == 4        # 3 sends + the stats request itself


def test_chunked_body(hub):
    body = json.dumps(make_event()).encode()
    date = format_http_date()
    sig = sign(SECRET, "POST", body, CT, date, "/v2/event/")
    head = (f"POST /v2/event/ HTTP/1.1\r\nHost: x\r\nContent-Type: {CT}\r\nDate: {date}\r\n"
            f"Authorization: {KEY}:{sig}\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 50]), body[i:i + 50]) for i in range(0, len(body), 50))
    with socket.create_connection(("127.0.0.1", hub.port), timeout=5) as s:
        s.sendall(head + chunks + b"0\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            data += s.recv(4096)
    assert data.startswith(b"HTTP/1.1 202")
    assert len(hub.events()) == 1


def test_chunked_via_http_client(hub):
    body = json.dumps(make_event()).encode()
    date = format_http_date()
    sig = sign(SECRET, "POST", body, CT, date, "/v2/event/")
    c = hub.conn()
    c.request("POST", "/v2/event/", body=iter([body[:10], body[10:]]), encode_chunked=True,
              headers={"Content-Type": CT, "Date": date, "Authorization": f"{KEY}:{sig}",
                       "Transfer-Encoding": "chunked"})
    assert c.getresponse().status == 202
    c.close()


def test_concurrent_clients(hub):
    errors = []

    def worker():
        c = hub.conn()
        try:
            for _ in range(10):
                code, _, body = hub.send(make_event(), conn=c)
                if code != 202:
                    errors.append(body)
        except Exception as e:  # pragma: no cover
            errors.append(repr(e))
        finally:
            c.close()
    threads = [threading.Thread(target=worker) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    st = hub.stats()
    assert st["accepted"] == 200 and st["connections"] == 21
    assert len({e["_hub"]["message_id"] for e in hub.events()}) == 200


def test_events_in_arrival_order_and_unchanged(hub):
    evs = [make_event(event=f"e_{i}", properties={"i": i, "nested": {"z": [1, {"y": None}]}}) for i in range(5)]
    for ev in evs:
        hub.send(ev)
    got = hub.events()
    for g in got:
        assert set(g.pop("_hub")) >= {"message_id", "workspace"}
    assert got == evs
    assert [list(g) for g in got] == [list(e) for e in evs]     # key order kept


def test_reset_forgets_everything(hub):
    hub.send(make_event())
    hub.send(make_event(event="x"))
    hub.reset()
    st = hub.stats()
    assert (st["requests"], st["accepted"], st["duplicates"], st["rejected"]) == (0, 0, 0, 0)
    assert st["rejected_by_reason"] == {} and hub.events() == []


def test_unknown_control_endpoint(hub):
    code, _, body = hub.request("GET", "/_hub/whatever")
    assert code == 404 and body["status"] == "error"


def test_sigterm_exits_zero(tmp_path):
    h = HubProcess(tmp_path, "--quiet")
    c = h.conn()
    h.request("GET", "/_hub/stats", conn=c)      # an idle keep-alive connection must not block shutdown
    h.proc.send_signal(signal.SIGTERM)
    assert h.proc.wait(5) == 0
    c.close()
    h.stop()


def test_sigint_exits_zero(tmp_path):
    h = HubProcess(tmp_path, "--quiet")
    h.proc.send_signal(signal.SIGINT)
    assert h.proc.wait(5) == 0
    h.stop()


def test_demo_workspace_and_port_file(tmp_path):
    h = HubProcess(tmp_path)
    try:
        with open(h.port_file) as f:
            assert f.read() == f"{h.port}\n"
        assert [p for p in os.listdir(tmp_path) if ".tmp." in p] == []
        assert h.send(make_event(key="demo_key"), key="demo_key", secret="demo_secret")[0] == 202
        h.proc.send_signal(signal.SIGTERM)
        assert h.proc.wait(5) == 0
        assert "demo_key:demo_secret" in h.output()
    finally:
        h.stop()


def test_db_file_records_everything(tmp_path):
    db = tmp_path / "hub.sqlite"
    h = HubProcess(tmp_path, "--workspace", f"{KEY}:{SECRET}", "--db", str(db), "--quiet")
    try:
        h.send(make_event(idempotency_key="k"))
        h.send(make_event(idempotency_key="k"))
        h.send(make_event(event="x"))
        h.send([make_event(), make_event(distinct_id="")], path="/v2/bulk/event/")
        h.proc.send_signal(signal.SIGTERM)
        assert h.proc.wait(5) == 0
    finally:
        h.stop()
    con = sqlite3.connect(db)
    count = lambda t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
    assert count("requests") == 4 and count("events") == 2 and count("duplicates") == 1
    assert count("rejections") == 2
    reasons = sorted(r for (r,) in con.execute("SELECT reason FROM rejections"))
    assert reasons == ["invalid_distinct_id", "invalid_event"]
    (text,) = con.execute("SELECT json FROM events ORDER BY id LIMIT 1").fetchone()
    assert json.loads(text)["$idempotency_key"] == "k"
    statuses = [s for (s,) in con.execute("SELECT status FROM requests ORDER BY id")]
    assert statuses == [202, 202, 400, 202]
    con.close()


def _non_loopback_ip():
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))     # no packet is sent; picks the outgoing interface
            ip = s.getsockname()[0]
    except OSError:
        return None
    return None if ip.startswith("127.") or ip == "0.0.0.0" else ip


def test_control_api_refuses_non_loopback_clients(tmp_path):
    import http.client
    import pytest
    ip = _non_loopback_ip()
    if ip is None:
        pytest.skip("no non-loopback IPv4 address on this machine")
    h = HubProcess(tmp_path, "--host", "0.0.0.0", "--quiet")
    try:
        c = http.client.HTTPConnection(ip, h.port, timeout=5)
        c.request("GET", "/_hub/stats")
        r = c.getresponse()
        assert r.status == 403 and json.loads(r.read())["error"]["type"] == "forbidden"
        c.close()
        # the event API itself is open to everyone
        c = http.client.HTTPConnection(ip, h.port, timeout=5)
        h.send(make_event(key="demo_key"), key="demo_key", secret="demo_secret", conn=c)
        c.close()
        assert h.stats()["accepted"] == 1
    finally:
        h.stop()


def test_ipv6_loopback(tmp_path):
    import http.client
    import pytest
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        h = HubProcess(tmp_path, "--host", "::1", "--quiet")
    except RuntimeError as e:
        pytest.skip(f"cannot listen on ::1: {e}")
    try:
        c = http.client.HTTPConnection("::1", h.port, timeout=5)
        c.request("GET", "/_hub/stats")
        assert c.getresponse().status == 200
        c.close()
    finally:
        h.stop()
