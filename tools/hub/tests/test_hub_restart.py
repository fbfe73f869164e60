"""A hub stopped with SIGTERM and started again on the same port with the same --db keeps what it
recorded: its events, and the idempotency keys it accepted (so a client's retry after the outage is
still dropped as a repeat). tests/c/fault-matrix.sh relies on this for its "hub down" scenario."""

import signal

from hubtest_support import KEY, SECRET, HubProcess, make_event


def _stop(h):
    h.proc.send_signal(signal.SIGTERM)
    assert h.proc.wait(5) == 0
    h.stop()


def test_restart_on_the_same_port_and_db_keeps_events_and_idempotency(tmp_path):
    db = str(tmp_path / "hub.db")
    first = HubProcess(tmp_path, "--workspace", f"{KEY}:{SECRET}", "--db", db, "--quiet")
    kept = make_event(idempotency_key="order-1")
    try:
        assert first.send(kept)[0] == 202
        assert first.send(make_event(event="second_event"))[0] == 202
        # a keep-alive connection left open must not keep the port from being reused
        conn = first.conn()
        assert first.send(make_event(), conn=conn)[0] == 202
        port = first.port
        before = first.events()
    finally:
        _stop(first)
    assert len(before) == 3

    second = HubProcess(tmp_path, "--workspace", f"{KEY}:{SECRET}", "--db", db, "--quiet",
                        "--port", str(port))
    try:
        # HubProcess passes "--port 0" first; the later "--port" wins
        assert second.port == port
        after = second.events()
        assert [e["$insert_id"] for e in after] == [e["$insert_id"] for e in before]
        assert [e["_hub"]["message_id"] for e in after] == [e["_hub"]["message_id"] for e in before]

        # the same key again (a retry of the same occurrence): a repeat, not processed again
        status, _, body = second.send(kept)
        assert status == 202 and body["status"] == "success"
        assert len(second.events()) == 3
        dups = second.control("GET", "/_hub/duplicates")
        assert [d["idempotency_key"] for d in dups] == ["order-1"]
        assert dups[0]["original_message_id"] == before[0]["_hub"]["message_id"]

        # new events go on being recorded after the old ones
        assert second.send(make_event(event="after_restart"))[0] == 202
        names = [e["event"] for e in second.events()]
        assert len(names) == 4 and names[-1] == "after_restart"
    finally:
        _stop(second)
