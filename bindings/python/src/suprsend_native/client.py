"""Suprsend: the client, and the bulk of events it makes."""

from __future__ import annotations

import atexit
import copy
import ctypes
import functools
import json
import json.decoder
import json.scanner
import logging
import math
import os
import secrets
import threading
import warnings
import weakref
from ctypes import byref, c_longlong, c_void_p
from types import TracebackType
from typing import Any, Callable, Dict, List, Optional, Type, Union

from . import _clib
from ._clib import lib
from .bulk_response import BulkResponse
from .errors import (
    InputValueError,
    SuprsendArgumentError,
    SuprsendClosedError,
    SuprsendConfigError,
    SuprsendError,
    SuprsendTypeError,
    check,
    error_for,
)
from . import event as _event_module
from .event import Event, _utf8

__all__ = ["Suprsend", "BulkEventsFactory", "BulkEvents"]

logger = logging.getLogger("suprsend_native")

# Codes that mean "the event (or an argument) is wrong; nothing was sent": raised.
_RAISED = (_clib.E_ARGUMENT, _clib.E_VALIDATION, _clib.E_TOO_LARGE, _clib.E_ATTACHMENT)
# Codes that mean "the hub refused it / could not be reached": reported in the result.
_REPORTED = (_clib.E_HTTP, _clib.E_NETWORK)
# suprsend_bulk_append's codes for an event kept in the bulk (an invalid one as a failed record).
_APPENDED = (_clib.OK, _clib.E_VALIDATION, _clib.E_TOO_LARGE)

# The event name of the stand-in a bulk holds for an event that cannot be given to the library
# at all (a wrong type, NaN, a value JSON cannot hold): reserved ("$"), with an empty distinct_id,
# so that the library always keeps it as a failed record, counted and ordered as any other;
# trigger() puts the event's own record and message in its place. The nonce of this process
# keeps any event of the user's from being taken for a stand-in.
_STAND_IN_NAME = "$suprsend_native_refused_" + secrets.token_hex(8) + "_"

# The "code" of a failed record for an event refused before sending (as the library's, and the
# official SDK's).
REFUSED_RECORD_CODE = 500

# Status code reported when no HTTP answer came (as the official SDK does for transport errors).
NO_ANSWER_STATUS_CODE = 500

# Live clients, so that a forked child gets fresh locks (see _after_fork_in_child) and the
# atexit hook can close them (see _close_clients_at_exit).
_clients: "weakref.WeakSet[Suprsend]" = weakref.WeakSet()

# What suprsend_client_free waits for queued events when no shutdown_timeout is given (suprsend.h).
DEFAULT_SHUTDOWN_TIMEOUT_MS = 2000

# The words of the "status" key of a delivery dict, by the C status of the event's fate.
DELIVERY_STATUS = {
    _clib.OK: "delivered",        # the hub accepted it (or dropped it as a repeat of one it had)
    _clib.E_HTTP: "refused",      # the hub refused it: never retried
    _clib.E_TIMEOUT: "expired",   # not delivered max_event_age after it was enqueued
    _clib.E_CLOSED: "closed",     # still queued when the client was closed
    _clib.E_NETWORK: "unsent",    # no idempotency key, and the hub may have processed it: not sent again
}

# Set by the atexit hook once every client is closed: from then on the delivery trampoline
# returns at once, without running any Python code of the user's.
_shutting_down = False

# Per thread: the token of the client whose on_delivery call is running on it (None when none).
_callback_state = threading.local()


def _log_line(level: int, message: Optional[bytes], user_data: Optional[int]) -> None:
    # Called by the library on the thread that made the request (ctypes takes the GIL).
    # Must never raise into C.
    try:
        logger.log(level, "%s", message.decode("utf-8", "replace") if message else "")
    except Exception:  # pragma: no cover
        pass


# One C callback for every client, alive as long as the module (never collected).
_LOG_CALLBACK = _clib.LOG_FN(_log_line)


def _delivery_info(delivery: int) -> Dict[str, Any]:
    """The dict passed to on_delivery, read from a suprsend_delivery (valid only during the call)."""
    code = int(lib.suprsend_delivery_status(delivery))
    return {
        "status": DELIVERY_STATUS.get(code, "unknown"),
        "code": code,
        "status_name": _clib.status_name(code),
        "http_status": int(lib.suprsend_delivery_http_status(delivery)),
        "message": _clib.text(lib.suprsend_delivery_message(delivery)),
        "insert_id": _clib.text(lib.suprsend_delivery_insert_id(delivery)),
        "idempotency_key": _clib.text(lib.suprsend_delivery_idempotency_key(delivery)),
        "event_name": _clib.text(lib.suprsend_delivery_event_name(delivery)),
        "distinct_id": _clib.text(lib.suprsend_delivery_distinct_id(delivery)),
        "attempts": int(lib.suprsend_delivery_attempts(delivery)),
    }


def _delivery_trampoline(fn: Callable[[Dict[str, Any]], Any], token: object) -> Any:
    """The C delivery callback for one client: calls ``fn`` with a dict, never raises into C.

    It references the user's callable and a token, never the client itself, so that it does
    not keep the client alive. The client keeps it alive as long as the C client exists.
    """

    def trampoline(delivery: Optional[int], user_data: Optional[int]) -> None:
        # Runs on the client's worker thread (ctypes has taken the GIL), or on the thread that
        # closes the client for events dropped at close.
        if _shutting_down or not delivery:
            return
        previous = getattr(_callback_state, "token", None)
        _callback_state.token = token
        try:
            fn(_delivery_info(delivery))
        except BaseException:  # noqa: B902 - nothing may propagate into C
            try:
                logger.exception("suprsend_native: the on_delivery callback %r raised; the exception is ignored", fn)
            except BaseException:  # pragma: no cover - logging itself failed
                pass
        finally:
            _callback_state.token = previous

    return _clib.DELIVERY_FN(trampoline)


