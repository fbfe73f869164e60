"""Authorization, Date, Content-Type, paths."""

import time

import pytest

from hubtest_support import CT, KEY, KEY2, SECRET, SECRET2, make_event
from suprsend_hub.server import _is_loopback
from suprsend_hub.signing import format_http_date


def assert_error(resp, status, reason_words, type_=None):
    code, _, body = resp
    assert code == status, body
    assert body["status"] == "error"
    assert reason_words.lower() in body["error"]["message"].lower(), body
    if type_:
        assert body["error"]["type"] == type_
    return body


def test_valid_request_accepted(hub):
    code, headers, body = hub.send(make_event())
    assert code == 202, body
    assert body["status"] == "success" and body["message_id"]
    assert headers["Content-Type"] == "application/json"
    assert hub.stats()["accepted"] == 1


def test_second_workspace(hub):
    assert hub.send(make_event(key=KEY2), key=KEY2, secret=SECRET2)[0] == 202
    assert hub.events()[0]["_hub"]["workspace"] == KEY2


def test_wrong_secret(hub):
    assert_error(hub.send(make_event(), secret="nope"), 401, "signature", "authentication_error")
    st = hub.stats()
    assert st["rejected_by_reason"] == {"bad_signature": 1} and st["accepted"] == 0


def test_secret_of_other_workspace(hub):
    assert_error(hub.send(make_event(), secret=SECRET2), 401, "signature")


def test_tampered_body(hub):
    ev = make_event()
    import json
    signed = json.dumps(ev).encode()
    ev["distinct_id"] = "someone_else"
    assert_error(hub.send(ev, sign_body=signed), 401, "signature")


def test_signature_covers_request_uri(hub):
    assert_error(hub.send(make_event(), path="/v2/event/", sign_uri="/x/v2/event/"), 401, "signature")
    assert_error(hub.send(make_event(), path="/v2/event/?a=1", sign_uri="/v2/event/"), 401, "signature")
    assert hub.send(make_event(), path="/v2/event/?a=1")[0] == 202


def test_signature_covers_content_type(hub):
    ev = make_event()
    code, _, _ = hub.send(ev, content_type="application/json",
                          headers={"Content-Type": "application/json; charset=utf-8"})
    assert code == 401


def test_stale_date(hub):
    body = assert_error(hub.send(make_event(), date=format_http_date(time.time() - 1000)), 401, "past")
    assert "900" in body["error"]["message"]
    assert hub.stats()["rejected_by_reason"] == {"stale_date": 1}


def test_future_date(hub):
    assert_error(hub.send(make_event(), date=format_http_date(time.time() + 1000)), 401, "future")


def test_date_within_skew(hub):
    assert hub.send(make_event(), date=format_http_date(time.time() - 600))[0] == 202
    assert hub.send(make_event(), date=format_http_date(time.time() + 600))[0] == 202


def test_custom_skew(start_hub):
    h = start_hub("--workspace", f"{KEY}:{SECRET}", "--max-clock-skew-s", "5", "--quiet")
    assert_error(h.send(make_event(), date=format_http_date(time.time() - 60)), 401, "past")


def test_missing_date(hub):
    assert_error(hub.send(make_event(), omit=["Date"]), 401, "Date header is missing")


@pytest.mark.parametrize("date", ["2026-11-27T10:00:00Z", "Fri, 27 Nov 2026 10:00:00 +0000", "yesterday"])
def test_unparsable_date(hub, date):
    assert_error(hub.send(make_event(), date=date), 401, "not an RFC 1123")
    assert hub.stats()["rejected_by_reason"] == {"bad_date": 1}


def test_unknown_key(hub):
    assert_error(hub.send(make_event(key="who"), key="who"), 401, "unknown workspace key")


def test_missing_authorization(hub):
    assert_error(hub.send(make_event(), omit=["Authorization"]), 401, "Authorization header is missing")


@pytest.mark.parametrize("auth", [KEY, f"{KEY}:", ":abc"])
def test_malformed_authorization(hub, auth):
    assert_error(hub.send(make_event(), headers={"Authorization": auth}), 401, "<workspace_key>:<signature>")


@pytest.mark.parametrize("ct", ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"])
def test_wrong_content_type_is_415(hub, ct):
    body = assert_error(hub.send(make_event(), content_type=ct), 415, "Content-Type")
    assert body["error"]["type"] == "unsupported_media_type"


@pytest.mark.parametrize("ct", ["application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8"])
def test_content_type_variants_accepted(hub, ct):
    assert hub.send(make_event(), content_type=ct)[0] == 202


@pytest.mark.parametrize("path", ["/anything/v2/event/", "/a/b/v2/event/", "/a/b/v2/bulk/event/"])
def test_base_paths(hub, path):
    payload = [make_event()] if "bulk" in path else make_event()
    assert hub.send(payload, path=path)[0] == 202
    assert len(hub.events()) == 1


@pytest.mark.parametrize("path", ["/", "/v2/event", "/v1/event/", "/v2/events/", "/v2/bulk/events/", "/v2/event/x"])
def test_other_paths_404(hub, path):
    code, _, body = hub.send(make_event(), path=path)
    assert code == 404 and body["status"] == "error" and body["error"]["type"] == "not_found"


def test_get_on_event_path_405(hub):
    code, headers, body = hub.request("GET", "/v2/event/")
    assert code == 405 and body["status"] == "error" and headers["Allow"] == "POST"


def test_loopback_check():
    assert _is_loopback("127.0.0.1") and _is_loopback("::1") and _is_loopback("::ffff:127.0.0.1")
    assert not _is_loopback("10.1.2.3") and not _is_loopback("::ffff:10.0.0.1") and not _is_loopback("x")


def test_content_type_header_checked_before_body(hub):
    # valid signature, wrong type: 415 even though the body is not JSON
    assert hub.send(b"not json", content_type="text/plain")[0] == 415
    assert hub.send(b"not json", content_type=CT)[0] == 400
