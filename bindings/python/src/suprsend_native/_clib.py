"""Loading libsuprsend and declaring its C functions for ctypes.

This module is private: the public API lives in :mod:`suprsend_native`.

The library is searched for, in this order:

1. the path in the ``SUPRSEND_LIBRARY`` environment variable (if set, it must load);
2. a copy bundled in this package (``suprsend_native/_lib/libsuprsend.so*``);
3. the system's library path (``ctypes.util.find_library("suprsend")``);
4. ``dist/lib/libsuprsend.so`` of the repository, when running from a source checkout.

The library is opened with :class:`ctypes.CDLL` (never ``PyDLL``): ctypes releases the GIL
for the duration of every foreign call made through a ``CDLL``, so network I/O in
``suprsend_track_event`` / ``suprsend_bulk_trigger`` lets other Python threads run.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
from ctypes import POINTER, c_char_p, c_int, c_long, c_longlong, c_size_t, c_void_p
from typing import List, Optional, Tuple

#: The header this binding was written against (``SUPRSEND_VERSION_NUMBER`` in suprsend.h).
HEADER_VERSION_NUMBER = 1000
HEADER_VERSION_STRING = "0.1.0"

# Status codes (suprsend.h). Append-only in the C library, so safe to mirror here.
OK = 0
E_ARGUMENT = 1
E_VALIDATION = 2
E_TOO_LARGE = 3
E_ATTACHMENT = 4
E_NETWORK = 5
E_HTTP = 6
E_TIMEOUT = 7
E_QUEUE_FULL = 8
E_STORAGE = 9
E_CLOSED = 10
E_INTERNAL = 99

LOG_DEBUG = 10
LOG_INFO = 20
LOG_WARNING = 30
LOG_ERROR = 40

#: typedef void (*suprsend_log_fn)(int level, const char *message, void *user_data);
LOG_FN = ctypes.CFUNCTYPE(None, c_int, c_char_p, c_void_p)

#: typedef void (*suprsend_delivery_fn)(const suprsend_delivery *delivery, void *user_data);
DELIVERY_FN = ctypes.CFUNCTYPE(None, c_void_p, c_void_p)

#: typedef void (*suprsend_response_fn)(int status, suprsend_response *response, void *user_data);
RESPONSE_FN = ctypes.CFUNCTYPE(None, c_int, c_void_p, c_void_p)

#: typedef void (*suprsend_bulk_response_fn)(int status, suprsend_bulk_response *response, void *user_data);
BULK_RESPONSE_FN = ctypes.CFUNCTYPE(None, c_int, c_void_p, c_void_p)

# suprsend_client_stat ids (SUPRSEND_STAT_*), in the order of their values 1..7: the slots
# suprsend_client_stats fills.
STATS = ("queued", "in_flight", "delivered", "refused", "dropped", "retries", "outbox_bytes")

_PKG_DIR = os.path.dirname(os.path.abspath(__file__))

# name: (restype, argtypes). Handles are c_void_p; out-params POINTER(c_void_p);
# C `long` is c_long and `int` is c_int; strings in and out are c_char_p (UTF-8 bytes).
_PROTOTYPES = {
    "suprsend_version": (c_char_p, []),
    "suprsend_version_number": (c_int, []),
    "suprsend_status_name": (c_char_p, [c_int]),
    "suprsend_last_error": (c_char_p, []),
    # options and client
    "suprsend_options_new": (c_void_p, [c_char_p, c_char_p]),
    "suprsend_options_set_base_url": (c_int, [c_void_p, c_char_p]),
    "suprsend_options_set_timeout_ms": (c_int, [c_void_p, c_long]),
    "suprsend_options_set_connect_timeout_ms": (c_int, [c_void_p, c_long]),
    "suprsend_options_set_call_timeout_ms": (c_int, [c_void_p, c_long]),
    "suprsend_options_set_proxy": (c_int, [c_void_p, c_char_p]),
    "suprsend_options_set_ca_file": (c_int, [c_void_p, c_char_p]),
    "suprsend_options_set_max_retries": (c_int, [c_void_p, c_int]),
    "suprsend_options_set_max_event_bytes": (c_int, [c_void_p, c_long]),
    "suprsend_options_set_auto_idempotency": (c_int, [c_void_p, c_int]),
    "suprsend_options_set_log": (c_int, [c_void_p, c_int, LOG_FN, c_void_p]),
    "suprsend_options_free": (None, [c_void_p]),
    "suprsend_client_new": (c_int, [c_void_p, POINTER(c_void_p)]),
    "suprsend_client_free": (None, [c_void_p]),
    # events
    "suprsend_event_new": (c_void_p, [c_char_p, c_char_p]),
    "suprsend_event_set_properties_json": (c_int, [c_void_p, c_char_p]),
    "suprsend_event_set_idempotency_key": (c_int, [c_void_p, c_char_p]),
    "suprsend_event_set_tenant_id": (c_int, [c_void_p, c_char_p]),
    "suprsend_event_set_brand_id": (c_int, [c_void_p, c_char_p]),
    "suprsend_event_add_attachment": (c_int, [c_void_p, c_char_p, c_char_p, c_int]),
    "suprsend_event_add_attachment_data": (c_int, [c_void_p, c_char_p, c_size_t, c_char_p, c_char_p, c_int]),
    "suprsend_event_free": (None, [c_void_p]),
    # one event
    "suprsend_track_event": (c_int, [c_void_p, c_void_p, POINTER(c_void_p)]),
    "suprsend_response_success": (c_int, [c_void_p]),
    "suprsend_response_status_code": (c_int, [c_void_p]),
    "suprsend_response_message": (c_char_p, [c_void_p]),
    "suprsend_response_body": (c_char_p, [c_void_p]),
    "suprsend_response_free": (None, [c_void_p]),
    # bulk
    "suprsend_bulk_new": (c_void_p, [c_void_p]),
    "suprsend_bulk_append": (c_int, [c_void_p, c_void_p]),
    "suprsend_bulk_count": (c_long, [c_void_p]),
    "suprsend_bulk_trigger": (c_int, [c_void_p, POINTER(c_void_p)]),
    "suprsend_bulk_free": (None, [c_void_p]),
    "suprsend_bulk_response_status": (c_char_p, [c_void_p]),
    "suprsend_bulk_response_total": (c_long, [c_void_p]),
    "suprsend_bulk_response_success": (c_long, [c_void_p]),
    "suprsend_bulk_response_failure": (c_long, [c_void_p]),
    "suprsend_bulk_response_failed_records_json": (c_char_p, [c_void_p]),
    "suprsend_bulk_response_free": (None, [c_void_p]),
}


# Background delivery (suprsend_enqueue and its options). Declared when the library has them:
# a library built before them still loads, and the binding says what is missing when they
# are used (HAS_BACKGROUND, missing_background).
_BACKGROUND_PROTOTYPES = {
    "suprsend_options_set_outbox_path": (c_int, [c_void_p, c_char_p]),
    "suprsend_options_set_outbox_power_safe": (c_int, [c_void_p, c_int]),
    "suprsend_options_set_queue_capacity": (c_int, [c_void_p, c_long]),
    "suprsend_options_set_outbox_max_bytes": (c_int, [c_void_p, c_longlong]),
    "suprsend_options_set_flush_interval_ms": (c_int, [c_void_p, c_long]),
    "suprsend_options_set_max_event_age_s": (c_int, [c_void_p, c_long]),
    "suprsend_options_set_shutdown_timeout_ms": (c_int, [c_void_p, c_long]),
    "suprsend_options_set_delivery_callback": (c_int, [c_void_p, DELIVERY_FN, c_void_p]),
    "suprsend_delivery_status": (c_int, [c_void_p]),
    "suprsend_delivery_http_status": (c_int, [c_void_p]),
    "suprsend_delivery_message": (c_char_p, [c_void_p]),
    "suprsend_delivery_insert_id": (c_char_p, [c_void_p]),
    "suprsend_delivery_idempotency_key": (c_char_p, [c_void_p]),
    "suprsend_delivery_event_name": (c_char_p, [c_void_p]),
    "suprsend_delivery_distinct_id": (c_char_p, [c_void_p]),
    "suprsend_delivery_attempts": (c_int, [c_void_p]),
    "suprsend_enqueue": (c_int, [c_void_p, c_void_p]),
    "suprsend_flush": (c_int, [c_void_p, c_long]),
    "suprsend_client_close": (c_int, [c_void_p, c_long]),
    "suprsend_client_stat": (c_int, [c_void_p, c_int, POINTER(c_longlong)]),
    "suprsend_client_stats": (c_int, [c_void_p, POINTER(c_longlong), c_int]),
}


# Outbox settings added after background delivery; declared when present (not used by the
# binding yet: Suprsend() has no option for them).
_OUTBOX_EXTRA_PROTOTYPES = {
    "suprsend_options_set_outbox_busy_timeout_ms": (c_int, [c_void_p, c_long]),
}


# Whole events as JSON text in one call (suprsend_event_new_json, suprsend_bulk_append_json):
# the fast path of Event._build and BulkEvents.append when the library has them; without
# them, events are built field by field.
_JSON_EVENT_PROTOTYPES = {
    "suprsend_event_new_json": (c_void_p, [c_char_p]),
    "suprsend_bulk_append_json": (c_int, [c_void_p, c_char_p]),
}


# Typed outcomes of a bulk: each failed record by position (suprsend_bulk_response_failed_*), so
# that BulkEvents.trigger reads which events failed without parsing failed_records_json.
_TYPED_OUTCOME_PROTOTYPES = {
    "suprsend_bulk_response_failed_index": (c_long, [c_void_p, c_long]),
    "suprsend_bulk_response_failed_status": (c_int, [c_void_p, c_long]),
    "suprsend_bulk_response_failed_code": (c_int, [c_void_p, c_long]),
    "suprsend_bulk_response_failed_message": (c_char_p, [c_void_p, c_long]),
    "suprsend_bulk_response_failed_record_json": (c_char_p, [c_void_p, c_long]),
}


# Asynchronous calls (suprsend_native.asyncio): completed on a library thread through a callback.
_ASYNC_PROTOTYPES = {
    "suprsend_track_event_async": (c_int, [c_void_p, c_void_p, RESPONSE_FN, c_void_p]),
    "suprsend_bulk_trigger_async": (c_int, [c_void_p, BULK_RESPONSE_FN, c_void_p]),
    "suprsend_options_set_max_connections": (c_int, [c_void_p, c_long]),
}


def _candidates() -> List[Tuple[str, str]]:
    """(how it was found, path or name) in search order, excluding SUPRSEND_LIBRARY."""
    found: List[Tuple[str, str]] = []
    bundled = sorted(glob.glob(os.path.join(_PKG_DIR, "_lib", "libsuprsend.so*")), key=len)
    for path in bundled:
        found.append(("bundled copy", path))
    system = ctypes.util.find_library("suprsend")
    if system:
        found.append(("system library", system))
    # src/suprsend_native -> src -> bindings/python -> bindings -> repository root
    repo_root = os.path.normpath(os.path.join(_PKG_DIR, "..", "..", "..", ".."))
    checkout = os.path.join(repo_root, "dist", "lib", "libsuprsend.so")
    if os.path.exists(checkout):
        found.append(("source checkout", checkout))
    return found


_HOW_TO = (
    "Build it with `make` in the libsuprsend repository (it produces dist/lib/libsuprsend.so), "
    "install it with `make install`, or set SUPRSEND_LIBRARY to the path of libsuprsend.so."
)


def _open() -> Tuple[ctypes.CDLL, str]:
    env = os.environ.get("SUPRSEND_LIBRARY")
    if env:
        path = os.path.abspath(os.path.expanduser(env))
        try:
            # CDLL, not PyDLL: the GIL is released during every call into the library.
            return ctypes.CDLL(path), path
        except OSError as e:
            raise ImportError(f"suprsend_native: cannot load SUPRSEND_LIBRARY={env!r}: {e}. {_HOW_TO}") from e
    errors = []
    for how, path in _candidates():
        try:
            candidate = ctypes.CDLL(path)
        except OSError as e:
            errors.append(f"{how} {path}: {e}")
            continue
        # An older copy (say an installed one behind a newer checkout) lacks functions: skip it.
        missing = [name for name in _PROTOTYPES if not hasattr(candidate, name)]
        if missing:
            errors.append(f"{how} {path}: too old, lacks {', '.join(missing[:3])}")
            continue
        return candidate, path
    detail = ("; tried " + "; ".join(errors)) if errors else ""
    raise ImportError(f"suprsend_native: libsuprsend was not found{detail}. {_HOW_TO}")


def _declare(lib: ctypes.CDLL, path: str) -> None:
    for name, (restype, argtypes) in _PROTOTYPES.items():
        try:
            fn = getattr(lib, name)
        except AttributeError as e:
            raise ImportError(f"suprsend_native: {path} does not export {name}; "
                              f"is it an older libsuprsend than {HEADER_VERSION_STRING}?") from e
        fn.restype = restype
        fn.argtypes = argtypes


def _declare_background(lib: ctypes.CDLL) -> List[str]:
    """Declares the background-delivery functions; returns the names the library lacks."""
    missing = [name for name in _BACKGROUND_PROTOTYPES if not hasattr(lib, name)]
    if missing:
        return missing
    for name, (restype, argtypes) in _BACKGROUND_PROTOTYPES.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return []


def _declare_group(lib: ctypes.CDLL, prototypes: dict) -> bool:
    """Declares a group of functions; False (nothing declared) when the library lacks one."""
    if not all(hasattr(lib, name) for name in prototypes):
        return False
    for name, (restype, argtypes) in prototypes.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return True


def _check_version(lib: ctypes.CDLL, path: str) -> Tuple[int, str]:
    number = int(lib.suprsend_version_number())
    text = (lib.suprsend_version() or b"?").decode("utf-8", "replace")
    if number // 1000000 != HEADER_VERSION_NUMBER // 1000000 or number < HEADER_VERSION_NUMBER:
        raise ImportError(f"suprsend_native: {path} is libsuprsend {text} ({number}); this binding needs "
                          f"{HEADER_VERSION_STRING} or a newer release with the same major version")
    return number, text


lib, library_path = _open()
_declare(lib, library_path)
#: The names of background-delivery functions this library lacks (empty when it has them all).
missing_background = _declare_background(lib)
HAS_BACKGROUND = not missing_background
#: True when the library builds whole events from JSON text (one call per event or per batch).
HAS_EVENT_JSON = _declare_group(lib, _JSON_EVENT_PROTOTYPES)
_declare_group(lib, _OUTBOX_EXTRA_PROTOTYPES)
#: True when the library reports a bulk's failed records by position (suprsend_bulk_response_failed_*).
HAS_TYPED_OUTCOMES = _declare_group(lib, _TYPED_OUTCOME_PROTOTYPES)
#: True when the library has the asynchronous calls (suprsend_track_event_async, ...).
HAS_ASYNC = _declare_group(lib, _ASYNC_PROTOTYPES)
version_number, version = _check_version(lib, library_path)


def last_error() -> str:
    """suprsend_last_error() for this thread, decoded."""
    raw = lib.suprsend_last_error()
    return raw.decode("utf-8", "replace") if raw else ""


def status_name(status: int) -> str:
    raw = lib.suprsend_status_name(status)
    return raw.decode("ascii", "replace") if raw else "SUPRSEND_E_UNKNOWN"


def text(raw: Optional[bytes]) -> str:
    """A string returned by the library (UTF-8, never NULL by contract) as str."""
    return raw.decode("utf-8", "replace") if raw is not None else ""


__all__ = ["lib", "library_path", "version", "version_number", "last_error", "status_name", "text"]
