"""The exceptions raised by suprsend_native.

Every error that comes from libsuprsend carries the library's message
(``suprsend_last_error()``), the status code in ``.status`` and its name in ``.status_name``;
like the official SDK's errors it also has ``.message`` and ``.status_code`` (400 for bad
input, 500 otherwise)::

    SuprsendError                      (Exception)      base class; .message, .status_code, .status, .status_name
    ├── InputValueError                (ValueError)     bad input of any kind (the official SDK's name)
    │   ├── SuprsendValidationError                     the event breaks a rule (the official SDK's name)
    │   │   ├── SuprsendTypeError      (also TypeError) a value of the wrong Python type
    │   │   ├── SuprsendArgumentError                   SUPRSEND_E_ARGUMENT: bad value, invalid UTF-8, bad option
    │   │   │   └── SuprsendConfigError                 the client's key, secret or an option is wrong
    │   │   └── EventTooLargeError                      SUPRSEND_E_TOO_LARGE: over the size limit
    │   └── SuprsendAttachmentError    (also OSError)   SUPRSEND_E_ATTACHMENT: a local file could not be read;
    │       ├── AttachmentNotFoundError    (FileNotFoundError)   with .errno and .filename, as open() would
    │       ├── AttachmentIsADirectoryError (IsADirectoryError)
    │       ├── AttachmentNotADirectoryError (NotADirectoryError)
    │       └── AttachmentPermissionError  (PermissionError)
    ├── SuprsendAPIException                            the hub answered with an error (kept for compatibility:
    │                                                   the event API reports hub errors in its results)
    ├── SuprsendClosedError                             SUPRSEND_E_CLOSED: the client was closed (or is closing)
    ├── SuprsendQueueFullError                          SUPRSEND_E_QUEUE_FULL: enqueue found the queue full
    └── SuprsendStorageError                            SUPRSEND_E_STORAGE: enqueue could not write to the outbox

The official SDK raises ``InputValueError`` for a wrong type or an empty or reserved name, and
``SuprsendValidationError`` (not a ``ValueError`` there) for what its schema refuses; here
both are ``InputValueError``, so ``except`` clauses written for either keep working. A wrong
Python type raises :class:`SuprsendTypeError`, which is also the built-in ``TypeError``. A
hub or network failure is not raised: it is reported in the result of ``track_event`` /
``trigger``, or to the ``on_delivery`` callback of events sent with ``enqueue``.
"""

from __future__ import annotations

import errno as errno_module
import os
from typing import Any, Dict, Optional, Type

from . import _clib


class SuprsendError(Exception):
    """Base class of every error raised by suprsend_native."""

    status: int
    status_name: str
    message: str
    #: As the official SDK's errors: 400 for bad input, 500 for the rest.
    status_code: int = 500

    def __init__(self, message: Optional[str] = None, status: int = _clib.E_INTERNAL) -> None:
        if message is None:
            message = _clib.status_name(status)
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

    status_code = 400

    def __init__(self, message: Optional[str] = None, status: int = _clib.E_ARGUMENT) -> None:
        super().__init__(message, status)


class SuprsendValidationError(InputValueError):
    """SUPRSEND_E_VALIDATION: the event breaks a rule of the protocol (empty or reserved name, ...).

    Also what the official SDK raises under this name (a value its schema refuses), with its
    ``error_type``.
    """

    error_type = "SuprsendValidationError"

    def __init__(self, message: Optional[str] = None, status: int = _clib.E_VALIDATION) -> None:
        super().__init__(message, status)


class SuprsendTypeError(SuprsendValidationError, TypeError):
    """A value of the wrong Python type (``distinct_id=None``, ``properties=[...]``, ...).

    The official SDK raises ``InputValueError`` or ``SuprsendValidationError`` for these;
    this is both, and the built-in ``TypeError`` as well.
    """

    def __init__(self, message: Optional[str] = None, status: int = _clib.E_ARGUMENT) -> None:
        super().__init__(message, status)


