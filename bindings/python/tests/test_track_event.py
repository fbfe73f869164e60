"""track_event against the local hub: the seed page's examples, idempotency, attachments."""

from __future__ import annotations

import base64
import logging
import os

import pytest

from conftest import KEY, SECRET, user_properties
from suprsend_native import Event, Suprsend, SuprsendAttachmentError, SuprsendError, SuprsendValidationError

NESTED = {
    "first_name": "User",
    "spend_amount": "$10",
    "nested_key_example": {
        "nested_key1": "some_value_1",
        "nested_key2": {"nested_key3": "some_value_3"},
    },
    "list": [1, 2.5, True, None, {"deep": ["x", {"y": [1, 2, 3]}]}],
    "unicode": "héllo wörld ✓ 😀 日本語",
    "escapes": "quote \" backslash \\ newline \n tab \t nul \u0000",
    "big_int": 2**53,
    "neg": -12.75,
}


def test_track_event_with_nested_properties(client, hub):
    event = Event("0fxxx8f74-xxxx-41c5-8752-xxxcb6911fb08", "product_purchased", NESTED)
    result = client.track_event(event)
    assert set(result) == {"success", "status", "status_code", "message", "raw_response"}
    assert result["success"] is True
    assert result["status"] == "success"
    assert result["status_code"] == 202
    assert isinstance(result["message"], str) and result["message"]
    assert isinstance(result["raw_response"], dict)
    assert result["raw_response"].get("message_id") == result["message"]

    events = hub.events()
    assert len(events) == 1
    ev = events[0]
    assert ev["event"] == "product_purchased"
    assert ev["distinct_id"] == "0fxxx8f74-xxxx-41c5-8752-xxxcb6911fb08"
    assert ev["env"] == KEY
    assert user_properties(ev) == {k: v for k, v in NESTED.items()}
    assert ev["properties"]["spend_amount"] == "$10"   # a "$" in a value is fine
    assert isinstance(ev["$insert_id"], str) and isinstance(ev["$time"], int)


def test_event_without_properties(client, hub):
    assert client.track_event(Event("user_1", "app_opened"))["success"] is True
    ev = hub.events()[0]
    assert user_properties(ev) == {}


def test_tenant_id(client, hub):
    assert client.track_event(Event("user_1", "signed_up", tenant_id="tenant-A_1"))["success"]
    assert hub.events()[0]["tenant_id"] == "tenant-A_1"


def test_brand_id_is_its_own_top_level_key(client, hub):
    assert client.track_event(Event("user_1", "signed_up", brand_id="brand_1"))["success"]
    sent = hub.events()[0]
    assert sent["brand_id"] == "brand_1"
    assert "tenant_id" not in sent
    hub.reset()
    # As the official SDK sends it: both, side by side at the top level.
    assert client.track_event(Event("u1", "ev", {"a": 1}, tenant_id="t1", brand_id="b1"))["success"]
    sent = hub.events()[0]
    assert (sent["tenant_id"], sent["brand_id"]) == ("t1", "b1")
    assert "brand_id" not in sent["properties"]


def test_brand_id_follows_the_tenant_rules(client, hub):
    with pytest.raises(SuprsendValidationError, match="brand_id"):
        client.track_event(Event("user_1", "signed_up", brand_id="not a brand!"))
    with pytest.raises(SuprsendValidationError, match="brand_id"):
        client.track_event(Event("user_1", "signed_up", brand_id="b" * 65))
    ev = Event("user_1", "signed_up", brand_id=7)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="brand_id"):
        client.track_event(ev)
    assert hub.stats()["requests"] == 0


def test_idempotency_key_sent_twice_processed_once(client, hub):
    for _ in range(2):
        result = client.track_event(Event("user_1", "order_placed", {"order": 1}, idempotency_key="order-1234"))
        assert result["success"] is True
    stats = hub.stats()
    assert stats["accepted"] == 1
    assert stats["duplicates"] == 1
    assert hub.events()[0]["$idempotency_key"] == "order-1234"


def test_idempotency_key_is_trimmed(client, hub):
    client.track_event(Event("user_1", "order_placed", idempotency_key="  key-7  "))
    assert hub.events()[0]["$idempotency_key"] == "key-7"


def test_the_same_event_object_sent_twice_is_two_events(client, hub):
    # As with the official SDK, each track_event is a new event (a new $insert_id).
    event = Event("user_1", "clicked")
    assert client.track_event(event)["success"]
    assert client.track_event(event)["success"]
    assert hub.stats()["accepted"] == 2
    ids = {e["$insert_id"] for e in hub.events()}
    assert len(ids) == 2


def test_event_attributes_may_change_before_sending(client, hub):
    event = Event("user_1", "clicked", {"a": 1})
    event.properties["b"] = 2
    event.distinct_id = "user_2"
    assert client.track_event(event)["success"]
    ev = hub.events()[0]
    assert ev["distinct_id"] == "user_2"
    assert user_properties(ev) == {"a": 1, "b": 2}


def test_url_attachment(client, hub):
    event = Event("user_1", "invoice_generated", {"invoice": "A-1"})
    event.add_attachment("https://www.adobe.com/sample_file.pdf")
    event.add_attachment("https://example.com/x/report.csv", file_name="monthly.csv", ignore_if_error=True)
    assert client.track_event(event)["success"] is True
    atts = hub.events()[0]["properties"]["$attachments"]
    assert len(atts) == 2
    assert atts[0]["url"] == "https://www.adobe.com/sample_file.pdf"
    assert atts[0]["ignore_if_error"] is False
    assert atts[0].get("filename") in (None, "sample_file.pdf")
    assert atts[1]["url"] == "https://example.com/x/report.csv"
    assert atts[1]["filename"] == "monthly.csv"
    assert atts[1]["ignore_if_error"] is True


