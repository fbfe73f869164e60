"""Fault injection for the event API (POST /_hub/faults).

A configuration replaces the previous one entirely:

    {"script": [outcome, ...]}                  applied to the next event API requests, one each, in order
    {"rate": {"status_503": 0.1, ...}, "seed": 7, "delay_ms": 1000, "retry_after": 1}
                                                seeded random faults once the script is used up

Script outcomes (keys may be combined; {} means "no fault" for that request):
    {"status": 503}                   answer this status with the error shape, don't process
    {"status": 429, "retry_after": 1} ... plus a Retry-After header (seconds or an HTTP date)
    {"delay_ms": 1500}                sleep, then go on (process normally unless combined)
    {"drop": "before_processing"}     close the connection without processing or answering
    {"drop": "after_processing"}      process and record, then close without answering
    {"refuse_records": [0, 3]}        answer normally, but refuse these records of a bulk (an error
                                      record with status_code 400, nothing recorded for them); for a
                                      single event, [0] refuses the request with 400

Rate keys: status_<NNN> (e.g. status_503, status_500, status_429), drop_before_processing,
drop_after_processing, delay. Rates are probabilities (sum <= 1), drawn once per request.

Injected delays can be cut short (POST /_hub/release): Stalls keeps the requests sleeping in one,
and counts the event API requests being handled (GET /_hub/inflight).
"""

import random
import re
import threading
from dataclasses import dataclass

DROPS = ("before_processing", "after_processing")
_RATE_KEY = re.compile(r"status_([1-5]\d\d)|drop_before_processing|drop_after_processing|delay")


@dataclass
class Fault:
    status: int | None = None
    retry_after: int | float | str | None = None
    delay_ms: float = 0
    drop: str | None = None
    refuse_records: frozenset = frozenset()

    @property
    def label(self) -> str | None:
        """Name recorded in requests.fault and counted in stats.faults_injected."""
        if self.drop:
            return "drop_" + self.drop
        if self.status is not None:
            return f"status_{self.status}"
        if self.refuse_records:
            return "refuse_records"
        if self.delay_ms:
            return "delay"
        return None


def _parse_outcome(item, i) -> Fault:
    if not isinstance(item, dict):
        raise ValueError(f"script[{i}]: must be an object")
    unknown = set(item) - {"status", "retry_after", "delay_ms", "drop", "refuse_records"}
    if unknown:
        raise ValueError(f"script[{i}]: unknown keys {sorted(unknown)}")
    f = Fault()
    if "status" in item:
        s = item["status"]
        if not isinstance(s, int) or isinstance(s, bool) or not 200 <= s <= 599:
            raise ValueError(f"script[{i}].status: must be an HTTP status 200..599")
        f.status = s
    if "retry_after" in item:
        f.retry_after = _retry_after(item["retry_after"], f"script[{i}].retry_after")
    if "delay_ms" in item:
        f.delay_ms = _delay(item["delay_ms"], f"script[{i}].delay_ms")
    if "drop" in item:
        if item["drop"] not in DROPS:
            raise ValueError(f"script[{i}].drop: must be one of {list(DROPS)}")
        if f.status is not None:
            raise ValueError(f"script[{i}]: 'drop' and 'status' exclude each other")
        f.drop = item["drop"]
    if "refuse_records" in item:
        r = item["refuse_records"]
        if (not isinstance(r, list) or not r
                or any(isinstance(x, bool) or not isinstance(x, int) or x < 0 for x in r)):
            raise ValueError(f"script[{i}].refuse_records: must be a non-empty array of record indexes >= 0")
        if f.status is not None or f.drop == "before_processing":
            raise ValueError(f"script[{i}]: 'refuse_records' needs the request processed "
                             f"(no 'status', no 'drop': 'before_processing')")
        f.refuse_records = frozenset(r)
    return f


def _retry_after(v, where):
    if isinstance(v, bool) or not isinstance(v, (int, float, str)) or (not isinstance(v, str) and v < 0):
        raise ValueError(f"{where}: must be seconds (number >= 0) or an HTTP date string")
    return v


def _delay(v, where):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 600_000:
        raise ValueError(f"{where}: must be a number of milliseconds 0..600000")
    return v