def _in_delivery_callback(token: Optional[object] = None) -> bool:
    """True when this thread is inside an on_delivery call (of the client with ``token``, if given)."""
    current = getattr(_callback_state, "token", None)
    return current is not None and (token is None or current is token)


def _require_background(what: str) -> None:
    if not _clib.HAS_BACKGROUND:
        raise NotImplementedError(
            f"{what}: needs background delivery, which {_clib.library_path} does not have (it lacks "
            f"{', '.join(_clib.missing_background[:3])}...); rebuild libsuprsend")


def _deadline_ms(timeout: Any, field: str) -> int:
    """A flush/close deadline in seconds as the C timeout_ms: None or math.inf -> -1 (no deadline)."""
    if timeout is None:
        return -1
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"{field} must be a number of seconds or None, not {type(timeout).__name__}")
    if timeout == math.inf:
        return -1
    if math.isnan(timeout) or timeout < 0:
        raise error_for(_clib.E_ARGUMENT, f"{field}: must be a number of seconds >= 0 or None, not {timeout!r}")
    return _milliseconds(timeout, field)


def _whole_seconds(seconds: Any, field: str) -> int:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{field} must be a number of seconds, not {type(seconds).__name__}")
    if not math.isfinite(seconds):
        raise error_for(_clib.E_ARGUMENT, f"{field}: must be a finite number of seconds, not {seconds!r}")
    whole = int(round(seconds))
    if seconds > 0 and whole == 0:
        whole = 1
    return max(min(whole, 2**31 - 1), -1)


def _milliseconds(seconds: Any, field: str) -> int:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{field} must be a number of seconds, not {type(seconds).__name__}")
    if not math.isfinite(seconds):
        raise error_for(_clib.E_ARGUMENT, f"{field}: must be a finite number of seconds, not {seconds!r}")
    ms = int(round(seconds * 1000))
    if seconds > 0 and ms == 0:
        ms = 1
    return max(min(ms, 2**31 - 1), -1)


def _config_errors(init: Callable[..., None]) -> Callable[..., None]:
    """Suprsend(): a refused key, secret, URL or option raises SuprsendConfigError (the
    official SDK's class for it; also a SuprsendArgumentError, as before)."""

    @functools.wraps(init)
    def wrapper(self: "Suprsend", *args: Any, **kwargs: Any) -> None:
        try:
            init(self, *args, **kwargs)
        except SuprsendArgumentError as e:
            if isinstance(e, (SuprsendConfigError, TypeError)):
                raise
            raise SuprsendConfigError(e.message, e.status) from None

    return wrapper


def _hub_message(raw: Any) -> Optional[str]:
    """The hub's own message in an error body ``{"error": {"message": ...}}``, exactly as sent."""
    if isinstance(raw, dict):
        error = raw.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str) and error["message"]:
            return error["message"]
    return None


def _result(rc: int, response: Optional[int], message: str) -> Dict[str, Any]:
    """The official SDK's result dict, from a suprsend_response (or from the error message)."""
    if not response:
        return {"success": False, "status": "fail", "status_code": NO_ANSWER_STATUS_CODE,
                "message": message or _clib.status_name(rc), "raw_response": None}
    # suprsend_track_event returns SUPRSEND_OK exactly when the hub accepted the event
    # (suprsend_response_success), so that call is saved.
    success = rc == _clib.OK
    status_code = lib.suprsend_response_status_code(response)
    text = (lib.suprsend_response_message(response) or b"").decode("utf-8", "replace")
    body = (lib.suprsend_response_body(response) or b"").decode("utf-8", "replace")
    raw: Any
    if status_code == 0 and not body:
        raw = None
        status_code = NO_ANSWER_STATUS_CODE
    else:
        raw = _parse_body(body)
    if not success:
        # The hub's words as it gave them (as the official SDK); its "type" stays in raw_response.
        text = _hub_message(raw) or text
    return {"success": success, "status": "success" if success else "fail", "status_code": status_code,
            "message": text, "raw_response": raw}


def _json_scanner() -> Callable[[str], Any]:
    """``json.loads`` for a response body: the parsed value, or the text itself when it is not
    JSON. An object body goes straight to the C scanner that ``json.loads`` ends in, saving
    its Python layers; anything else, or a scanner missing, takes ``json.loads``."""
    def loads(body: str) -> Any:
        try:
            return json.loads(body)
        except ValueError:
            return body

    make = getattr(json.scanner, "c_make_scanner", None)
    if make is None:
        return loads
    scan = make(json.decoder.JSONDecoder())
    stop = StopIteration

    def parse(body: str) -> Any:
        # The body as nginx or the hub sends it: one object, no surrounding whitespace.
        if body[:1] == "{" and body[-1:] == "}":
            try:
                value, end = scan(body, 0)
            except (ValueError, stop):
                return body
            if end == len(body):
                return value
        return loads(body)

    return parse


_parse_body = _json_scanner()


