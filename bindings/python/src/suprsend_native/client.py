"""Suprsend: the client, and the bulk of events it makes."""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import weakref
from ctypes import byref, c_void_p
from types import TracebackType
from typing import Any, Dict, Optional, Type

from . import _clib
from ._clib import lib
from .bulk_response import BulkResponse
from .errors import SuprsendClosedError, SuprsendError, check, error_for
from .event import Event, _utf8

__all__ = ["Suprsend", "BulkEventsFactory", "BulkEvents"]

logger = logging.getLogger("suprsend_native")

# Codes that mean "the event (or an argument) is wrong; nothing was sent": raised.
_RAISED = (_clib.E_ARGUMENT, _clib.E_VALIDATION, _clib.E_TOO_LARGE, _clib.E_ATTACHMENT)
# Codes that mean "the hub refused it / could not be reached": reported in the result.
_REPORTED = (_clib.E_HTTP, _clib.E_NETWORK)

# Status code reported when no HTTP answer came (as the official SDK does for transport errors).
NO_ANSWER_STATUS_CODE = 500

# Live clients, so that a forked child gets fresh locks (see _after_fork_in_child).
_clients: "weakref.WeakSet[Suprsend]" = weakref.WeakSet()


def _log_line(level: int, message: Optional[bytes], user_data: Optional[int]) -> None:
    # Called by the library on the thread that made the request (ctypes takes the GIL).
    # Must never raise into C.
    try:
        logger.log(level, "%s", message.decode("utf-8", "replace") if message else "")
    except Exception:  # pragma: no cover
        pass


# One C callback for every client, alive as long as the module (never collected).
_LOG_CALLBACK = _clib.LOG_FN(_log_line)


def _milliseconds(seconds: Any, field: str) -> int:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{field} must be a number of seconds, not {type(seconds).__name__}")
    if not math.isfinite(seconds):
        raise error_for(_clib.E_ARGUMENT, f"{field}: must be a finite number of seconds, not {seconds!r}")
    ms = int(round(seconds * 1000))
    if seconds > 0 and ms == 0:
        ms = 1
    return max(min(ms, 2**31 - 1), -1)


def _result(rc: int, response: Optional[int], message: str) -> Dict[str, Any]:
    """The official SDK's result dict, from a suprsend_response (or from the error message)."""
    if not response:
        return {"success": False, "status": "fail", "status_code": NO_ANSWER_STATUS_CODE,
                "message": message or _clib.status_name(rc), "raw_response": None}
    success = bool(lib.suprsend_response_success(response))
    status_code = int(lib.suprsend_response_status_code(response))
    text = _clib.text(lib.suprsend_response_message(response))
    body = _clib.text(lib.suprsend_response_body(response))
    raw: Any
    if status_code == 0 and not body:
        raw = None
        status_code = NO_ANSWER_STATUS_CODE
    else:
        try:
            raw = json.loads(body)
        except ValueError:
            raw = body
    return {"success": success, "status": "success" if success else "fail", "status_code": status_code,
            "message": text, "raw_response": raw}