def test_file_attachment(client, hub, tmp_path):
    pdf = tmp_path / "invoice.pdf"
    content = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n" + bytes(range(256)) * 4
    pdf.write_bytes(content)
    txt = tmp_path / "notes.txt"
    txt.write_text("plain text ✓\n", encoding="utf-8")

    event = Event("user_1", "invoice_generated")
    event.add_attachment(str(pdf))
    event.add_attachment(str(txt), file_name="renamed.txt")
    assert client.track_event(event)["success"] is True

    atts = hub.events()[0]["properties"]["$attachments"]
    assert [a["filename"] for a in atts] == ["invoice.pdf", "renamed.txt"]
    assert base64.b64decode(atts[0]["data"]) == content
    assert atts[0]["contentType"] == "application/pdf"
    assert base64.b64decode(atts[1]["data"]) == txt.read_bytes()
    assert atts[1]["contentType"].startswith("text/plain")
    assert all(a["ignore_if_error"] is False for a in atts)
    assert "url" not in atts[0] or atts[0]["url"] is None


def test_file_attachment_with_tilde(client, hub, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "a.txt").write_bytes(b"hello")
    event = Event("user_1", "invoice_generated")
    event.add_attachment("~/a.txt")
    assert client.track_event(event)["success"] is True
    att = hub.events()[0]["properties"]["$attachments"][0]
    assert att["filename"] == "a.txt" and base64.b64decode(att["data"]) == b"hello"


def test_missing_attachment_raises_at_once(tmp_path):
    event = Event("user_1", "invoice_generated")
    with pytest.raises(SuprsendAttachmentError) as info:
        event.add_attachment(str(tmp_path / "nope.pdf"))
    err = info.value
    assert isinstance(err, OSError) and isinstance(err, ValueError) and isinstance(err, SuprsendError)
    assert err.status == 4 and err.status_name == "SUPRSEND_E_ATTACHMENT"
    assert "nope.pdf" in str(err) or str(err)


def test_missing_attachment_ignored_if_asked(client, hub, tmp_path, caplog):
    event = Event("user_1", "invoice_generated", {"k": "v"})
    event.add_attachment(str(tmp_path / "nope.pdf"), ignore_if_error=True)
    with caplog.at_level(logging.WARNING, logger="suprsend_native"):
        assert client.track_event(event)["success"] is True
    ev = hub.events()[0]
    assert not ev["properties"].get("$attachments")
    assert any(r.levelno == logging.WARNING for r in caplog.records if r.name == "suprsend_native"), \
        "the skipped attachment should be logged as a warning"


def test_attachment_is_read_once_when_added(client, hub, tmp_path):
    """A temporary file removed, or rewritten, after add_attachment: what was added is sent."""
    gone = tmp_path / "gone.txt"
    gone.write_bytes(b"first content")
    rewritten = tmp_path / "rewritten.txt"
    rewritten.write_bytes(b"as added")
    event = Event("user_1", "invoice_generated")
    event.add_attachment(str(gone))
    event.add_attachment(str(rewritten))
    os.remove(gone)
    rewritten.write_bytes(b"changed afterwards")
    assert client.track_event(event)["success"] is True
    sent = hub.events()[0]["properties"]["$attachments"]
    assert [base64.b64decode(a["data"]) for a in sent] == [b"first content", b"as added"]
    assert [a["filename"] for a in sent] == ["gone.txt", "rewritten.txt"]
    # And again: every send carries the same bytes.
    assert client.track_event(event)["success"] is True
    assert [base64.b64decode(a["data"]) for a in hub.events()[1]["properties"]["$attachments"]] == \
        [b"first content", b"as added"]


def test_debug_logs_requests_without_the_secret(hub, caplog):
    with caplog.at_level(logging.DEBUG, logger="suprsend_native"):
        with Suprsend(KEY, SECRET, base_url=hub.base_url, debug=True) as c:
            assert c.track_event(Event("user_1", "logged"))["success"]
    lines = [r.getMessage() for r in caplog.records if r.name == "suprsend_native"]
    assert lines, "debug=True should log each request and response"
    assert any(r.levelno == logging.DEBUG for r in caplog.records if r.name == "suprsend_native")
    assert not any(SECRET in line for line in lines)
    logging.getLogger("suprsend_native").setLevel(logging.NOTSET)


def test_context_manager_and_close(hub):
    from suprsend_native import SuprsendClosedError

    with Suprsend(KEY, SECRET, base_url=hub.base_url) as c:
        assert not c.closed
    assert c.closed
    with pytest.raises(SuprsendClosedError) as info:
        c.track_event(Event("user_1", "too_late"))
    assert info.value.status == 10
    with pytest.raises(SuprsendClosedError):
        c.bulk_events.new_instance()
    c.close()  # idempotent

    c2 = Suprsend(KEY, SECRET, base_url=hub.base_url)
    bulk = c2.bulk_events.new_instance()
    bulk.append(Event("user_1", "queued"))
    c2.close()  # frees the pending bulk too
    with pytest.raises(SuprsendClosedError):
        bulk.trigger()
    assert hub.stats()["requests"] == 0


def test_version_and_library_path():
    import suprsend_native

    assert suprsend_native.library_version_number >= 1000
    assert suprsend_native.library_version.count(".") >= 2
    assert os.path.exists(suprsend_native.library_path)