class FaultPlan:
    def __init__(self):
        self._lock = threading.Lock()
        self.clear()

    def clear(self):
        self.script: list[Fault] = []
        self.rates: list[tuple[str, float]] = []
        self.rng = random.Random(0)
        self.rate_delay_ms = 1000
        self.rate_retry_after = None
        self.config = {"script": []}

    def configure(self, spec) -> None:
        """Validate and install a configuration (raises ValueError, leaving the old one)."""
        if not isinstance(spec, dict):
            raise ValueError("body must be a JSON object")
        unknown = set(spec) - {"script", "rate", "seed", "delay_ms", "retry_after"}
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)}")
        script = spec.get("script", [])
        if not isinstance(script, list):
            raise ValueError("script: must be an array")
        faults = [_parse_outcome(item, i) for i, item in enumerate(script)]
        rates = []
        rate = spec.get("rate")
        if rate is not None:
            if not isinstance(rate, dict):
                raise ValueError("rate: must be an object")
            for k in sorted(rate):
                v = rate[k]
                if not _RATE_KEY.fullmatch(k):
                    raise ValueError(f"rate.{k}: unknown fault kind (status_NNN, drop_before_processing, "
                                     f"drop_after_processing, delay)")
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
                    raise ValueError(f"rate.{k}: must be a probability 0..1")
                rates.append((k, float(v)))
            if sum(v for _, v in rates) > 1.0 + 1e-9:
                raise ValueError("rate: probabilities must sum to at most 1")
        seed = spec.get("seed", 0)
        delay_ms = _delay(spec.get("delay_ms", 1000), "delay_ms")
        retry_after = spec.get("retry_after")
        if retry_after is not None:
            retry_after = _retry_after(retry_after, "retry_after")
        with self._lock:
            self.clear()
            self.script = faults
            self.rates = rates
            self.rng = random.Random(seed)
            self.rate_delay_ms = delay_ms
            self.rate_retry_after = retry_after
            self.config = spec

    def next(self) -> Fault | None:
        """The fault for the next event API request, or None."""
        with self._lock:
            if self.script:
                f = self.script.pop(0)
                return f if f.label else None
            if not self.rates:
                return None
            r = self.rng.random()
            acc = 0.0
            for kind, p in self.rates:
                acc += p
                if r < acc:
                    return self._rate_fault(kind)
            return None

    def _rate_fault(self, kind) -> Fault:
        if kind == "delay":
            return Fault(delay_ms=self.rate_delay_ms)
        if kind.startswith("drop_"):
            return Fault(drop=kind[len("drop_"):])
        status = int(kind[len("status_"):])
        return Fault(status=status, retry_after=self.rate_retry_after if status == 429 else None)

    def describe(self) -> dict:
        with self._lock:
            return {"config": self.config, "script_remaining": len(self.script)}


class Stalls:
    """The event API requests in progress, and those sleeping in an injected delay.

    A delay sleeps on an Event, so that release() can end it early: the request then goes on as
    if the delay had ended ("continue") or closes its connection without processing ("drop")."""

    def __init__(self):
        self._lock = threading.Lock()
        self._sleeping: dict[int, list] = {}     # id -> [threading.Event, drop?]
        self._next_id = 0
        self.active = 0

    def enter(self):
        with self._lock:
            self.active += 1

    def leave(self):
        with self._lock:
            self.active -= 1

    def sleep(self, seconds: float) -> bool:
        """Sleeps up to seconds; True when a release asked for the request to be dropped."""
        cell = [threading.Event(), False]
        with self._lock:
            self._next_id += 1
            sid = self._next_id
            self._sleeping[sid] = cell
        try:
            cell[0].wait(seconds)
        finally:
            with self._lock:
                self._sleeping.pop(sid, None)
        return cell[1]

    def release(self, drop: bool = False) -> int:
        """Ends every delay in progress now; returns how many."""
        with self._lock:
            cells = list(self._sleeping.values())
            self._sleeping.clear()
        for cell in cells:
            cell[1] = drop
            cell[0].set()
        return len(cells)

    def describe(self) -> dict:
        with self._lock:
            return {"active": self.active, "delayed": len(self._sleeping)}
