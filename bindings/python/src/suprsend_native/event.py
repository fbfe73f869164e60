"""Event: one event to track, kept as Python data until it is sent."""

from __future__ import annotations

import errno
import json
import logging
import os
import stat
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from . import _clib
from ._clib import lib
from .errors import (
    AttachmentIsADirectoryError,
    EventTooLargeError,
    SuprsendArgumentError,
    SuprsendAttachmentError,
    SuprsendTypeError,
    attachment_error,
    check,
    error_for,
)

__all__ = ["Event"]

logger = logging.getLogger("suprsend_native")

# The largest file any event can carry: base64 grows it by 4/3 and no event may exceed
# 819200 bytes (suprsend_event_add_attachment says the same).
MAX_ATTACHMENT_FILE_BYTES = 819200 // 4 * 3

def _utf8(value: Any, field: str, *, optional: bool = False) -> Optional[bytes]:
    """value (a str) as NUL-terminated-safe UTF-8 bytes for the C library."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        expected = "a str or None" if optional else "a str"
        raise SuprsendTypeError(f"{field} must be {expected}, not {type(value).__name__}")
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
        raise SuprsendTypeError(f"{where}: keys must be str, int, float, bool or None, not {type(key).__name__}")


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
            raise SuprsendTypeError(f"{where}: {e}") from None
        except ValueError as e:
            raise SuprsendArgumentError(f"{where}: {e} ({value!r})", _clib.E_ARGUMENT) from None


def _json_encoder() -> Callable[[Any], str]:
    """The compact JSON encoder of ``json.dumps(value, ensure_ascii=False, separators=(",", ":"),
    allow_nan=False)``, made once.

    ``json.dumps`` with arguments builds a ``JSONEncoder`` and a C encoder on every call: a
    few microseconds per event, more than the C library spends on it. The C encoder made
    here once gives the same text (checked below); without it (another Python), ``dumps``.
    """
    def dumps(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)

    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None or json.encoder.encode_basestring is json.encoder.py_encode_basestring:
        return dumps

    def unserializable(value: Any) -> Any:
        raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")

    try:
        # markers, default, string encoder, indent, key separator, item separator, sort_keys,
        # skipkeys, allow_nan: as JSONEncoder.iterencode passes them, but without markers (no
        # state shared between calls and threads): a circular reference then raises
        # RecursionError instead of ValueError, and _serialize_properties reports it the same.
        encode = make(None, unserializable, json.encoder.encode_basestring, None, ":", ",", False, False, False)
        sample = {"s": "t\u00e9\n\"\x00", "n": [1, -2.5, 1e300, True, None], 3: {"k": []}, 1.5: {}, None: ""}
        if "".join(encode(sample, 0)) != dumps(sample):
            return dumps
    except Exception:  # a future Python with another signature
        return dumps
    join = "".join

    def fast(value: Any) -> str:
        return join(encode(value, 0))

    return fast


_to_json = _json_encoder()

# The C accelerator (suprsend_native._speedups), set up by client.py once the binding's helpers
# exist; None when it is missing, failed to load, or SUPRSEND_NATIVE_PURE is set.
_speedups: Any = None


def _serialize_properties(properties: Dict[str, Any]) -> bytes:
    """The properties as compact UTF-8 JSON, or a clear error naming the offending key."""
    try:
        return _to_json(properties).encode("utf-8")
    except (TypeError, ValueError, UnicodeEncodeError, RecursionError) as e:
        try:
            _locate(properties, "properties", set())
        except RecursionError:
            pass
        # Not located (e.g. too deep for the locator): report what json said.
        if isinstance(e, TypeError):
            raise SuprsendTypeError(f"properties: {e}") from None
        raise SuprsendArgumentError(f"properties: {e}", _clib.E_ARGUMENT) from None


def _is_web_url(text: str) -> bool:
    return text[:7].lower() == "http://" or text[:8].lower() == "https://"


class _InlineFile:
    """A local attachment, read once when it was added."""

    __slots__ = ("data", "file_name", "ignore_if_error")

    def __init__(self, data: bytes, file_name: bytes, ignore_if_error: int) -> None:
        self.data = data
        self.file_name = file_name
        self.ignore_if_error = ignore_if_error

    def add_to(self, handle: Any) -> int:
        return int(lib.suprsend_event_add_attachment_data(handle, self.data, len(self.data), self.file_name,
                                                          None, self.ignore_if_error))


class _Link:
    """A URL attachment: the hub downloads it."""

    __slots__ = ("url", "file_name", "ignore_if_error")

    def __init__(self, url: bytes, file_name: Optional[bytes], ignore_if_error: int) -> None:
        self.url = url
        self.file_name = file_name
        self.ignore_if_error = ignore_if_error

    def add_to(self, handle: Any) -> int:
        return int(lib.suprsend_event_add_attachment(handle, self.url, self.file_name, self.ignore_if_error))


def _read_attachment_file(path: str) -> bytes:
    """The whole of a regular file, read once; the OSError classes of open() when it cannot be."""
    try:
        # O_NONBLOCK: a FIFO without a writer must not block; regular files ignore the flag.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise attachment_error(e, path) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise AttachmentIsADirectoryError(f"attachment {path!r}: {os.strerror(errno.EISDIR)}",
                                              errno=errno.EISDIR, filename=path)
        if not stat.S_ISREG(info.st_mode):
            raise SuprsendAttachmentError(f"attachment {path!r}: not a regular file", filename=path)
        if info.st_size > MAX_ATTACHMENT_FILE_BYTES:
            raise EventTooLargeError(f"attachment {path!r}: {info.st_size} bytes is more than any event can carry "
                                     f"(at most {MAX_ATTACHMENT_FILE_BYTES} bytes before base64); send a URL instead")
        chunks = []
        total = 0
        while True:
            try:
                chunk = os.read(fd, 1 << 16)
            except OSError as e:
                raise attachment_error(e, path) from None
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > MAX_ATTACHMENT_FILE_BYTES:
                raise EventTooLargeError(f"attachment {path!r}: more than any event can carry "
                                         f"(at most {MAX_ATTACHMENT_FILE_BYTES} bytes before base64); send a URL instead")
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if not data:
        # The hub refuses an attachment without data: said now, as the C library does.
        raise SuprsendAttachmentError(f"attachment {path!r}: the file is empty", filename=path)
    return data


class Event:
    """An event to track: who did what, with which properties.

    The same constructor as the official SDK's ``suprsend.Event``::

        event = Event("user_1", "product_purchased", {"first_name": "User", "spend": 10},
                      idempotency_key="order-1234")

    As with the official SDK, ``Event(...)`` stores what it is given and checks nothing: an
    event is checked when it is sent with ``Suprsend.track_event`` or ``Suprsend.enqueue``
    (which raise: a wrong type is a :class:`SuprsendTypeError`, also an ``InputValueError``
    and a ``TypeError``; an empty ``distinct_id`` or event name, a reserved event name, a bad
    tenant id, ... a :class:`SuprsendValidationError`, an ``InputValueError``; an event over
    the size limit an :class:`EventTooLargeError`) or appended to a bulk (which keeps it as a
    failed record, code 500, and never sends it). So a bulk made from user data sends its
    valid events whatever the others hold. The attributes may be changed until then: the
    event is serialized anew each time it is sent or appended, and each send is a new event
    (a new ``$insert_id``), as with the official SDK.

    Args:
        distinct_id: the id of the user who performed the event.
        event_name: the event's name, e.g. ``"product_purchased"``; must not start with
            ``$`` or ``ss_``.
        properties: a JSON-serializable dict (nested dicts and lists are fine); ``None``
            means none.
        idempotency_key: the hub processes only the first event with this key in 24 hours.
        tenant_id: the tenant the event belongs to.
        brand_id: the brand, sent as its own top-level ``brand_id`` (beside ``tenant_id``),
            as the official SDK does.
    """

    distinct_id: str
    event_name: str
    properties: Dict[str, Any]
    idempotency_key: Optional[str]
    tenant_id: Optional[str]
    brand_id: Optional[str]

    def __init__(self, distinct_id: str, event_name: str, properties: Optional[Dict[str, Any]] = None,
                 idempotency_key: Optional[str] = None, tenant_id: Optional[str] = None,
                 brand_id: Optional[str] = None) -> None:
        # Stored as given, checked when sent or appended (as the official SDK's Event).
        self.distinct_id = distinct_id
        self.event_name = event_name
        self.properties = {} if properties is None else properties
        self.idempotency_key = idempotency_key
        self.tenant_id = tenant_id
        self.brand_id = brand_id
        # Attachments as added: local files already read, URLs as given.
        self._attachments: List[Any] = []

    def _check_types(self) -> None:
        """The wrong Python types, with the messages they have always had (the library's own
        rules are checked by libsuprsend when the event is sent or appended)."""
        for field in ("distinct_id", "event_name"):
            v = getattr(self, field)
            if not isinstance(v, str):
                raise SuprsendTypeError(f"{field} must be a str, not {type(v).__name__}")
        for field in ("idempotency_key", "tenant_id", "brand_id"):
            v = getattr(self, field)
            if v is not None and not isinstance(v, str):
                raise SuprsendTypeError(f"{field} must be a str or None, not {type(v).__name__}")
        if not isinstance(self.properties, dict):
            raise SuprsendTypeError(f"properties must be a dict or None, not {type(self.properties).__name__}")

    def add_attachment(self, file_path: str, file_name: Optional[str] = None, ignore_if_error: bool = False) -> None:
        """Attaches a file (for email).

        ``file_path`` is either an ``http://``/``https://`` URL, which the hub downloads, or a
        local file (``~`` expanded), which is read now, once, and sent inline, base64-encoded:
        what the file holds when this returns is what is sent, even if it is changed or
        removed later. ``file_name`` (trimmed) is the name the recipient sees, by default the
        file's own; the content type comes from its extension, else from the content.

        Raises:
            FileNotFoundError, IsADirectoryError, PermissionError: the file cannot be read, as
                from ``open()`` (with ``errno`` and ``filename``); each is also a
                :class:`SuprsendAttachmentError`. Not raised with ``ignore_if_error``: the
                file is then skipped, with a warning logged to ``"suprsend_native"``.
            SuprsendAttachmentError: the file is empty or not a regular file (also skipped
                with ``ignore_if_error``).
            EventTooLargeError: the file is too large for any event.
            SuprsendTypeError: ``file_path`` or ``file_name`` is not a str.
        """
        path_b = _utf8(file_path, "file_path")
        name_b = _utf8(file_name, "file_name", optional=True)
        flag = 1 if ignore_if_error else 0
        target = file_path.strip()
        attachment: Any
        if _is_web_url(target):
            attachment = _Link(path_b or b"", name_b, flag)
        else:
            path = os.path.expanduser(target)
            try:
                data = _read_attachment_file(path)
            except SuprsendAttachmentError as e:
                if not ignore_if_error:
                    raise
                logger.warning("suprsend_native: attachment skipped (ignore_if_error): %s", e.message)
                return
            given = (file_name or "").strip()
            shown = given or os.path.basename(path.rstrip("/")) or path
            attachment = _InlineFile(data, _utf8(shown, "file_name") or b"", flag)
        # Checked now in a throw-away event, so that a bad URL or a file too large is said here.
        probe = lib.suprsend_event_new(b"attachment_probe", b"attachment_probe")
        if not probe:
            raise error_for(_clib.E_INTERNAL)
        try:
            check(attachment.add_to(probe))
        finally:
            lib.suprsend_event_free(probe)
        self._attachments.append(attachment)

    def as_json(self) -> Dict[str, Any]:
        """The event as a dict (without the fields added when it is sent), as the official SDK."""
        d: Dict[str, Any] = {"event": self.event_name, "distinct_id": self.distinct_id,
                             "properties": self.properties}
        if self.idempotency_key:
            d["$idempotency_key"] = self.idempotency_key
        if self.tenant_id:
            d["tenant_id"] = self.tenant_id
        if self.brand_id:
            d["brand_id"] = self.brand_id
        return d

    def __repr__(self) -> str:
        return (f"Event(distinct_id={self.distinct_id!r}, event_name={self.event_name!r}, "
                f"properties={self.properties!r}, idempotency_key={self.idempotency_key!r}, "
                f"tenant_id={self.tenant_id!r}, brand_id={self.brand_id!r}, attachments={len(self._attachments)})")

    def _json_bytes(self) -> Optional[bytes]:
        """The whole event as the JSON object ``suprsend_event_new_json`` takes, made with one
        encoder call; None when it must be built field by field instead: attachments, or
        anything the field-by-field path reports (a wrong type, a NUL, invalid Unicode text,
        a value JSON cannot hold), so that its errors stay exactly as they were."""
        if _speedups is not None:
            # The same text from the C encoder, or NotImplemented for what only Python encodes.
            data = _speedups.event_json(self)
            if data is not NotImplemented:
                return data
        distinct_id = self.distinct_id
        event_name = self.event_name
        properties = self.properties
        key = self.idempotency_key
        tenant = self.tenant_id
        if (self._attachments or type(distinct_id) is not str or type(event_name) is not str
                or "\x00" in distinct_id or "\x00" in event_name or type(properties) is not dict):
            return None
        event: Dict[str, Any] = {"distinct_id": distinct_id, "event": event_name}
        if properties:
            event["properties"] = properties
        if key is not None:
            if type(key) is not str or "\x00" in key:
                return None
            if key:
                event["$idempotency_key"] = key
        if tenant is not None:
            if type(tenant) is not str or "\x00" in tenant:
                return None
            if tenant:
                event["tenant_id"] = tenant
        brand = self.brand_id
        if brand is not None:
            if type(brand) is not str or "\x00" in brand:
                return None
            if brand:
                event["brand_id"] = brand
        try:
            return _to_json(event).encode("utf-8")
        except Exception:  # reported by the field-by-field path, with the offending key
            return None

    def _build(self) -> int:
        """A new C event with this event's data. The caller owns it (suprsend_event_free).

        Raises SuprsendTypeError / SuprsendArgumentError on what cannot be passed to the
        library; never leaks the C event.
        """
        if _clib.HAS_EVENT_JSON:
            data = self._json_bytes()
            if data is not None:
                handle = lib.suprsend_event_new_json(data)
                if handle:
                    return int(handle)
                # Refused (e.g. a duplicate top-level property key): the field-by-field path
                # below reports it with the message it always had.
        self._check_types()
        distinct_id = _utf8(self.distinct_id, "distinct_id")
        event_name = _utf8(self.event_name, "event_name")
        props = _serialize_properties(self.properties) if self.properties else None
        key = _utf8(self.idempotency_key, "idempotency_key", optional=True)
        tenant = _utf8(self.tenant_id, "tenant_id", optional=True)
        brand = _utf8(self.brand_id, "brand_id", optional=True)
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
            if brand:
                check(lib.suprsend_event_set_brand_id(handle, brand))
            for attachment in self._attachments:
                check(attachment.add_to(handle))
        except BaseException:
            lib.suprsend_event_free(handle)
            raise
        return int(handle)
