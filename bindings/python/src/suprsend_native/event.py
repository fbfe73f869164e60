"""Event: one event to track, kept as Python data until it is sent."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Set, Tuple

from . import _clib
from ._clib import lib
from .errors import SuprsendArgumentError, check, error_for

__all__ = ["Event"]


def _utf8(value: Any, field: str, *, optional: bool = False) -> Optional[bytes]:
    """value (a str) as NUL-terminated-safe UTF-8 bytes for the C library."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        expected = "a str or None" if optional else "a str"
        raise TypeError(f"{field} must be {expected}, not {type(value).__name__}")
    if "\x00" in value:
        raise SuprsendArgumentError(f"{field}: must not contain a NUL character (at position {value.index(chr(0))})",
                                    _clib.E_ARGUMENT)
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise SuprsendArgumentError(
            f"{field}: not valid Unicode text ({e.reason} {value[e.start]!r} at position {e.start})",
            _clib.E_ARGUMENT) from None


def _check_key(key: Any, where: str) -> None:
    if isinstance(key, str):
        try:
            key.encode("utf-8")
        except UnicodeEncodeError as e:
            raise SuprsendArgumentError(
                f"{where}: key {key!r} is not valid Unicode text ({e.reason} at position {e.start})",
                _clib.E_ARGUMENT) from None
    elif not (key is None or isinstance(key, (int, float, bool))):
        raise TypeError(f"{where}: keys must be str, int, float, bool or None, not {type(key).__name__}")


def _locate(value: Any, where: str, seen: Set[int]) -> None:
    """Raises a clear error for the first part of value that json.dumps rejects, naming its path."""
    if isinstance(value, dict):
        if id(value) in seen:
            raise SuprsendArgumentError(f"{where}: circular reference", _clib.E_ARGUMENT)
        seen.add(id(value))
        for k, v in value.items():
            _check_key(k, where)
            _locate(v, f"{where}[{k!r}]", seen)
        seen.discard(id(value))
    elif isinstance(value, (list, tuple)):
        if id(value) in seen:
            raise SuprsendArgumentError(f"{where}: circular reference", _clib.E_ARGUMENT)
        seen.add(id(value))
        for i, v in enumerate(value):
            _locate(v, f"{where}[{i}]", seen)
        seen.discard(id(value))
    elif isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as e:
            raise SuprsendArgumentError(
                f"{where}: not valid Unicode text ({e.reason} {value[e.start]!r} at position {e.start})",
                _clib.E_ARGUMENT) from None
    else:
        try:
            json.dumps(value, allow_nan=False)
        except TypeError as e:
            raise TypeError(f"{where}: {e}") from None
        except ValueError as e:
            raise SuprsendArgumentError(f"{where}: {e} ({value!r})", _clib.E_ARGUMENT) from None


