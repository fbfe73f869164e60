"""Interoperability with the official Python SDK (pip package suprsend-py-sdk).

Installs nothing: skipped when the package is not importable.
"""

import pytest

from hubtest_support import KEY, SECRET

suprsend = pytest.importorskip("suprsend", reason="official SDK not installed: pip install suprsend-py-sdk")


@pytest.fixture
def client(hub):
    return suprsend.Suprsend(KEY, SECRET, base_url=f"http://127.0.0.1:{hub.port}/")


def test_single_events(hub, client, tmp_path):
    ev = suprsend.Event(distinct_id="user_42", event_name="product_purchased",
                        properties={"first_name": "Zoë", "amount": 10.5, "nested": {"k": [1, 2]}},
                        idempotency_key="order-42", tenant_id="tenant_1")
    ev.add_attachment("https://example.com/invoice.pdf")
    res = client.track_event(ev)
    assert res["success"] and res["status_code"] == 202, res

    f = tmp_path / "note.txt"
    f.write_text("hello")
    ev2 = suprsend.Event(distinct_id="user_43", event_name="$app_launched", properties={})
    ev2.add_attachment(str(f), ignore_if_error=True)
    res2 = client.track_event(ev2)
    assert res2["success"], res2

    # a retry of the first event (same idempotency key) is accepted but not processed twice
    assert client.track_event(ev)["success"]

    got = hub.events()
    assert len(got) == 2
    first, second = got
    assert first["event"] == "product_purchased" and first["distinct_id"] == "user_42"
    assert first["env"] == KEY and first["$idempotency_key"] == "order-42" and first["tenant_id"] == "tenant_1"
    assert first["properties"]["first_name"] == "Zoë" and first["properties"]["nested"] == {"k": [1, 2]}
    assert "$ss_sdk_version" in first["properties"]
    [att] = first["properties"]["$attachments"]
    assert att["url"] == "https://example.com/invoice.pdf"
    [att2] = second["properties"]["$attachments"]
    assert att2["filename"] == "note.txt" and att2["data"] and att2["ignore_if_error"] is True
    assert first["_hub"]["message_id"] == res["message"]
    assert hub.stats()["duplicates"] == 1


def test_bulk(hub, client):
    bulk = client.bulk_events.new_instance()
    bulk.append(*[suprsend.Event(f"user_{i}", f"bulk_event_{i}", {"i": i}) for i in range(5)])
    res = bulk.trigger()
    assert res.status == "success" and res.total == 5 and res.success == 5, res.failed_records
    got = hub.events()
    assert [e["event"] for e in got] == [f"bulk_event_{i}" for i in range(5)]
    assert [e["properties"]["i"] for e in got] == list(range(5))


def test_sdk_sees_hub_rejections(hub, client):
    # the SDK itself lets '$'-prefixed property keys through; the hub refuses them per the spec
    res = client.track_event(suprsend.Event("u", "some_event", {"$custom": 1}))
    assert not res["success"] and res["status_code"] == 400
    bad = suprsend.Suprsend(KEY, "wrong-secret", base_url=f"http://127.0.0.1:{hub.port}/")
    res = bad.track_event(suprsend.Event("u", "some_event", {}))
    assert not res["success"] and res["status_code"] == 401


def test_base_path(hub):
    c = suprsend.Suprsend(KEY, SECRET, base_url=f"http://127.0.0.1:{hub.port}/proxy/path/")
    assert c.track_event(suprsend.Event("u", "via_proxy", {}))["success"]
    assert hub.events()[0]["event"] == "via_proxy"
