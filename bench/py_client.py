#!/usr/bin/env python3
"""One Python benchmark scenario in its own process: the suprsend_native binding (libsuprsend
through ctypes) or the official suprsend-py-sdk, which share one API.

    py_client.py --impl native|official --mode single|bulk --n N --base-url URL --key K --secret S

Prints one JSON line. Imports, client creation and the first (untimed) schema/library warm-up
are outside the timed part; events are created inside it, as in c_bench.c. CPU is
resource.getrusage(RUSAGE_SELF) around the timed part (user + sys of this process only).
"""
import argparse
import json
import resource
import sys
import time


def peak_rss_kb():
    """VmHWM of this process image (ru_maxrss would include the parent's high-water mark,
    which Linux carries across fork+exec)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def props(i):
    # The same properties as floor.c and c_bench.c.
    return {"first_name": "User", "order_id": f"ord_{i}", "amount": 1299.5, "currency": "INR",
            "items": [{"sku": "sku_1", "qty": 2}, {"sku": "sku_2", "qty": 1}], "is_first_order": False}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--impl", choices=("native", "official"), required=True)
    ap.add_argument("--mode", choices=("single", "bulk"), required=True)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--secret", required=True)
    a = ap.parse_args()

    if a.impl == "native":
        from suprsend_native import Suprsend, Event
    else:
        from suprsend import Suprsend, Event
    client = Suprsend(a.key, a.secret, base_url=a.base_url)

    ok = failed = 0
    first_error = ""
    extra = {}
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    if a.mode == "single":
        for i in range(a.n):
            ev = Event(distinct_id=f"user_{i}", event_name="product_purchased", properties=props(i))
            r = client.track_event(ev)
            if r.get("success") is True:
                ok += 1
            else:
                failed += 1
                if not first_error:
                    first_error = f"{r.get('status_code')}: {r.get('message')}"
    else:
        b = client.bulk_events.new_instance()
        for i in range(a.n):
            b.append(Event(distinct_id=f"user_{i}", event_name="product_purchased", properties=props(i)))
        r = b.trigger()
        ok, failed = r.success, r.failure
        extra = {"bulk_status": r.status, "bulk_total": r.total}
        if failed and r.failed_records:
            first_error = str(r.failed_records[0].get("error"))[:300]
    t1 = time.perf_counter()
    r1 = resource.getrusage(resource.RUSAGE_SELF)

    out = {"events": a.n, "ok": ok, "failed": failed, "wall_s": t1 - t0,
           "cpu_user_s": r1.ru_utime - r0.ru_utime, "cpu_sys_s": r1.ru_stime - r0.ru_stime,
           "maxrss_kb": r1.ru_maxrss, "peak_rss_kb": peak_rss_kb(), "error": first_error}
    out.update(extra)
    print(json.dumps(out), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
