#!/usr/bin/env python3
"""One Python benchmark scenario in its own process: the suprsend_native binding (libsuprsend
through ctypes) or the official suprsend-py-sdk, which share one API.

    py_client.py --impl native|official --mode single|bulk --n N --base-url URL --key K --secret S
    py_client.py --impl native --mode enqueue --n N ...   background delivery: N client.enqueue(event),
                                                          then client.flush() (see enqueue_run)
        [--outbox PATH [--power-safe]] [--threads T]      through a durable outbox file, from T threads
    py_client.py --impl native --mode async --n N [--concurrency C] ...   asyncio: N await
                                                          client.track_event(event) through
                                                          suprsend_native.asyncio.AsyncSuprsend,
                                                          C at a time (see async_run)

Prints one JSON line. Imports, client creation and the first (untimed) schema/library warm-up
are outside the timed part; events are created inside it, as in c_bench.c. CPU is
resource.getrusage(RUSAGE_SELF) around the timed part (user + sys of this process only).
"""
import argparse
import json
import os
import resource
import sys
import threading
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


def remove_outbox(path):
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            os.unlink(path + suffix)
        except FileNotFoundError:
            pass


def enqueue_run(a):
    """Background delivery through the binding: N events built and client.enqueue()d on this
    thread, then client.flush(). Figures: the enqueuing thread's own CPU around the enqueue
    loop (time.thread_time, CLOCK_THREAD_CPUTIME_ID), the whole process's CPU and the wall time
    from the first enqueue until flush returned, peak RSS. ok = N only when flush returned True
    and stats()["delivered"] == N (and, with --on-delivery, N "delivered" fates were reported)."""
    from suprsend_native import Suprsend, Event
    fates = {}  # status -> count, from on_delivery
    first_fate = []  # the first fate that is not "delivered"

    def on_delivery(d):
        fates[d["status"]] = fates.get(d["status"], 0) + 1
        if d["status"] != "delivered" and not first_fate:
            first_fate.append(f"{d['status']} (HTTP {d['http_status']}, {d['attempts']} attempts): {d['message']}")

    outbox = {}
    if a.outbox:
        remove_outbox(a.outbox)  # a fresh file every run
        outbox = {"outbox": a.outbox, "outbox_power_safe": a.power_safe}
    client = Suprsend(a.key, a.secret, base_url=a.base_url, queue_capacity=max(a.n, 1),
                      on_delivery=on_delivery if a.on_delivery else None, **outbox)
    error = ""
    errors = []
    thread_cpu = []

    def enqueue_range(lo, hi):
        c = time.thread_time()
        try:
            for i in range(lo, hi):
                client.enqueue(Event(distinct_id=f"user_{i}", event_name="product_purchased", properties=props(i)))
        except Exception as e:  # noqa: BLE001 - reported as the run's error
            errors.append(f"enqueue: {type(e).__name__}: {e}")
        thread_cpu.append(time.thread_time() - c)

    threads = [threading.Thread(target=enqueue_range, args=(a.n * k // a.threads, a.n * (k + 1) // a.threads))
               for k in range(a.threads)] if a.threads > 1 else []
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    if threads:
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    else:
        enqueue_range(0, a.n)
    t1 = time.perf_counter()
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    outbox_bytes_enqueued = client.stats()["outbox_bytes"] if a.outbox else None
    flushed = client.flush(timeout=120 if a.outbox else 60)
    t2 = time.perf_counter()
    r2 = resource.getrusage(resource.RUSAGE_SELF)
    peak = peak_rss_kb()
    st = client.stats()
    ok = a.n if (flushed and not errors and st["delivered"] == a.n
                 and (not a.on_delivery or fates.get("delivered") == a.n)) else 0
    if not ok:
        error = ((errors[0] + "; " if errors else "") + f"flush {'ok' if flushed else 'timed out'}, stats {st}, fates {fates}"
                 + (f", first: {first_fate[0]}" if first_fate else ""))[:400]
    # The same events built without being enqueued (apart, after the run): the loop's share
    # outside client.enqueue's call into the library.
    c3 = time.thread_time()
    for i in range(a.n):
        Event(distinct_id=f"user_{i}", event_name="product_purchased", properties=props(i))
    creation = time.thread_time() - c3
    closed = client.close(timeout=2)
    if a.outbox:
        remove_outbox(a.outbox)
    out = {"events": a.n, "ok": ok, "failed": a.n - ok, "threads": a.threads, "wall_s": t2 - t0,
           "cpu_user_s": r2.ru_utime - r0.ru_utime, "cpu_sys_s": r2.ru_stime - r0.ru_stime,
           "maxrss_kb": r2.ru_maxrss, "peak_rss_kb": peak, "mode": "enqueue", "on_delivery": a.on_delivery,
           "flush_status": "ok" if flushed else "timeout", "delivered": st["delivered"], "refused": st["refused"],
           "dropped": st["dropped"], "retries": st["retries"], "fates": fates,
           "enqueue_wall_s": t1 - t0, "enqueue_thread_cpu_s": sum(thread_cpu),
           "enqueue_process_cpu_s": (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime),
           "event_creation_thread_cpu_s": creation, "flush_wall_s": t2 - t1, "close_ok": closed, "error": error}
    if a.outbox:
        out.update({"outbox": True, "power_safe": int(a.power_safe), "outbox_bytes_enqueued": outbox_bytes_enqueued,
                    "outbox_bytes_end": st.get("outbox_bytes")})
    print(json.dumps(out), flush=True)
    return 0 if ok else 1


def async_run(a):
    """asyncio through the binding: N events, each built and sent with ``await
    client.track_event(event)`` on one event loop, C of them in flight at a time (C tasks, each
    sending its share one after another). The library runs the requests side by side on its own
    thread; the loop only builds events and reads results. Timed from the first event to the last
    result; CPU is the whole process (the loop, the library's thread, libcurl)."""
    import asyncio
    from suprsend_native import Event
    from suprsend_native.asyncio import AsyncSuprsend

    counts = {"ok": 0, "failed": 0}
    errors = []

    async def worker(client, lo, hi):
        for i in range(lo, hi):
            r = await client.track_event(Event(distinct_id=f"user_{i}", event_name="product_purchased",
                                               properties=props(i)))
            if r.get("success") is True:
                counts["ok"] += 1
            else:
                counts["failed"] += 1
                if not errors:
                    errors.append(f"{r.get('status_code')}: {r.get('message')}")

    async def main():
        async with AsyncSuprsend(a.key, a.secret, base_url=a.base_url) as client:
            c = max(1, min(a.concurrency, a.n))
            r0 = resource.getrusage(resource.RUSAGE_SELF)
            t0 = time.perf_counter()
            await asyncio.gather(*[worker(client, a.n * k // c, a.n * (k + 1) // c) for k in range(c)])
            t1 = time.perf_counter()
            r1 = resource.getrusage(resource.RUSAGE_SELF)
        return r0, r1, t1 - t0, c

    r0, r1, wall, c = asyncio.run(main())
    out = {"events": a.n, "ok": counts["ok"], "failed": a.n - counts["ok"], "wall_s": wall,
           "cpu_user_s": r1.ru_utime - r0.ru_utime, "cpu_sys_s": r1.ru_stime - r0.ru_stime,
           "maxrss_kb": r1.ru_maxrss, "peak_rss_kb": peak_rss_kb(), "mode": "async", "concurrency": c,
           "error": errors[0] if errors else ""}
    print(json.dumps(out), flush=True)
    return 0 if counts["ok"] == a.n else 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--impl", choices=("native", "official"), required=True)
    ap.add_argument("--mode", choices=("single", "bulk", "enqueue", "async"), required=True)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--on-delivery", action="store_true",
                    help="enqueue: give the client an on_delivery callable (counts the fates)")
    ap.add_argument("--outbox", help="enqueue: a durable outbox file (created fresh, removed at the end)")
    ap.add_argument("--power-safe", action="store_true", help="enqueue with --outbox: outbox_power_safe=True")
    ap.add_argument("--threads", type=int, default=1, help="enqueue: threads enqueuing (the events split evenly)")
    ap.add_argument("--concurrency", type=int, default=100, help="async: calls in flight at a time")
    a = ap.parse_args()
    if a.mode == "async":
        if a.impl != "native":
            ap.error("--mode async: the official SDK has no asyncio client")
        return async_run(a)
    if a.mode == "enqueue":
        if a.impl != "native":
            ap.error("--mode enqueue: the official SDK has no background delivery")
        return enqueue_run(a)

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