class Suprsend:
    """A client for one SuprSend workspace, backed by libsuprsend.

    A drop-in for the event API of the official SDK's ``suprsend.Suprsend``::

        from suprsend_native import Suprsend, Event

        with Suprsend("WORKSPACE_KEY", "WORKSPACE_SECRET") as client:
            result = client.track_event(Event("user_1", "product_purchased", {"spend": 10}))

    The client may be shared by many threads; each call releases the GIL while it waits on
    the network. Free it with :meth:`close` or a ``with`` block (it is also freed when it is
    garbage-collected, and closed by an ``atexit`` hook when the interpreter exits).

    Background delivery: :meth:`enqueue` checks an event and queues it without waiting on the
    network; a worker thread of the library sends queued events in bulk requests, retries what
    may pass later, and reports each event's fate once to ``on_delivery``. :meth:`flush` waits
    for what was queued, :meth:`close` delivers what it can before a deadline.

    Args:
        workspace_key, workspace_secret: the workspace's credentials.
        base_url: the hub's URL; default ``https://hub.suprsend.com/``.
        debug: when true, every request and response line is logged at DEBUG level to the
            ``logging`` logger ``"suprsend_native"`` (Authorization redacted); the logger is set
            to DEBUG and, if no handler would show its records, given one writing to stderr.
            Warnings (retries, skipped attachments) are always logged there.
        timeout: seconds allowed for one whole HTTP attempt (default 30).
        proxy: a proxy URL as libcurl understands it (``"http://proxy:3128"``).
        max_retries: retries after a failure that may pass (default 3; 0 = none; at most 20).
        connect_timeout: seconds allowed to connect (default 10).
        call_timeout: seconds allowed for one whole track or bulk trigger, retries and waits
            included (default 120).
        max_connections: the most connections to the hub that the asynchronous calls
            (:mod:`suprsend_native.asyncio`) and background delivery open at once (default 32,
            1..1000); more calls wait for one to free up.
        ca_file: a PEM file of CA certificates to trust instead of the system's.
        max_event_bytes: the largest serialized event accepted (default 102400, at most 819200).
        auto_idempotency: give events without an idempotency key a random one, so that a retry
            is never processed twice (default True).
        app_info: accepted for compatibility with the official SDK, and ignored.
        on_delivery: a callable receiving one dict per event given to :meth:`enqueue`, once,
            when its fate is final: ``status`` (``"delivered"``, ``"refused"``, ``"expired"``,
            ``"closed"``, or ``"unsent"`` for an event without an idempotency key that a failed
            request may have delivered), ``code`` (the C status: 0, 6, 7, 10, 5), ``status_name``,
            ``http_status`` (0 when none), ``message`` (the message_id, or why not),
            ``insert_id``, ``idempotency_key``, ``event_name``, ``distinct_id``, ``attempts``.
            It runs on the library's worker thread (or, for events dropped at close, on the
            thread that closes); it should return quickly, may call :meth:`enqueue`, and must
            not call :meth:`flush` or :meth:`close` (they raise ``RuntimeError`` there).
            Exceptions it raises are logged to the ``"suprsend_native"`` logger and ignored.
        outbox: a SQLite file holding the queue, so that enqueued events survive a crash and
            a restart (default: a memory queue).
        queue_capacity: the most events the memory queue holds, waiting or in flight
            (default 100000).
        outbox_max_bytes: the most bytes the outbox file may grow to (default 1 GiB).
        outbox_power_safe: when true, every commit to the outbox is synced to disk (SQLite's
            synchronous=FULL), so that a power loss loses nothing either; slower. The default
            survives a crash or kill -9 of the process.
        flush_interval: seconds an event waits for its batch to fill before it is sent anyway
            (default 1; 0 sends at once).
        max_event_age: seconds after which an undelivered event is given up ("expired";
            default 82800, 23 hours, at most that).
        shutdown_timeout: seconds :meth:`close` (without a timeout), the ``with`` block, garbage
            collection and the exit hook wait for queued events to be delivered (default 2).

    Raises:
        TypeError: an argument of the wrong type.
        SuprsendArgumentError: an empty key or secret, a bad URL, an option out of range.
    """

    @_config_errors
    def __init__(self, workspace_key: str, workspace_secret: str, base_url: Optional[str] = None,
                 debug: bool = False, *, timeout: Optional[float] = None, proxy: Optional[str] = None,
                 max_retries: Optional[int] = None, connect_timeout: Optional[float] = None,
                 ca_file: Optional[str] = None, max_event_bytes: Optional[int] = None,
                 auto_idempotency: Optional[bool] = None, app_info: Optional[Dict[str, Any]] = None,
                 on_delivery: Optional[Callable[[Dict[str, Any]], Any]] = None,
                 outbox: Union[str, "os.PathLike[str]", None] = None, queue_capacity: Optional[int] = None,
                 outbox_max_bytes: Optional[int] = None, outbox_power_safe: Optional[bool] = None,
                 flush_interval: Optional[float] = None,
                 max_event_age: Optional[float] = None, shutdown_timeout: Optional[float] = None,
                 call_timeout: Optional[float] = None, max_connections: Optional[int] = None) -> None:
        self._handle: Optional[int] = None
        self._delivery_callback: Any = None
        self._token = object()
        # _lock guards _handle and _inflight; _cond (on the same lock) wakes a close() waiting
        # for calls in progress. _closing: a close() waits, so the last call must notify.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._inflight = 0
        self._closing = 0
        self._bulks: "weakref.WeakSet[BulkEvents]" = weakref.WeakSet()
        self.debug = bool(debug)
        self.workspace_key = workspace_key
        # As the official SDK: a missing key or secret is a configuration error.
        for field, value in (("workspace_key", workspace_key), ("workspace_secret", workspace_secret)):
            if value is None or (isinstance(value, str) and not value.strip()):
                raise SuprsendConfigError(f"Missing {field}")
        key = _utf8(workspace_key, "workspace_key")
        secret = _utf8(workspace_secret, "workspace_secret")
        url = _utf8(base_url, "base_url", optional=True)
        proxy_b = _utf8(proxy, "proxy", optional=True)
        ca = _utf8(ca_file, "ca_file", optional=True)
        for name, value in (("max_retries", max_retries), ("max_event_bytes", max_event_bytes),
                            ("max_connections", max_connections),
                            ("queue_capacity", queue_capacity), ("outbox_max_bytes", outbox_max_bytes)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise TypeError(f"{name} must be an int, not {type(value).__name__}")
        timeout_ms = None if timeout is None else _milliseconds(timeout, "timeout")
        connect_ms = None if connect_timeout is None else _milliseconds(connect_timeout, "connect_timeout")
        call_ms = None if call_timeout is None else _milliseconds(call_timeout, "call_timeout")
        if on_delivery is not None and not callable(on_delivery):
            raise TypeError(f"on_delivery must be a callable or None, not {type(on_delivery).__name__}")
        outbox_b = None if outbox is None else _utf8(os.fspath(outbox) if isinstance(outbox, os.PathLike)
                                                     else outbox, "outbox")
        # Background options: name -> (C setter, value converted, as given); None = not set.
        background = {
            "outbox": ("suprsend_options_set_outbox_path", outbox_b, outbox),
            "queue_capacity": ("suprsend_options_set_queue_capacity",
                               None if queue_capacity is None else max(min(queue_capacity, 2**62), -1),
                               queue_capacity),
            "outbox_power_safe": ("suprsend_options_set_outbox_power_safe",
                                  None if outbox_power_safe is None else (1 if outbox_power_safe else 0),
                                  outbox_power_safe),
            "outbox_max_bytes": ("suprsend_options_set_outbox_max_bytes",
                                 None if outbox_max_bytes is None else max(min(outbox_max_bytes, 2**62), -1),
                                 outbox_max_bytes),
            "flush_interval": ("suprsend_options_set_flush_interval_ms",
                               None if flush_interval is None else _milliseconds(flush_interval, "flush_interval"),
                               flush_interval),
            "max_event_age": ("suprsend_options_set_max_event_age_s",
                              None if max_event_age is None else _whole_seconds(max_event_age, "max_event_age"),
                              max_event_age),
            "shutdown_timeout": ("suprsend_options_set_shutdown_timeout_ms",
                                 None if shutdown_timeout is None
                                 else _milliseconds(shutdown_timeout, "shutdown_timeout"),
                                 shutdown_timeout),
        }
        wanted = [name for name, (_, value, _) in background.items() if value is not None]
        if on_delivery is not None:
            wanted.append("on_delivery")
        if wanted:
            _require_background(", ".join(wanted))
        delivery_callback = None if on_delivery is None else _delivery_trampoline(on_delivery, self._token)
        shutdown_ms = background["shutdown_timeout"][1]

        opts = lib.suprsend_options_new(key, secret)
        if not opts:
            raise error_for(_clib.E_ARGUMENT)
        try:
            if url is not None:
                check(lib.suprsend_options_set_base_url(opts, url))
            if timeout_ms is not None:
                rc = lib.suprsend_options_set_timeout_ms(opts, timeout_ms)
                if rc != _clib.OK:
                    raise error_for(rc, f"timeout={timeout!r} seconds: {_clib.last_error()}")
            if connect_ms is not None:
                rc = lib.suprsend_options_set_connect_timeout_ms(opts, connect_ms)
                if rc != _clib.OK:
                    raise error_for(rc, f"connect_timeout={connect_timeout!r} seconds: {_clib.last_error()}")
            if call_ms is not None:
                rc = lib.suprsend_options_set_call_timeout_ms(opts, call_ms)
                if rc != _clib.OK:
                    raise error_for(rc, f"call_timeout={call_timeout!r} seconds: {_clib.last_error()}")
            if proxy_b is not None:
                check(lib.suprsend_options_set_proxy(opts, proxy_b))
            if ca is not None:
                check(lib.suprsend_options_set_ca_file(opts, ca))
            if max_retries is not None:
                check(lib.suprsend_options_set_max_retries(opts, max(min(max_retries, 2**31 - 1), -2**31)))
            if max_event_bytes is not None:
                check(lib.suprsend_options_set_max_event_bytes(opts, max(min(max_event_bytes, 2**62), -1)))
            if auto_idempotency is not None:
                check(lib.suprsend_options_set_auto_idempotency(opts, 1 if auto_idempotency else 0))
            if max_connections is not None:
                if not _clib.HAS_ASYNC:
                    raise NotImplementedError(f"max_connections: {_clib.library_path} does not have "
                                              f"suprsend_options_set_max_connections; rebuild libsuprsend")
                rc = lib.suprsend_options_set_max_connections(opts, max(min(max_connections, 2**31 - 1), -1))
                if rc != _clib.OK:
                    raise error_for(rc, f"max_connections={max_connections!r}: {_clib.last_error()}")
            for name, (setter, value, given) in background.items():
                if value is not None:
                    rc = getattr(lib, setter)(opts, value)
                    if rc != _clib.OK:
                        raise error_for(rc, f"{name}={given!r}: {_clib.last_error()}")
            if delivery_callback is not None:
                check(lib.suprsend_options_set_delivery_callback(opts, delivery_callback, None))
            level = _clib.LOG_DEBUG if self.debug else _clib.LOG_WARNING
            check(lib.suprsend_options_set_log(opts, level, _LOG_CALLBACK, None))
            out = c_void_p()
            rc = lib.suprsend_client_new(opts, byref(out))
            if rc != _clib.OK:
                raise error_for(rc)
            if not out.value:
                raise error_for(_clib.E_INTERNAL, "suprsend_client_new returned OK without a client")
        finally:
            lib.suprsend_options_free(opts)
        # The C callbacks stay referenced as long as this object, hence as long as the C client.
        self._log_callback = _LOG_CALLBACK
        self._delivery_callback = delivery_callback
        self._shutdown_ms = DEFAULT_SHUTDOWN_TIMEOUT_MS if shutdown_ms is None else shutdown_ms
        self._handle = out.value
        if self.debug:
            _enable_debug_logging()
        self._bulk_events = BulkEventsFactory(self)
        _clients.add(self)

    # --- lifetime --------------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._handle is None

    def close(self, timeout: Optional[float] = None) -> bool:
        """Delivers what is queued, within ``timeout`` seconds, then frees the client.

        Stops accepting events, waits for calls in progress on other threads to finish (a
        :meth:`flush` in progress too), sends the events still queued until the deadline
        (``timeout`` seconds; None: the client's ``shutdown_timeout``, default 2; ``math.inf``:
        no deadline), then frees the client and any bulk made from it that was not triggered.
        Events of a memory queue still undelivered at the deadline are reported to
        ``on_delivery`` as ``"closed"``; an outbox keeps them for the next client.

        Returns True when nothing was left undelivered, False when the deadline passed.
        Idempotent: closing a closed client returns True. Using the client afterwards raises
        :class:`SuprsendClosedError`.

        Raises:
            RuntimeError: called from this client's ``on_delivery`` callback.
            SuprsendStorageError: the outbox is damaged or failing (events may be stuck in it);
                the client is closed and freed all the same.
        """
        ms = self._shutdown_ms if timeout is None else _deadline_ms(timeout, "timeout")
        if _in_delivery_callback(self._token):
            raise RuntimeError("Suprsend.close() must not be called from the client's on_delivery callback")
        return self._close(ms)

    def _close(self, ms: int, calls_deadline: Optional[float] = None) -> bool:
        """close() with the C timeout; ``calls_deadline``: the most seconds to wait for calls in
        progress (None: no limit), after which the client is left open and False returned."""
        with self._cond:
            if self._handle is None:
                return True
            handle = self._handle
            self._closing += 1
            try:
                if calls_deadline is None:
                    self._handle = None
                    while self._inflight:
                        self._cond.wait()
                else:
                    if not self._cond.wait_for(lambda: not self._inflight, calls_deadline):
                        return False
                    self._handle = None
            finally:
                self._closing -= 1
        for bulk in list(self._bulks):
            bulk._free()
        if not _clib.HAS_BACKGROUND:
            lib.suprsend_client_free(handle)
            return True
        # suprsend_client_close leaves the C handle valid (later calls would return
        # SUPRSEND_E_CLOSED); this client never uses it again (_handle is None, so _enter
        # raises SuprsendClosedError and __del__ has nothing to free): free it now, once.
        try:
            rc = lib.suprsend_client_close(handle, ms)
            message = _clib.last_error() if rc not in (_clib.OK, _clib.E_TIMEOUT) else ""
        finally:
            lib.suprsend_client_free(handle)
        if rc == _clib.OK:
            return True
        if rc == _clib.E_TIMEOUT:
            return False
        raise error_for(rc, message or _clib.status_name(rc))  # the client is freed all the same

    def __enter__(self) -> "Suprsend":
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.close()

    def __del__(self) -> None:
        # No other reference exists, so nothing is in flight (a call holds `self`).
        # suprsend_client_free waits up to shutdown_timeout for queued events (GIL released).
        try:
            handle, self._handle = self._handle, None
            if handle is None:
                return
            if _in_delivery_callback():
                # Collected on a worker thread, inside an on_delivery call: freeing a client
                # there could wait for that very worker. Free it from another thread, keeping
                # its callback alive until then.
                threading.Thread(target=_free_client, args=(handle, self._delivery_callback),
                                 name="suprsend-close", daemon=True).start()
            else:
                lib.suprsend_client_free(handle)
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<suprsend_native.Suprsend workspace_key={self.workspace_key!r} {state}>"

    # The plain lock, not the Condition's Python-level __enter__, and a notify only when a
    # close() waits: these run twice per event.
    def _enter(self) -> int:
        with self._lock:
            if self._handle is None:
                raise SuprsendClosedError("the client is closed", _clib.E_CLOSED)
            self._inflight += 1
            return self._handle

    def _leave(self) -> None:
        with self._lock:
            self._inflight -= 1
            if self._closing and not self._inflight:
                self._cond.notify_all()

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._inflight = 0
        self._closing = 0

    # --- background delivery ---------------------------------------------------------------------
    def enqueue(self, event: Event) -> None:
        """Checks the event and queues it for background delivery; returns without waiting on
        the network.

        The event is serialized now (later changes to it do not matter) with its own
        ``$insert_id``; its fate goes to ``on_delivery``, once. Events still queued when the
        process exits are sent by the exit hook (within ``shutdown_timeout``); a forked
        child that leaves with ``os._exit`` (multiprocessing does) must :meth:`flush` first.

        Raises:
            TypeError, SuprsendValidationError, EventTooLargeError, SuprsendArgumentError,
            SuprsendAttachmentError: as :meth:`track_event`; nothing is queued.
            SuprsendQueueFullError: the queue holds ``queue_capacity`` events; nothing is queued.
            SuprsendStorageError: the outbox could not be written; nothing is queued.
            SuprsendClosedError: the client is closed or closing.
        """
        if not isinstance(event, Event):
            raise SuprsendTypeError(f"enqueue() takes a suprsend_native.Event, not {type(event).__name__}")
        _require_background("enqueue()")
        ev = event._build()
        try:
            client = self._enter()
            try:
                rc = lib.suprsend_enqueue(client, ev)
                message = _clib.last_error() if rc != _clib.OK else ""
            finally:
                self._leave()
        finally:
            lib.suprsend_event_free(ev)
        if rc != _clib.OK:
            raise error_for(rc, message or _clib.status_name(rc))

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Sends what is queued now and waits until every event enqueued before the call has
        its fate (reported to ``on_delivery`` before this returns), or ``timeout`` seconds pass.

        ``timeout`` None (or ``math.inf``) waits without a deadline. The GIL is released while
        waiting. Returns True when every such event has its fate, False when the deadline
        passed (the events go on being delivered).

        Raises:
            SuprsendClosedError: the client is closed.
            RuntimeError: called from this client's ``on_delivery`` callback.
        """
        ms = _deadline_ms(timeout, "timeout")
        _require_background("flush()")
        if _in_delivery_callback(self._token):
            raise RuntimeError("Suprsend.flush() must not be called from the client's on_delivery callback")
        client = self._enter()
        try:
            rc = lib.suprsend_flush(client, ms)
            message = _clib.last_error() if rc not in (_clib.OK, _clib.E_TIMEOUT) else ""
        finally:
            self._leave()
        if rc == _clib.OK:
            return True
        if rc == _clib.E_TIMEOUT:
            return False
        raise error_for(rc, message or _clib.status_name(rc))

    def stats(self) -> Dict[str, int]:
        """Counters of background delivery: ``queued`` (waiting, or waiting for a retry),
        ``in_flight``, ``delivered``, ``refused``, ``dropped`` (expired, or left at close),
        ``retries`` (requests sent again) and ``outbox_bytes`` (0 for a memory queue).

        Raises:
            SuprsendClosedError: the client is closed.
        """
        _require_background("stats()")
        client = self._enter()
        try:
            # One snapshot: counters read one call each could count a batch twice.
            values = (c_longlong * len(_clib.STATS))()
            rc = lib.suprsend_client_stats(client, values, len(_clib.STATS))
            if rc != _clib.OK:
                raise error_for(rc)
            return {name: int(value) for name, value in zip(_clib.STATS, values)}
        finally:
            self._leave()

    # --- events ----------------------------------------------------------------------------------
    def track_event(self, event: Event) -> Dict[str, Any]:
        """Validates the event and sends it; blocks until the hub answered (after retries).

        Returns the official SDK's dict::

            {"success": True, "status": "success", "status_code": 202,
             "message": "<message_id>", "raw_response": {...}}

        A hub refusal or a network failure is returned, not raised: ``success`` is False,
        ``status_code`` the HTTP status (500 when no answer came, as the official SDK),
        ``message`` the error and ``raw_response`` the parsed body (its text if it is not
        JSON; None when no answer came).

        Raises:
            TypeError: ``event`` is not an :class:`Event`, or one of its fields has a wrong type
                (or a property is not JSON-serializable; the message names it).
            SuprsendValidationError: the event breaks a rule (empty or reserved name, ...).
            EventTooLargeError: the serialized event is over the size limit.
            SuprsendArgumentError: a value that can never be sent (invalid Unicode text, NaN).
            SuprsendAttachmentError: an attachment file can no longer be read.
            SuprsendClosedError: the client was closed.
        """
        if not isinstance(event, Event):
            raise SuprsendTypeError(f"track_event() takes a suprsend_native.Event, not {type(event).__name__}")
        if _speedups is not None and _clib.HAS_EVENT_JSON:
            # The whole call in C for the usual event; NotImplemented (nothing sent) for the rest.
            result = _speedups.track_event(self, event)
            if result is not NotImplemented:
                return result
        ev = event._build()
        try:
            client = self._enter()
            try:
                out = c_void_p()
                rc = lib.suprsend_track_event(client, ev, byref(out))
                message = _clib.last_error() if rc != _clib.OK else ""
            finally:
                self._leave()
        finally:
            lib.suprsend_event_free(ev)
        try:
            if rc in _RAISED or (rc not in _REPORTED and rc != _clib.OK):
                raise error_for(rc, message or _clib.status_name(rc))
            return _result(rc, out.value, message)
        finally:
            lib.suprsend_response_free(out.value)

    def track(self, distinct_id: str, event_name: str, properties: Optional[Dict[str, Any]] = None,
              idempotency_key: Optional[str] = None, tenant_id: Optional[str] = None,
              brand_id: Optional[str] = None) -> Dict[str, Any]:
        """``track_event(Event(...))`` in one call, as the official SDK's ``track`` (deprecated there too)."""
        warnings.warn('This method is deprecated. Use "track_event(Event)" instead', DeprecationWarning, stacklevel=2)
        return self.track_event(Event(distinct_id, event_name, properties, idempotency_key=idempotency_key,
                                      tenant_id=tenant_id, brand_id=brand_id))

    @property
    def bulk_events(self) -> "BulkEventsFactory":
        """``client.bulk_events.new_instance()`` makes a :class:`BulkEvents`."""
        return self._bulk_events


class BulkEventsFactory:
    """Makes bulks of events for a client (``client.bulk_events``)."""

    def __init__(self, client: Suprsend) -> None:
        self._client = weakref.ref(client)

    def new_instance(self) -> "BulkEvents":
        """A new, empty :class:`BulkEvents`."""
        client = self._client()
        if client is None:  # pragma: no cover
            raise SuprsendClosedError("the client is gone", _clib.E_CLOSED)
        return BulkEvents(client)


class BulkEvents:
    """A bulk of events, sent together with :meth:`trigger` (100 events per request at most).

    ``append`` copies each event now (later changes to the Event do not affect the bulk) and
    checks it: an invalid event (a wrong type, an empty or reserved name, properties that are
    not a dict or that JSON cannot hold, over the size limit, ...) does not raise, as with the
    official SDK: it is kept as a failed record of the response (code 500, the message that
    ``track_event`` would raise), in the order appended, and never sent. ``append`` raises only
    for what is not an :class:`Event`, and for a bulk that was triggered or whose client was
    closed. A bulk is triggered once. It may be used as a context manager, which frees it on
    exit.
    """

    def __init__(self, client: Suprsend) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._handle: Optional[int] = None
        self._response: Optional[BulkResponse] = None
        # The failed records of the events held as stand-ins (see _STAND_IN_NAME), by number,
        # and by the stand-in's position in the library's bulk (suprsend_bulk_response_failed_index).
        self._refused: List[Dict[str, Any]] = []
        self._refused_at: Dict[int, Dict[str, Any]] = {}
        # Set once the bulk was handed to an asynchronous trigger (suprsend_native.asyncio), and
        # the number of its events then.
        self._triggered = False
        self._count = 0
        handle = client._enter()
        try:
            bulk = lib.suprsend_bulk_new(handle)
        finally:
            client._leave()
        if not bulk:
            raise error_for(_clib.E_INTERNAL)
        self._handle = bulk
        client._bulks.add(self)

    def append(self, *events: Event) -> None:
        """Adds events to the bulk (copied; checked; invalid ones become failed records).

        Raises:
            SuprsendTypeError: an argument is not an :class:`Event` (nothing is appended).
            SuprsendArgumentError: the bulk was already triggered.
            SuprsendClosedError: the bulk's client was closed.
        """
        if _speedups is not None and _clib.HAS_EVENT_JSON:
            # C appends the usual events, from the first; the rest (if any) take the path below.
            done = _speedups.bulk_append(self, events)
            if done == len(events):
                return
            events = events[done:]
        for i, ev in enumerate(events):
            if not isinstance(ev, Event):
                raise SuprsendTypeError(f"append() takes suprsend_native.Event objects; argument {i} is "
                                f"{type(ev).__name__}")
        for ev in events:
            data = ev._json_bytes() if _clib.HAS_EVENT_JSON else None
            if data is not None:
                # The whole event in one call, without a C event to make and free.
                with self._lock:
                    rc = lib.suprsend_bulk_append_json(self._live(), data)
                    if rc in _APPENDED:
                        continue
                    if rc != _clib.E_ARGUMENT or self._handle is None:
                        raise error_for(rc)
                # Refused as an argument (nothing kept): the field-by-field path below
                # reports it with the message it always had.
            try:
                handle = ev._build()
            except InputValueError as e:
                # What the library cannot even be given: a failed record all the same.
                self._append_refused(ev, e)
                continue
            try:
                with self._lock:
                    bulk = self._live()
                    rc = lib.suprsend_bulk_append(bulk, handle)
                    if rc not in _APPENDED:
                        raise error_for(rc)
            finally:
                lib.suprsend_event_free(handle)

    def _append_refused(self, event: Event, error: InputValueError) -> None:
        """Keeps ``event``, which ``error`` refused before the library saw it, as a failed record:
        a stand-in the library refuses takes its place in the bulk, and trigger() replaces the
        stand-in's record by this one."""
        try:
            record: Any = copy.deepcopy(event.as_json())
        except Exception:  # an attribute that cannot be copied (or tested, for as_json): as it is
            record = {"event": event.event_name, "distinct_id": event.distinct_id, "properties": event.properties}
        failed = {"record": record, "error": error.message, "code": REFUSED_RECORD_CODE}
        with self._lock:
            bulk = self._live()
            position = int(lib.suprsend_bulk_count(bulk))
            name = f"{_STAND_IN_NAME}{len(self._refused)}".encode("ascii")
            if _clib.HAS_EVENT_JSON:
                rc = lib.suprsend_bulk_append_json(bulk, b'{"distinct_id":"","event":"' + name + b'"}')
            else:
                stand_in = lib.suprsend_event_new(b"", name)
                if not stand_in:
                    raise error_for(_clib.E_INTERNAL)
                try:
                    rc = lib.suprsend_bulk_append(bulk, stand_in)
                finally:
                    lib.suprsend_event_free(stand_in)
            if rc == _clib.OK:  # never: it breaks two rules; but it must never be sent
                self._handle = None
                lib.suprsend_bulk_free(bulk)
                raise error_for(_clib.E_INTERNAL, "suprsend_native: the library accepted a bulk's stand-in "
                                                  "for a refused event; the bulk was freed")
            if rc not in _APPENDED:
                raise error_for(rc)
            self._refused.append(failed)
            self._refused_at[position] = failed

    def _own_record(self, failed: Any) -> Any:
        """A failed record of the library's response, or the record of the refused event whose
        stand-in it is."""
        record = failed.get("record") if isinstance(failed, dict) else None
        name = record.get("event") if isinstance(record, dict) else None
        if isinstance(name, str) and name.startswith(_STAND_IN_NAME):
            number = name[len(_STAND_IN_NAME):]
            if number.isdigit() and int(number) < len(self._refused):
                return self._refused[int(number)]
        return failed

    def __len__(self) -> int:
        with self._lock:
            if self._handle is None:
                return self._response.total if self._response else self._count
            return int(lib.suprsend_bulk_count(self._handle))

    def trigger(self) -> BulkResponse:
        """Sends the valid events and returns the merged :class:`BulkResponse`.

        Hub refusals and network failures are reported in the response (failed records),
        not raised. A second call raises :class:`SuprsendArgumentError`.
        """
        with self._lock:
            bulk = self._live()
            self._client._enter()
            try:
                out = c_void_p()
                rc = lib.suprsend_bulk_trigger(bulk, byref(out))
                message = _clib.last_error() if rc != _clib.OK else ""
            finally:
                self._client._leave()
            try:
                if not out.value:
                    raise error_for(rc if rc != _clib.OK else _clib.E_INTERNAL,
                                    message or "suprsend_bulk_trigger gave no response")
                response = self._response_of(out.value)
            finally:
                lib.suprsend_bulk_response_free(out.value)
            self._response = response
            lib.suprsend_bulk_free(self._handle)
            self._handle = None
            return response

    def _response_of(self, r: int) -> BulkResponse:
        """The BulkResponse of a suprsend_bulk_response (which the caller frees)."""
        failure = int(lib.suprsend_bulk_response_failure(r))
        failed: Any
        if _clib.HAS_TYPED_OUTCOMES:
            # Each failed record by position: which event (its append position, so a stand-in
            # is known by where it stands), its code and message, without parsing the list.
            failed = []
            refused = self._refused_at
            for i in range(failure):
                own = refused.get(int(lib.suprsend_bulk_response_failed_index(r, i))) if refused else None
                if own is not None:
                    failed.append(own)
                    continue
                failed.append({"record": json.loads(_clib.text(lib.suprsend_bulk_response_failed_record_json(r, i))
                                                    or "null"),
                               "error": _clib.text(lib.suprsend_bulk_response_failed_message(r, i)),
                               "code": int(lib.suprsend_bulk_response_failed_code(r, i))})
        else:
            failed = json.loads(_clib.text(lib.suprsend_bulk_response_failed_records_json(r)) or "[]")
            if self._refused and isinstance(failed, list):
                failed = [self._own_record(f) for f in failed]
        return BulkResponse(
            status=_clib.text(lib.suprsend_bulk_response_status(r)),
            total=int(lib.suprsend_bulk_response_total(r)),
            success=int(lib.suprsend_bulk_response_success(r)),
            failure=failure,
            failed_records=failed if isinstance(failed, list) else [],
        )

    @property
    def response(self) -> Optional[BulkResponse]:
        """The response of :meth:`trigger`, once triggered."""
        return self._response

    def _live(self) -> int:
        if self._handle is None:
            if self._response is not None or self._triggered:
                raise error_for(_clib.E_ARGUMENT, "this bulk was already triggered; a bulk is sent once")
            raise SuprsendClosedError("the bulk is closed (its client was closed)", _clib.E_CLOSED)
        return self._handle

    def _free(self) -> None:
        with self._lock:
            handle, self._handle = self._handle, None
            if handle is not None:
                lib.suprsend_bulk_free(handle)

    def close(self) -> None:
        """Frees the bulk without sending it. Idempotent."""
        self._free()

    def __enter__(self) -> "BulkEvents":
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self._free()

    def __del__(self) -> None:
        try:
            handle, self._handle = self._handle, None
            if handle is not None:
                lib.suprsend_bulk_free(handle)
        except Exception:  # pragma: no cover - interpreter shutdown
            pass


def _enable_debug_logging() -> None:
    """As the official SDK: DEBUG level, and a stderr handler if no handler would show the records."""
    logger.setLevel(logging.DEBUG)
    current: Optional[logging.Logger] = logger
    while current is not None:
        if any(not isinstance(h, logging.NullHandler) for h in current.handlers):
            return
        if not current.propagate:
            break
        current = current.parent
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)


