"""The C accelerator (suprsend_native._speedups) must be invisible: for every input, the same
JSON text handed to the library, the same result dicts, the same exceptions with the same
messages as the pure-Python path (SUPRSEND_NATIVE_PURE=1), which it falls back to for anything
it does not handle itself.

`make test-python` runs the whole suite twice: with the accelerator (and
SUPRSEND_NATIVE_EXPECT_SPEEDUPS=1, so that a build that silently fails to load is an error) and
with SUPRSEND_NATIVE_PURE=1.
"""

from __future__ import annotations

import enum
import json
import math
import os
import random
import struct
import sys
import threading
from collections import OrderedDict
from typing import Any, Callable, Dict, List, Tuple

import pytest

import suprsend_native.client as client_module
import suprsend_native.event as event_module
from suprsend_native import Event, SuprsendClosedError, Suprsend, _clib

from conftest import KEY, SECRET

speedups = client_module._speedups


def test_loaded_as_asked():
    pure = os.environ.get("SUPRSEND_NATIVE_PURE", "") not in ("", "0")
    if pure:
        assert speedups is None and event_module._speedups is None
    elif os.environ.get("SUPRSEND_NATIVE_EXPECT_SPEEDUPS") == "1":
        assert speedups is not None, "the accelerator was built but did not load (see build-ext.sh)"
        assert event_module._speedups is speedups


def test_pure_mode_in_a_fresh_process_does_not_import_it():
    import subprocess

    code = ("import sys, suprsend_native.client as c; "
            "print(c._speedups is None, 'suprsend_native._speedups' in sys.modules)")
    env = dict(os.environ, SUPRSEND_NATIVE_PURE="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"], out.stderr


needs_speedups = pytest.mark.skipif(speedups is None or not _clib.HAS_EVENT_JSON,
                                    reason="the C accelerator is not loaded")


class _Pure:
    """Within the block, the binding runs its pure-Python path."""

    def __enter__(self) -> None:
        self.saved = client_module._speedups
        client_module._use_speedups(None)

    def __exit__(self, *exc: Any) -> None:
        client_module._use_speedups(self.saved)


def pure_json(ev: Event) -> Any:
    with _Pure():
        return ev._json_bytes()


def fast_json(ev: Event) -> Any:
    data = speedups.event_json(ev)
    return None if data is NotImplemented else data


def outcome(fn: Callable[[], Any]) -> Tuple[str, Any]:
    try:
        return "ok", fn()
    except Exception as e:  # noqa: BLE001 - what is raised is what is compared
        return type(e).__name__, (str(e), getattr(e, "status", None), type(e).__mro__)


# --- random inputs ------------------------------------------------------------------------------
def random_string(rng: random.Random) -> str:
    alphabet = ["a", "Z", "0", " ", "\"", "\\", "/", "\n", "\t", "\r", "\b", "\f", "\x01", "\x1f", "\x7f",
                "\u00e9", "\u2603", "\U0001F600", "\u0000", "<", "'", "\u2028"]
    if rng.random() < 0.02:
        alphabet.append("\ud800")  # a lone surrogate: not valid Unicode text
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))


def random_float(rng: random.Random) -> float:
    kind = rng.randint(0, 7)
    if kind == 0:
        return rng.uniform(-1e6, 1e6)
    if kind == 1:
        return round(rng.uniform(-1e5, 1e5), rng.randint(0, 6))
    if kind == 2:
        return struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]  # any bits (NaN, inf too)
    if kind == 3:
        return rng.choice([0.0, -0.0, 0.1, 0.2, 0.3, 1e-4, 9.999e-5, 1e15, 999999999999999.9, 1e16, 1e22,
                           123456789012345.6, 0.1 + 0.2, 5e-324, 1.7976931348623157e308, 2.0 ** 53, -1.5])
    if kind == 4:
        return rng.randint(-10 ** 15, 10 ** 15) / 10 ** rng.randint(0, 8)
    if kind == 5:
        return float(rng.randint(-2 ** 60, 2 ** 60))
    if kind == 6:
        return rng.random() * 10 ** rng.randint(-8, 20)
    return rng.choice([math.nan, math.inf, -math.inf, 1299.5, 12.5])