class Suprsend:
    """A client for one SuprSend workspace, backed by libsuprsend.

    A drop-in for the event API of the official SDK's ``suprsend.Suprsend``::

        from suprsend_native import Suprsend, Event

        with Suprsend("WORKSPACE_KEY", "WORKSPACE_SECRET") as client:
            result = client.track_event(Event("user_1", "product_purchased", {"spend": 10}))

    The client may be shared by many threads; each call releases the GIL while it waits on
    the network. Free it with :meth:`close` or a ``with`` block (it is also freed when it is
    garbage-collected).

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
        ca_file: a PEM file of CA certificates to trust instead of the system's.
        max_event_bytes: the largest serialized event accepted (default 102400, at most 819200).
        auto_idempotency: give events without an idempotency key a random one, so that a retry
            is never processed twice (default True).
        app_info: accepted for compatibility with the official SDK, and ignored.

    Raises:
        TypeError: an argument of the wrong type.
        SuprsendArgumentError: an empty key or secret, a bad URL, an option out of range.
    """

    def __init__(self, workspace_key: str, workspace_secret: str, base_url: Optional[str] = None,
                 debug: bool = False, *, timeout: Optional[float] = None, proxy: Optional[str] = None,
                 max_retries: Optional[int] = None, connect_timeout: Optional[float] = None,
                 ca_file: Optional[str] = None, max_event_bytes: Optional[int] = None,
                 auto_idempotency: Optional[bool] = None, app_info: Optional[Dict[str, Any]] = None) -> None:
        self._handle: Optional[int] = None
        self._cond = threading.Condition(threading.Lock())
        self._inflight = 0
        self._bulks: "weakref.WeakSet[BulkEvents]" = weakref.WeakSet()
        self.debug = bool(debug)
        self.workspace_key = workspace_key
        key = _utf8(workspace_key, "workspace_key")
        secret = _utf8(workspace_secret, "workspace_secret")
        url = _utf8(base_url, "base_url", optional=True)
        proxy_b = _utf8(proxy, "proxy", optional=True)
        ca = _utf8(ca_file, "ca_file", optional=True)
        for name, value in (("max_retries", max_retries), ("max_event_bytes", max_event_bytes)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise TypeError(f"{name} must be an int, not {type(value).__name__}")
        timeout_ms = None if timeout is None else _milliseconds(timeout, "timeout")
        connect_ms = None if connect_timeout is None else _milliseconds(connect_timeout, "connect_timeout")

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
        self._handle = out.value
        # Keep the callback alive as long as this client, whatever happens to the module.
        self._log_callback = _LOG_CALLBACK
        if self.debug:
            _enable_debug_logging()
        self._bulk_events = BulkEventsFactory(self)
        _clients.add(self)

    # --- lifetime --------------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._handle is None

    def close(self) -> None:
        """Frees the client (and any bulk made from it that was not triggered).

        Waits for calls in progress on other threads to finish. Idempotent. Using the client
        afterwards raises :class:`SuprsendClosedError`.
        """
        with self._cond:
            handle, self._handle = self._handle, None
            if handle is None:
                return
            while self._inflight:
                self._cond.wait()
        for bulk in list(self._bulks):
            bulk._free()
        lib.suprsend_client_free(handle)

    def __enter__(self) -> "Suprsend":
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.close()

    def __del__(self) -> None:
        # No other reference exists, so nothing is in flight (a call holds `self`).
        try:
            handle, self._handle = self._handle, None
            if handle is not None:
                lib.suprsend_client_free(handle)
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<suprsend_native.Suprsend workspace_key={self.workspace_key!r} {state}>"

    def _enter(self) -> int:
        with self._cond:
            if self._handle is None:
                raise SuprsendClosedError("the client is closed", _clib.E_CLOSED)
            self._inflight += 1
            return self._handle

    def _leave(self) -> None:
        with self._cond:
            self._inflight -= 1
            if not self._inflight:
                self._cond.notify_all()

    def _after_fork(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._inflight = 0

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
            raise TypeError(f"track_event() takes a suprsend_native.Event, not {type(event).__name__}")
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
    validates it: an invalid event is not raised but kept as a failed record of the
    response, and never sent. Only a wrong Python type raises (:class:`TypeError`), as do
    values that cannot be passed at all (invalid Unicode text, NaN: ``SuprsendArgumentError``).
    A bulk is triggered once. It may be used as a context manager, which frees it on exit.
    """

    def __init__(self, client: Suprsend) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._handle: Optional[int] = None
        self._response: Optional[BulkResponse] = None
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
        """Adds events to the bulk (copied; validated; invalid ones become failed records)."""
        for i, ev in enumerate(events):
            if not isinstance(ev, Event):
                raise TypeError(f"append() takes suprsend_native.Event objects; argument {i} is "
                                f"{type(ev).__name__}")
        for ev in events:
            handle = ev._build()
            try:
                with self._lock:
                    bulk = self._live()
                    rc = lib.suprsend_bulk_append(bulk, handle)
                    if rc not in (_clib.OK, _clib.E_VALIDATION, _clib.E_TOO_LARGE):
                        raise error_for(rc)
            finally:
                lib.suprsend_event_free(handle)

    def __len__(self) -> int:
        with self._lock:
            if self._handle is None:
                return self._response.total if self._response else 0
            return int(lib.suprsend_bulk_count(self._handle))

    def trigger(self) -> BulkResponse:
        """Sends the valid events and returns the merged :class:`BulkResponse`.

        Hub refusals and network failures are reported in the response (failed records),
        not raised. A second call raises :class:`SuprsendArgumentError`.
        """
        with self._lock:
            if self._response is not None:
                raise error_for(_clib.E_ARGUMENT, "this bulk was already triggered; a bulk is sent once")
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
                r = out.value
                failed = json.loads(_clib.text(lib.suprsend_bulk_response_failed_records_json(r)) or "[]")
                response = BulkResponse(
                    status=_clib.text(lib.suprsend_bulk_response_status(r)),
                    total=int(lib.suprsend_bulk_response_total(r)),
                    success=int(lib.suprsend_bulk_response_success(r)),
                    failure=int(lib.suprsend_bulk_response_failure(r)),
                    failed_records=failed if isinstance(failed, list) else [],
                )
            finally:
                lib.suprsend_bulk_response_free(out.value)
            self._response = response
            lib.suprsend_bulk_free(self._handle)
            self._handle = None
            return response

    @property
    def response(self) -> Optional[BulkResponse]:
        """The response of :meth:`trigger`, once triggered."""
        return self._response

    def _live(self) -> int:
        if self._handle is None:
            if self._response is not None:
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


def _after_fork_in_child() -> None:
    for client in list(_clients):
        client._after_fork()
    for client in list(_clients):
        for bulk in list(client._bulks):
            bulk._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
