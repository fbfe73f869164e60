#!/usr/bin/env python3
"""Track events with SuprSend from Python, through libsuprsend.

    SUPRSEND_BASE_URL=http://127.0.0.1:8080/ \
    SUPRSEND_WORKSPACE_KEY=demo_key SUPRSEND_WORKSPACE_SECRET=demo_secret \
    PYTHONPATH=bindings/python/src python3 examples/python/track_events.py

Without SUPRSEND_BASE_URL it talks to https://hub.suprsend.com/. The library is found as
described in bindings/python/README.md (e.g. SUPRSEND_LIBRARY=dist/lib/libsuprsend.so).
"""

import os
import sys
import time

# Code written for the official SDK only changes this import:
#   from suprsend import Suprsend, Event
from suprsend_native import Event, Suprsend


def main() -> int:
    base_url = os.environ.get("SUPRSEND_BASE_URL") or None
    key = os.environ.get("SUPRSEND_WORKSPACE_KEY", "demo_key")
    secret = os.environ.get("SUPRSEND_WORKSPACE_SECRET", "demo_secret")

    with Suprsend(key, secret, base_url=base_url, timeout=10.0) as client:
        # 1. An event with properties (nested values are fine).
        event = Event(
            distinct_id="0fxxx8f74-xxxx-41c5-8752-xxxcb6911fb08",
            event_name="product_purchased",
            properties={
                "first_name": "User",
                "spend_amount": "$10",
                "nested_key_example": {"nested_key1": "some_value_1",
                                       "nested_key2": {"nested_key3": "some_value_3"}},
            },
        )
        result = client.track_event(event)
        print("product_purchased:", result)

        # 2. An event with an idempotency key: sent twice, processed once by SuprSend.
        order_key = f"order-{int(time.time())}"
        for attempt in (1, 2):
            result = client.track_event(Event("user_147", "order_placed", {"order_id": 1234},
                                              idempotency_key=order_key))
            print(f"order_placed (attempt {attempt}):", result)

        # 3. A small bulk: one request for all; an invalid event is reported, not raised.
        bulk = client.bulk_events.new_instance()
        bulk.append(
            Event("user_1", "weekly_digest", {"articles": 3}),
            Event("user_2", "weekly_digest", {"articles": 5}),
            Event("user_3", "weekly_digest", tenant_id="not a tenant id"),  # breaks a rule: a failed record
        )
        response = bulk.trigger()
        print("bulk:", response)
        for record in response.failed_records:
            print("  failed:", record["record"].get("event"), "->", record["error"])

    return 0 if result["success"] and response.success == 2 else 1


if __name__ == "__main__":
    sys.exit(main())