def _free_client(handle: int, keep_alive: Any) -> None:
    """Frees a C client (suprsend_client_free); ``keep_alive`` holds its C callback until then."""
    try:
        lib.suprsend_client_free(handle)
    except Exception:  # pragma: no cover
        pass
    del keep_alive


def _close_clients_at_exit() -> None:
    """atexit: closes every open client with its shutdown timeout, so that queued events are
    delivered (or reported "closed") while the interpreter still runs, and no worker thread
    calls into Python once it is finalizing."""
    global _shutting_down
    for client in list(_clients):
        try:
            # A call still running on another (daemon) thread gets the shutdown timeout to
            # finish; past it the client is left open rather than freed under that call.
            if not client._close(client._shutdown_ms, calls_deadline=max(client._shutdown_ms, 0) / 1000.0):
                logger.debug("suprsend_native: %r: events were left undelivered at exit", client)
        except Exception:  # pragma: no cover
            logger.exception("suprsend_native: closing %r at exit failed", client)
    _shutting_down = True


atexit.register(_close_clients_at_exit)


def _after_fork_in_child() -> None:
    for client in list(_clients):
        client._after_fork()
    for client in list(_clients):
        for bulk in list(client._bulks):
            bulk._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# The library functions the accelerator calls, by name (their addresses in the ctypes-loaded library).