class SuprsendArgumentError(SuprsendValidationError):
    """SUPRSEND_E_ARGUMENT: a value that can never be right (bad UTF-8, malformed option, ...)."""

    def __init__(self, message: Optional[str] = None, status: int = _clib.E_ARGUMENT) -> None:
        super().__init__(message, status)


class SuprsendConfigError(SuprsendArgumentError):
    """The client cannot be made: a missing workspace key or secret, a bad URL or option.

    The official SDK's name for the same refusal.
    """

    status_code = 500


class EventTooLargeError(SuprsendValidationError):
    """SUPRSEND_E_TOO_LARGE: the serialized event (or an attachment) is over the size limit."""

    def __init__(self, message: Optional[str] = None, status: int = _clib.E_TOO_LARGE) -> None:
        super().__init__(message, status)


class SuprsendAttachmentError(InputValueError, OSError):
    """SUPRSEND_E_ATTACHMENT: a local attachment could not be read.

    Also an :class:`OSError` with ``errno``, ``strerror`` and ``filename`` when the system
    refused the file; a missing file, a directory and a refused permission raise the
    subclasses below, which are also ``FileNotFoundError``, ``IsADirectoryError`` and
    ``PermissionError``, as ``open()`` in the official SDK would.
    """

    def __init__(self, message: Optional[str] = None, status: int = _clib.E_ATTACHMENT, *,
                 errno: Optional[int] = None, filename: Optional[str] = None) -> None:
        super().__init__(message, status)
        self.errno = errno
        self.strerror = os.strerror(errno) if errno is not None else None
        self.filename = filename


class AttachmentNotFoundError(SuprsendAttachmentError, FileNotFoundError):
    """The attachment file does not exist (``errno.ENOENT``)."""


class AttachmentIsADirectoryError(SuprsendAttachmentError, IsADirectoryError):
    """The attachment path is a directory (``errno.EISDIR``)."""


class AttachmentNotADirectoryError(SuprsendAttachmentError, NotADirectoryError):
    """A part of the attachment's path is not a directory (``errno.ENOTDIR``)."""


class AttachmentPermissionError(SuprsendAttachmentError, PermissionError):
    """The attachment file may not be read (``errno.EACCES`` or ``errno.EPERM``)."""


_ATTACHMENT_BY_ERRNO: Dict[int, Type[SuprsendAttachmentError]] = {
    errno_module.ENOENT: AttachmentNotFoundError,
    errno_module.ENOTDIR: AttachmentNotADirectoryError,
    errno_module.EISDIR: AttachmentIsADirectoryError,
    errno_module.EACCES: AttachmentPermissionError,
    errno_module.EPERM: AttachmentPermissionError,
}


def attachment_error(error: OSError, path: str) -> SuprsendAttachmentError:
    """The SuprsendAttachmentError for an OSError met reading ``path``, of the matching class."""
    code = error.errno
    cls = _ATTACHMENT_BY_ERRNO.get(code, SuprsendAttachmentError) if code is not None else SuprsendAttachmentError
    reason = error.strerror or str(error)
    return cls(f"attachment {path!r}: {reason}", errno=code, filename=path)


class SuprsendAPIException(SuprsendError):
    """The hub answered with an error; the official SDK's name.

    The event API does not raise it (a refusal is reported in the result of ``track_event``
    and ``trigger``, as in the official SDK); it is here so that code naming it keeps
    working. As the official one it is made from an HTTP response (anything with
    ``status_code`` and ``text``) and keeps it in ``.response``; a message string works too.
    """

    def __init__(self, response: Any = None, status_code: Optional[int] = None) -> None:
        self.response = response
        if isinstance(response, str) or response is None:
            message = response or "the hub refused the request"
            code = status_code
        else:
            message = str(getattr(response, "text", "") or "")
            code = getattr(response, "status_code", None) if status_code is None else status_code
        super().__init__(message, _clib.E_HTTP)
        self.status_code = int(code) if isinstance(code, int) else 500


class SuprsendInvalidSchema(SuprsendError):
    """The official SDK's error for a broken JSON schema file; never raised here."""


class SuprsendMissingSchema(SuprsendError):
    """The official SDK's error for a missing JSON schema file; never raised here."""


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
