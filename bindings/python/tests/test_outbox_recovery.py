"""A damaged outbox as a user meets it: refused by name and left as it was, then moved away
and recovered with tools/outbox-recover.sh (the README's "A damaged outbox"), and its
readable events sent again, each with its idempotency key."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess

import pytest

from conftest import KEY, REPO_ROOT, SECRET
from suprsend_native import Event, Suprsend
from suprsend_native.errors import SuprsendStorageError

RECOVER = os.path.join(REPO_ROOT, "tools", "outbox-recover.sh")


def _digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_damaged_outbox_is_refused_untouched_and_recovered(hub, tmp_path, unused_port):
    outbox = str(tmp_path / "outbox.db")
    # 300 events the hub never saw (nothing listens at the URL), left in the outbox at close.
    client = Suprsend(KEY, SECRET, base_url=f"http://127.0.0.1:{unused_port}/", outbox=outbox)
    for i in range(300):
        client.enqueue(Event("user_1", "recovered_event", {"i": i, "pad": "x" * 200},
                             idempotency_key=f"order-{i}"))
    assert client.close(timeout=0) is False
    # The last connection closed has checkpointed the WAL into the file and removed it.
    assert not os.path.exists(outbox + "-wal")
    # Three pages of the events table overwritten.
    with open(outbox, "r+b") as f:
        for page in (3, 5, 7):
            f.seek(page * 4096)
            f.write(b"\xa5" * 4096)
    before = _digest(outbox)

    with pytest.raises(SuprsendStorageError) as refused:
        Suprsend(KEY, SECRET, base_url=hub.base_url, outbox=outbox)
    assert "damaged" in str(refused.value) and outbox in str(refused.value)
    assert _digest(outbox) == before

    # The README's steps: move it away (a new client starts an empty outbox), recover, send.
    os.rename(outbox, outbox + ".damaged")
    if os.path.exists(outbox + "-wal"):
        os.rename(outbox + "-wal", outbox + ".damaged-wal")
    if os.path.exists(outbox + "-shm"):
        os.unlink(outbox + "-shm")
    with Suprsend(KEY, SECRET, base_url=hub.base_url, outbox=outbox) as fresh:
        assert fresh.stats()["queued"] == 0
    lines_path = str(tmp_path / "recovered.jsonl")
    done = subprocess.run([RECOVER, outbox + ".damaged", lines_path], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in open(lines_path)]
    assert 200 <= len(records) < 300, f"{len(records)} events recovered"  # some pages are lost
    for record in records:
        assert record["event"] == "recovered_event" and record["distinct_id"] == "user_1"
        assert record["idempotency_key"] == f"order-{record['properties']['i']}"
        assert set(record["properties"]) == {"i", "pad"}

    with Suprsend(KEY, SECRET, base_url=hub.base_url, max_retries=0) as sender:
        bulk = sender.bulk_events.new_instance()
        bulk.append(*[Event(r["distinct_id"], r["event"], r["properties"], idempotency_key=r["idempotency_key"])
                      for r in records])
        response = bulk.trigger()
    assert response.success == len(records), response
    received = {e["properties"]["i"] for e in hub.events()}
    assert received == {r["properties"]["i"] for r in records}