_SPEEDUPS_FUNCTIONS = (
    "suprsend_event_free", "suprsend_track_event", "suprsend_response_status_code",
    "suprsend_response_message", "suprsend_response_body", "suprsend_response_free", "suprsend_last_error",
    "suprsend_status_name", "suprsend_bulk_append_json", "suprsend_event_new", "suprsend_event_set_properties_json",
    "suprsend_event_set_idempotency_key", "suprsend_event_set_tenant_id", "suprsend_event_set_brand_id",
)


# The Python methods the accelerator's C methods stand for (and fall back to).
_PURE_EVENT_INIT = Event.__init__
_PURE_TRACK_EVENT = Suprsend.track_event


def _load_speedups() -> Any:
    """suprsend_native._speedups, set up with this library and these helpers; None when
    SUPRSEND_NATIVE_PURE is set (to anything but "0"), the library lacks the JSON entry points,
    or the extension is missing (a source tree without a build) or fails to load."""
    if os.environ.get("SUPRSEND_NATIVE_PURE", "") not in ("", "0") or not _clib.HAS_EVENT_JSON:
        return None
    try:
        from . import _speedups as module  # type: ignore[attr-defined]
        addresses = {name: ctypes.cast(getattr(lib, name), ctypes.c_void_p).value
                     for name in _SPEEDUPS_FUNCTIONS}
        module.setup(addresses, Event, error_for, _parse_body, _result)
        methods = module.methods(Event, Suprsend, _clib)
    except Exception as e:  # ImportError, or a build that does not fit: the pure path runs
        logger.debug("suprsend_native: the C accelerator is not used: %s", e)
        return None
    module.c_methods = methods
    return module


def _use_speedups(module: Any) -> None:
    """Switches the binding to the accelerator ``module`` (as loaded by _load_speedups), or back
    to the pure-Python path with None (the tests compare the two)."""
    global _speedups
    _speedups = module
    _event_module._speedups = module
    init, track = module.c_methods if module is not None else (_PURE_EVENT_INIT, _PURE_TRACK_EVENT)
    Event.__init__ = init  # type: ignore[method-assign]
    Suprsend.track_event = track  # type: ignore[method-assign]


_speedups: Any = None
_use_speedups(_load_speedups())
