"""The exceptions raised by suprsend_native.

Every error that comes from libsuprsend carries the library's message
(``suprsend_last_error()``), the status code in ``.status`` and its name in ``.status_name``::

    SuprsendError                      (Exception)      base class; .status, .status_name, .message
    ├── InputValueError                (ValueError)     bad input of any kind (the official SDK's name)
    │   ├── SuprsendArgumentError                       SUPRSEND_E_ARGUMENT: bad value, invalid UTF-8, bad option
    │   ├── SuprsendValidationError                     SUPRSEND_E_VALIDATION: the event breaks a protocol rule
    │   ├── EventTooLargeError                          SUPRSEND_E_TOO_LARGE: over the size limit
    │   └── SuprsendAttachmentError    (also OSError)   SUPRSEND_E_ATTACHMENT: a local file could not be read
    ├── SuprsendClosedError                             SUPRSEND_E_CLOSED: the client was closed (or is closing)
    ├── SuprsendQueueFullError                          SUPRSEND_E_QUEUE_FULL: enqueue found the queue full
    └── SuprsendStorageError                            SUPRSEND_E_STORAGE: enqueue could not write to the outbox

Wrong Python types raise the built-in :class:`TypeError` instead. A hub or network failure
is not raised: it is reported in the result of ``track_event`` / ``trigger``, or to the
``on_delivery`` callback of events sent with ``enqueue``.
"""

from __future__ import annotations

from typing import Dict, Optional, Type

from . import _clib


class SuprsendError(Exception):
    """Base class of every error raised by suprsend_native."""

    status: int
    status_name: str
    message: str

    def __init__(self, message: str, status: int = _clib.E_INTERNAL) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.status_name = _clib.status_name(status)

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status={self.status_name})"


class InputValueError(SuprsendError, ValueError):
    """Bad input; the official SDK's name, so ``except InputValueError`` keeps working."""


class SuprsendArgumentError(InputValueError):
    """SUPRSEND_E_ARGUMENT: a value that can never be right (bad UTF-8, malformed option, ...)."""


class SuprsendValidationError(InputValueError):
    """SUPRSEND_E_VALIDATION: the event breaks a rule of the protocol (empty or reserved name, ...)."""


class EventTooLargeError(InputValueError):
    """SUPRSEND_E_TOO_LARGE: the serialized event (or an attachment) is over the size limit."""


class SuprsendAttachmentError(InputValueError, OSError):
    """SUPRSEND_E_ATTACHMENT: a local attachment could not be read.

    Also an :class:`OSError`, as the official SDK lets the ``OSError`` of ``open()`` through.
    """


class SuprsendClosedError(SuprsendError):
    """SUPRSEND_E_CLOSED: the client (or bulk) was closed and cannot be used any more."""


class SuprsendQueueFullError(SuprsendError):
    """SUPRSEND_E_QUEUE_FULL: ``enqueue`` found the background queue full; nothing was queued.

    The queue holds ``queue_capacity`` events, counting those waiting for a retry and those
    in a request now. Try again later, or ``flush()``.
    """


class SuprsendStorageError(SuprsendError):
    """SUPRSEND_E_STORAGE: ``enqueue`` could not commit the event to the outbox; nothing was queued."""


_BY_STATUS: Dict[int, Type[SuprsendError]] = {
    _clib.E_ARGUMENT: SuprsendArgumentError,
    _clib.E_VALIDATION: SuprsendValidationError,
    _clib.E_TOO_LARGE: EventTooLargeError,
    _clib.E_ATTACHMENT: SuprsendAttachmentError,
    _clib.E_CLOSED: SuprsendClosedError,
    _clib.E_QUEUE_FULL: SuprsendQueueFullError,
    _clib.E_STORAGE: SuprsendStorageError,
}


def error_for(status: int, message: Optional[str] = None) -> SuprsendError:
    """The exception for a status returned by the library.

    Call it right after the failing call: it reads ``suprsend_last_error()`` of this thread
    when ``message`` is not given.
    """
    if message is None:
        message = _clib.last_error() or _clib.status_name(status)
    cls = _BY_STATUS.get(status, SuprsendError)
    return cls(message, status)


def check(status: int) -> None:
    """Raises the matching exception unless status is SUPRSEND_OK."""
    if status != _clib.OK:
        raise error_for(status)