class Color(enum.IntEnum):
    RED = 1


class Text(str):
    pass


def random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randint(0, 15 if depth < 4 else 9)
    if kind == 0:
        return random_string(rng)
    if kind == 1:
        return rng.choice([0, 1, -1, 2 ** 31, 2 ** 63 - 1, -2 ** 63, 2 ** 63, -2 ** 63 - 1, 10 ** 30,
                           rng.randint(-10 ** 12, 10 ** 12)])
    if kind == 2:
        return random_float(rng)
    if kind == 3:
        return rng.choice([True, False, None])
    if kind in (4, 5, 6, 7, 8, 9):
        return rng.choice(["plain", 7, 3.25, "caf\u00e9", None, True])
    if kind == 10:
        return {random_string(rng) if rng.random() < 0.9 else rng.choice([1, 2.5, None, True, Text("k")]):
                random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    if kind == 11:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if kind == 12:
        return tuple(random_value(rng, depth + 1) for _ in range(rng.randint(0, 3)))
    if kind == 13:
        return rng.choice([Color.RED, Text("sub"), OrderedDict(a=1), object(), b"bytes", {1, 2}])
    if kind == 14:
        return {"deep": random_value(rng, depth + 1)}
    return [[random_value(rng, depth + 1)]]


def random_event(rng: random.Random) -> Event:
    ev = Event("user", "product_purchased")
    ev.distinct_id = rng.choice(["user_1", random_string(rng), Text("sub"), 5])
    ev.event_name = rng.choice(["product_purchased", random_string(rng), None])
    ev.properties = rng.choice([{}, {"k": random_value(rng)},
                                {random_string(rng): random_value(rng) for _ in range(rng.randint(1, 6))},
                                ["not", "a", "dict"]])
    ev.idempotency_key = rng.choice([None, "", "key-1", random_string(rng), 3])
    ev.tenant_id = rng.choice([None, "", "tenant_a", random_string(rng)])
    ev.brand_id = rng.choice([None, "", "brand_a", random_string(rng), b"b"])
    return ev


# --- the JSON text --------------------------------------------------------------------------------
@needs_speedups
def test_event_json_is_the_pure_text_for_random_events():
    rng = random.Random(20261127)
    handled = 0
    for i in range(20000):
        ev = random_event(rng)
        fast = fast_json(ev)
        assert fast is None or fast == pure_json(ev), (i, ev)
        handled += fast is not None
    # Most of these events are plain enough for C (the test must exercise it, not the fallback).
    assert handled > 1000


@needs_speedups
def test_floats_are_written_as_repr_writes_them():
    rng = random.Random(7)
    values = [random_float(rng) for _ in range(50000)]
    values += [k / 10 ** d for k in range(-2000, 2000, 7) for d in range(0, 8)]
    values += [float(f"{m}e{e}") for m in (1, 12, 999999999999999, 123456789012345) for e in range(-20, 20)]
    for x in values:
        ev = Event("u", "e", {"x": x, "l": [x, -x]})
        fast = fast_json(ev)
        if math.isfinite(x):
            assert fast is not None, x
            assert fast == pure_json(ev), (x, repr(x))
        else:
            assert fast is None and pure_json(ev) is None, x


@needs_speedups
def test_what_c_leaves_to_python():
    circular: Dict[str, Any] = {}
    circular["me"] = circular
    deep: Any = 1
    for _ in range(150):
        deep = [deep]
    plain = {"distinct_id": "u", "event_name": "e", "properties": {"a": 1}}
    leaves = [
        {"distinct_id": "u\x00"}, {"event_name": "e\x00"}, {"idempotency_key": "k\x00"}, {"tenant_id": "t\x00"},
        {"brand_id": "b\x00"}, {"distinct_id": "\ud800"}, {"properties": {"s": "\udfff"}},
        {"properties": {"\ud800": 1}}, {"properties": {1: "int key"}}, {"properties": {None: 1}},
        {"properties": {"n": math.nan}}, {"properties": {"i": -math.inf}}, {"properties": {"big": 2 ** 64}},
        {"properties": {"e": Color.RED}}, {"properties": {"s": Text("x")}}, {"properties": OrderedDict(a=1)},
        {"properties": {"o": OrderedDict(a=1)}}, {"properties": {"o": object()}}, {"properties": circular},
        {"properties": {"d": deep}}, {"distinct_id": Text("u")}, {"properties": ["a"]}, {"tenant_id": 5},
        {"brand_id": b"b"}, {"properties": None},
    ]
    for changes in leaves:
        ev = Event("u", "e", {"a": 1})
        for k, v in changes.items():
            setattr(ev, k, v)
        assert speedups.event_json(ev) is NotImplemented, changes
    with_attachment = Event(**plain)
    with_attachment._attachments.append(object())
    assert speedups.event_json(with_attachment) is NotImplemented
    missing = Event(**plain)
    del missing.tenant_id
    assert speedups.event_json(missing) is NotImplemented
    assert speedups.event_json("not an event") is NotImplemented
    # The NUL inside a property is the pure path's \u0000, not a fallback.
    ev = Event("u", "e", {"s": "a\x00b"})
    assert fast_json(ev) == pure_json(ev) == b'{"distinct_id":"u","event":"e","properties":{"s":"a\\u0000b"}}'


@needs_speedups
def test_event_json_from_several_threads_at_once():
    rng = random.Random(3)
    events = [random_event(rng) for _ in range(300)]
    expected = [pure_json(ev) for ev in events]
    failures: List[Any] = []

    def work() -> None:
        for _ in range(20):
            for ev, want in zip(events, expected):
                got = fast_json(ev)
                if got is not None and got != want:
                    failures.append((ev, got, want))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures


# --- response bodies ---------------------------------------------------------------------------
@needs_speedups
def test_response_bodies_read_as_json_loads_reads_them():
    bodies = [
        '{"status":"success","message_id":"bench"}', '{}', '{"a":1,"b":-20,"c":true,"d":false,"e":null}',
        '{"status":"success","message_id":"caf\u00e9 \u2603"}', '{"a":"x","a":"y"}', '{"n":0,"m":-0}',
        '{"n":123456789012345678}', '{"n":1234567890123456789}', '{"n":1.5}', '{"n":1e3}', '{"n":01}',
        '{"s":"a\\"b"}', '{"s":"\\u00e9"}', '{"o":{}}', '{"l":[]}', '{ "a":1}', '{"a":1} ', '{"a":1,}',
        '{"a":tru}', '{"a":nulls}', '{"a"', '{', '', 'not json', '[1]', '{"a":-}', '{"a":"\x01"}',
        '{"status":"success","message_id":"1f4e","status_code":202}',
    ]
    rng = random.Random(11)
    for _ in range(3000):
        body = "{" + ",".join(f'"{random_string(rng)}":{rng.choice(["1", "-7", "true", "null", chr(34) * 2, "[1]", "1.0"])}'
                              for _ in range(rng.randint(0, 3))) + "}"
        bodies.append(body)
    for body in bodies:
        try:
            raw = body.encode("utf-8")
        except UnicodeEncodeError:
            continue
        if b"\x00" in raw:
            continue
        got = speedups.parse_flat_body(raw)
        if got is NotImplemented:
            continue
        again = speedups.parse_flat_body(raw)  # the remembered body: an equal, separate dict
        assert again == got and again is not got, body
        again["changed by the caller"] = 1
        assert speedups.parse_flat_body(raw) == got, body
        want = client_module._parse_body(raw.decode("utf-8", "replace"))
        assert got == want and type(got) is type(want), body
        assert list(got) == list(want), body  # the same key order
        assert [type(v) for v in got.values()] == [type(v) for v in want.values()], body


@needs_speedups
def test_strings_written_again_and_escapes_at_every_offset():
    # Escapes before, inside and after the 8-byte words the writer copies, and the same str
    # objects written again (the writer remembers short ones by identity).
    specials = ['"', "\\", "\n", "\x01", "\x1f", "\x7f", "\u00e9", "\u2603", "\U0001f600"]
    texts = [""] + ["abcdefghijklmnopq"[:n] for n in range(1, 18)]
    for n in range(0, 18):
        for ch in specials:
            texts += ["x" * n + ch, ch + "y" * n, "a" * n + ch + "b" * (17 - n)]
    props = {t: t for t in texts}
    for _ in range(3):
        for i, chunk in enumerate(range(0, len(texts), 40)):
            ev = Event(f"user_{i}", "strings", {k: [props[k], {k: props[k]}] for k in texts[chunk:chunk + 40]})
            fast = fast_json(ev)
            assert fast is not None and fast == pure_json(ev)
            assert json.loads(fast)["properties"] == ev.properties


# --- through the library, against the local hub ---------------------------------------------------
def both(fn: Callable[[], Any]) -> Tuple[Any, Any]:
    fast = outcome(fn)
    with _Pure():
        slow = outcome(fn)
    return fast, slow


def hub_events(hub: Any) -> List[Dict[str, Any]]:
    out = []
    for event in hub.events():
        event = event.get("event", event) if isinstance(event.get("event"), dict) else event
        out.append({k: v for k, v in event.items() if k not in ("$insert_id", "$time", "_hub")})
    return out


def sample_events() -> List[Event]:
    rng = random.Random(5)
    events = [Event(f"user_{i}", "product_purchased",
                    {"first_name": "User", "order_id": f"ord_{i}", "amount": 1299.5, "currency": "INR",
                     "items": [{"sku": "sku_1", "qty": 2}, {"sku": "sku_2", "qty": 1}], "is_first_order": False},
                    idempotency_key=f"key-{i}") for i in range(3)]
    for i in range(40):
        ev = Event(f"user_r{i}", "random_event", idempotency_key=f"rkey-{i}")
        ev.properties = {random_string(rng).replace("$", "") or "k": random_value(rng) for _ in range(3)}
        ev.tenant_id = rng.choice([None, "", "tenant_a"])
        ev.brand_id = rng.choice([None, "", "brand_a"])
        events.append(ev)
    return events


@needs_speedups
def test_track_event_same_results_and_same_events_at_the_hub(client, hub):
    for i, ev in enumerate(sample_events()):
        hub.reset()
        fast = outcome(lambda: client.track_event(ev))
        fast_sent = hub_events(hub)
        hub.reset()
        with _Pure():
            slow = outcome(lambda: client.track_event(ev))
        slow_sent = hub_events(hub)
        if fast[0] == "ok":
            # The message_id differs per request: the rest must not.
            for r in (fast[1], slow[1]):
                if isinstance(r.get("raw_response"), dict) and "message_id" in r["raw_response"]:
                    assert r["message"] == r["raw_response"]["message_id"]
                    r["raw_response"]["message_id"] = r["message"] = "<id>"
        assert fast == slow, (i, ev)
        assert fast_sent == slow_sent, (i, ev)


@needs_speedups
def test_result_dicts_of_refusals_and_failures_are_the_same(hub, unused_port):
    with Suprsend(KEY, SECRET, base_url=hub.base_url, max_retries=0, timeout=5) as c:
        for fault in ({"status": 503}, {"status": 400}, {"status": 429}, {"refuse_records": [0]},
                      {"status": 500}):
            results = []
            for pure in (False, True):
                hub.faults([fault])
                if pure:
                    with _Pure():
                        results.append(outcome(lambda: c.track_event(Event("user_1", "order_placed", {"a": 1}))))
                else:
                    results.append(outcome(lambda: c.track_event(Event("user_1", "order_placed", {"a": 1}))))
            assert results[0] == results[1], fault
            assert results[0][0] == "ok" and results[0][1]["success"] is False, results[0]
    with Suprsend(KEY, SECRET, base_url=f"http://127.0.0.1:{unused_port}/", max_retries=0, timeout=2) as c:
        fast, slow = both(lambda: c.track_event(Event("user_1", "order_placed")))
        assert fast == slow
        assert fast[1]["status_code"] == 500 and fast[1]["raw_response"] is None


def _nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


BAD = [
    {"distinct_id": "us\x00er"}, {"distinct_id": "u\ud800"}, {"properties": {"n": math.nan}},
    {"properties": {"o": object()}}, {"properties": {(1, 2): 1}}, {"properties": {1: "int", "1": "str"}},
    {"properties": {"big": 10 ** 40, "e": Color.RED, "s": Text("t")}}, {"distinct_id": 42},
    {"properties": ["a"]}, {"tenant_id": 7}, {"event_name": "$reserved"}, {"distinct_id": "  "},
    {"properties": {"$own": 1}}, {"tenant_id": "no spaces allowed"}, {"brand_id": "brand/1"},
    {"properties": {"blob": "x" * 200_000}}, {"idempotency_key": "k" * 300}, {"event_name": ""},
    {"properties": {"d": _nested(70)}},
]


@needs_speedups
@pytest.mark.parametrize("changes", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_events_raise_the_same_in_track_event_and_bulk(client, hub, changes):
    def make() -> Event:
        return Event(**{"distinct_id": "user_1", "event_name": "order_placed", "properties": {"a": 1}, **changes})

    fast, slow = both(lambda: client.track_event(make()))
    if fast[0] == "ok":
        for r in (fast[1], slow[1]):
            r["message"] = (r.get("raw_response") or {}).get("message_id", r["message"]) and "<id>"
            if isinstance(r.get("raw_response"), dict):
                r["raw_response"].pop("message_id", None)
    assert fast == slow, changes

    def bulk() -> Any:
        b = client.bulk_events.new_instance()
        raised = outcome(lambda: b.append(Event("first", "e"), make(), Event("last", "e")))
        b.append(Event("after", "e"))
        r = b.trigger()
        return raised[0], raised[1] if raised[0] != "ok" else None, r.total, r.success, r.failure, [
            (f.get("error"), (f.get("record") or {}).get("distinct_id")) for f in r.failed_records]

    fast, slow = both(bulk)
    assert fast == slow, changes


@needs_speedups
def test_bulk_of_random_events_same_response_and_same_events_at_the_hub(client, hub):
    rng = random.Random(9)
    events = []
    for i in range(250):
        ev = random_event(rng)
        if rng.random() < 0.5:  # about half of them valid for the library too
            ev.distinct_id, ev.event_name, ev.idempotency_key = f"user_{i}", "bulk_event", f"bkey-{i}"
            ev.tenant_id = ev.brand_id = None
            if not isinstance(ev.properties, dict):
                ev.properties = {}
            ev.properties = {k.replace("$", "") or "k": v for k, v in ev.properties.items() if isinstance(k, str)}
        events.append(ev)

    def run() -> Any:
        hub.reset()
        b = client.bulk_events.new_instance()
        raised = []
        for i in range(0, len(events), 3):
            r = outcome(lambda: b.append(*events[i:i + 3]))
            raised.append(r if r[0] != "ok" else ("ok", None))
        response = b.trigger()
        sent = hub_events(hub)
        for e in sent:  # an automatic key is new each time
            if not str(e.get("$idempotency_key", "")).startswith("bkey-"):
                e.pop("$idempotency_key", None)
        sent = sorted(json.dumps(e, sort_keys=True) for e in sent)
        records = [(f.get("error"), (f.get("record") or {}).get("distinct_id")) for f in response.failed_records]
        return raised, response.total, response.success, response.failure, records, sent

    fast, slow = both(run)
    for part, (f, s) in enumerate(zip(fast[1], slow[1])):
        if isinstance(f, list):
            for j, (a, b) in enumerate(zip(f, s)):
                assert a == b, (part, j, a, b)
        assert f == s, part
    assert fast[1][2] > 50  # events were delivered, not only refused


@needs_speedups
def test_closed_client_and_triggered_bulk_raise_the_same(hub):
    c = Suprsend(KEY, SECRET, base_url=hub.base_url, max_retries=0)
    b = c.bulk_events.new_instance()
    c.close()
    assert both(lambda: c.track_event(Event("user_1", "order_placed"))) == both(lambda: c.track_event(Event("u", "e")))
    fast, slow = both(lambda: c.track_event(Event("user_1", "order_placed")))
    assert fast == slow and fast[0] == "SuprsendClosedError"
    fast, slow = both(lambda: b.append(Event("u", "e")))
    assert fast == slow and fast[0] == "SuprsendClosedError"
    with Suprsend(KEY, SECRET, base_url=hub.base_url, max_retries=0) as c2:
        b2 = c2.bulk_events.new_instance()
        b2.append(Event("u", "e"))
        b2.trigger()
        fast, slow = both(lambda: b2.append(Event("u", "e")))
        assert fast == slow and fast[0] == "SuprsendArgumentError"
        fast, slow = both(lambda: b2.append(Event("u", "e"), "not an event"))
        assert fast == slow and fast[0] == "SuprsendTypeError"


@needs_speedups
def test_close_waits_for_calls_in_flight_through_c(hub):
    # A delayed answer keeps a C track_event in flight; close() on another thread must wait for it.
    c = Suprsend(KEY, SECRET, base_url=hub.base_url, max_retries=0, timeout=10)
    hub.faults([{"delay_ms": 700}])
    results: List[Any] = []
    t = threading.Thread(target=lambda: results.append(c.track_event(Event("u", "slow"))))
    t.start()
    import time

    deadline = time.time() + 5
    while c._inflight == 0 and time.time() < deadline:
        time.sleep(0.01)
    assert c._inflight == 1
    assert c.close(timeout=5) is True
    t.join(10)
    assert results and results[0]["success"] is True
    assert c._inflight == 0
    with pytest.raises(SuprsendClosedError):
        c.track_event(Event("user_1", "order_placed"))


@needs_speedups
def test_setup_refuses_what_it_cannot_use():
    with pytest.raises(KeyError):
        speedups.setup({}, Event, lambda *a: None, lambda *a: None, lambda *a: None)
    with pytest.raises(TypeError):
        speedups.setup({}, Event, None, None, None)
    with pytest.raises(TypeError):
        speedups.setup("not a dict", Event, len, len, len)


# --- Event() and the track_event call itself ------------------------------------------------------
def _construct(args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
    def make() -> Any:
        ev = Event(*args, **kwargs)
        return {k: (v if k != "_attachments" else list(v)) for k, v in vars(ev).items()}
    return outcome(make)


NAMES = ["product_purchased", "", " ", "  x", "x", "ab", "$identify", "$x", "$", "ss_", "SS_x", "sS_y", "s_s", "ss",
         "\u017fs_x", "\u1e9es_", "ss\u00e9", "\u00e9vent", "\u3000name", "name\u3000", "\t$identify ", "\x1cname",
         "\x00", "e\x00", " ss_x", "Ss_"]


@needs_speedups
def test_event_constructor_is_the_python_one():
    cases: List[Tuple[Tuple[Any, ...], Dict[str, Any]]] = []
    for name in NAMES:
        for did in ("user_1", "", " ", "\u2003u", "\u00fcser", "\x1f"):
            cases.append(((did, name), {}))
    props = {"a": 1}
    # Calls that do not bind: the Python method's TypeError, from both.
    unbound: List[Tuple[Tuple[Any, ...], Dict[str, Any]]] = [
        (("u1",), {}), ((), {}), (("u1", "ev1", None, None, None, None, "extra"), {}),
        (("u1", "ev1"), {"unknown": 1}), (("u1", "ev1"), {"distinct_id": "twice"})]
    cases += unbound
    cases += [
        (("u1", "ev1"), {"properties": props, "idempotency_key": "k", "tenant_id": "t", "brand_id": "b"}),
        (("u1", "ev1", props, "k", "t", "b"), {}), ((), {"distinct_id": "u1", "event_name": "ev1"}),
        ((1, "ev1"), {}), (("u1", 2), {}), ((None, "ev1"), {}), (("u1", "ev1", []), {}),
        (("u1", "ev1", OrderedDict()), {}), (("u1", "ev1", None, 5), {}), (("u1", "ev1", None, None, b"t"), {}),
        (("u1", "ev1"), {"brand_id": 1.5}), ((Text("u1"), "ev1"), {}), (("u1", Text("ev1")), {}),
        (("u1", "ev1"), {"properties": None}), (("u1", "ev1", {"x": object()}), {}),
    ]
    for args, kwargs in cases:
        fast = _construct(args, kwargs)
        with _Pure():
            slow = _construct(args, kwargs)
        assert fast == slow, (args, kwargs)
        # Nothing refused when made (empty, reserved or blank names, wrong types): as given.
        assert (fast[0] == "TypeError") == ((args, kwargs) in unbound), (args, kwargs, fast)
    ev = Event(None, "$x", ["not", "a", "dict"], 1, 2.5, b"b")  # type: ignore[arg-type]
    assert (ev.distinct_id, ev.event_name, ev.properties, ev.idempotency_key, ev.tenant_id, ev.brand_id) == \
        (None, "$x", ["not", "a", "dict"], 1, 2.5, b"b")


@needs_speedups
def test_event_subclass_and_super_init():
    class MyEvent(Event):
        def __init__(self, who: str) -> None:
            super().__init__(who, "my_event", {"k": 1})
            self.extra = True

    ev = MyEvent("user_9")
    assert (ev.distinct_id, ev.event_name, ev.properties, ev.extra) == ("user_9", "my_event", {"k": 1}, True)
    assert fast_json(ev) == pure_json(ev)
    with pytest.raises(TypeError):
        Event.__init__(object(), "u", "e")  # the C method checks its self as Python would not; still a TypeError


@needs_speedups
def test_track_event_call_forms_are_the_python_ones(client, hub):
    ev = Event("user_1", "order_placed")
    for call in (lambda: client.track_event(event=ev)["success"], lambda: client.track_event(),
                 lambda: client.track_event(ev, ev), lambda: client.track_event("not an event"),
                 lambda: client.track_event(event="x"), lambda: client.track_event(ev, nope=1),
                 lambda: Suprsend.track_event(client, ev)["success"]):
        fast, slow = both(call)
        assert fast == slow


@needs_speedups
def test_signatures_and_docs_are_kept():
    import inspect

    with _Pure():
        pure_init = inspect.signature(Event)
        pure_track = inspect.signature(Suprsend.track_event)
        doc = Suprsend.track_event.__doc__
    assert [p.name for p in inspect.signature(Event).parameters.values()] == list(pure_init.parameters)
    assert [p.name for p in inspect.signature(Suprsend.track_event).parameters.values()] == list(pure_track.parameters)
    assert doc and doc in Suprsend.track_event.__doc__