def _serialize_properties(properties: Dict[str, Any]) -> bytes:
    """The properties as compact UTF-8 JSON, or a clear error naming the offending key."""
    try:
        text = json.dumps(properties, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return text.encode("utf-8")
    except (TypeError, ValueError, UnicodeEncodeError, RecursionError) as e:
        try:
            _locate(properties, "properties", set())
        except RecursionError:
            pass
        # Not located (e.g. too deep for the locator): report what json said.
        if isinstance(e, TypeError):
            raise TypeError(f"properties: {e}") from None
        raise SuprsendArgumentError(f"properties: {e}", _clib.E_ARGUMENT) from None


class Event:
    """An event to track: who did what, with which properties.

    The same constructor as the official SDK's ``suprsend.Event``::

        event = Event("user_1", "product_purchased", {"first_name": "User", "spend": 10},
                      idempotency_key="order-1234")

    Python types are checked here (a wrong type raises :class:`TypeError`). The content rules
    (empty or reserved names, the size limit, the tenant id's characters) are checked by
    libsuprsend when the event is sent with ``Suprsend.track_event`` (which raises) or
    appended to a bulk (which records it as a failed record). The attributes may be changed
    until then: the event is serialized anew each time it is sent or appended, and each send
    is a new event (a new ``$insert_id``), as with the official SDK.

    Args:
        distinct_id: the id of the user who performed the event.
        event_name: the event's name, e.g. ``"product_purchased"``; must not start with
            ``$`` or ``ss_``.
        properties: a JSON-serializable dict (nested dicts and lists are fine); ``None``
            means none.
        idempotency_key: the hub processes only the first event with this key in 24 hours.
        tenant_id: the tenant the event belongs to.
        brand_id: the official SDK's older name for ``tenant_id``; used when ``tenant_id``
            is not given.
    """

    distinct_id: str
    event_name: str
    properties: Dict[str, Any]
    idempotency_key: Optional[str]
    tenant_id: Optional[str]

    def __init__(self, distinct_id: str, event_name: str, properties: Optional[Dict[str, Any]] = None,
                 idempotency_key: Optional[str] = None, tenant_id: Optional[str] = None,
                 brand_id: Optional[str] = None) -> None:
        if properties is None:
            properties = {}
        if tenant_id is None:
            tenant_id = brand_id
        self.distinct_id = distinct_id
        self.event_name = event_name
        self.properties = properties
        self.idempotency_key = idempotency_key
        self.tenant_id = tenant_id
        # (path or URL, file name, ignore_if_error), replayed into each C event built.
        self._attachments: List[Tuple[bytes, Optional[bytes], int]] = []
        self._check_types()

    def _check_types(self) -> None:
        for field in ("distinct_id", "event_name"):
            v = getattr(self, field)
            if not isinstance(v, str):
                raise TypeError(f"{field} must be a str, not {type(v).__name__}")
        for field in ("idempotency_key", "tenant_id"):
            v = getattr(self, field)
            if v is not None and not isinstance(v, str):
                raise TypeError(f"{field} must be a str or None, not {type(v).__name__}")
        if not isinstance(self.properties, dict):
            raise TypeError(f"properties must be a dict or None, not {type(self.properties).__name__}")

    def add_attachment(self, file_path: str, file_name: Optional[str] = None, ignore_if_error: bool = False) -> None:
        """Attaches a file (for email).

        ``file_path`` is either an ``http://``/``https://`` URL, which the hub downloads, or a
        local file (``~`` expanded), which is read and sent inline, base64-encoded, with its
        content type. The file is read now to report problems at once, and read again each
        time the event is sent or appended.

        Raises:
            SuprsendAttachmentError: the file cannot be read (unless ``ignore_if_error``;
                then it is skipped, with a warning logged when the event is sent).
            EventTooLargeError: the file is too large for any event.
            TypeError: ``file_path`` is not a str.
        """
        path = _utf8(file_path, "file_path")
        name = _utf8(file_name, "file_name", optional=True)
        flag = 1 if ignore_if_error else 0
        probe = lib.suprsend_event_new(b"attachment_probe", b"attachment_probe")
        if not probe:
            raise error_for(_clib.E_INTERNAL)
        try:
            check(lib.suprsend_event_add_attachment(probe, path, name, flag))
        finally:
            lib.suprsend_event_free(probe)
        assert path is not None
        self._attachments.append((path, name, flag))

    def as_json(self) -> Dict[str, Any]:
        """The event as a dict (without the fields added when it is sent), as the official SDK."""
        d: Dict[str, Any] = {"event": self.event_name, "distinct_id": self.distinct_id,
                             "properties": self.properties}
        if self.idempotency_key:
            d["$idempotency_key"] = self.idempotency_key
        if self.tenant_id:
            d["tenant_id"] = self.tenant_id
        return d

    def __repr__(self) -> str:
        return (f"Event(distinct_id={self.distinct_id!r}, event_name={self.event_name!r}, "
                f"properties={self.properties!r}, idempotency_key={self.idempotency_key!r}, "
                f"tenant_id={self.tenant_id!r}, attachments={len(self._attachments)})")

    def _build(self) -> int:
        """A new C event with this event's data. The caller owns it (suprsend_event_free).

        Raises TypeError / SuprsendArgumentError / SuprsendAttachmentError on what cannot be
        passed to the library; never leaks the C event.
        """
        self._check_types()
        distinct_id = _utf8(self.distinct_id, "distinct_id")
        event_name = _utf8(self.event_name, "event_name")
        props = _serialize_properties(self.properties) if self.properties else None
        key = _utf8(self.idempotency_key, "idempotency_key", optional=True)
        tenant = _utf8(self.tenant_id, "tenant_id", optional=True)
        handle = lib.suprsend_event_new(distinct_id, event_name)
        if not handle:
            raise error_for(_clib.E_ARGUMENT)
        try:
            if props is not None:
                check(lib.suprsend_event_set_properties_json(handle, props))
            if key:
                check(lib.suprsend_event_set_idempotency_key(handle, key))
            if tenant:
                check(lib.suprsend_event_set_tenant_id(handle, tenant))
            for path, name, flag in self._attachments:
                check(lib.suprsend_event_add_attachment(handle, path, name, flag))
        except BaseException:
            lib.suprsend_event_free(handle)
            raise
        return int(handle)
