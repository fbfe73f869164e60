"""suprsend_native: SuprSend event tracking for Python, on the libsuprsend C library.

A drop-in for the event API of the official ``suprsend-py-sdk``: change the import ::

    # from suprsend import Suprsend, Event
    from suprsend_native import Suprsend, Event

    client = Suprsend("WORKSPACE_KEY", "WORKSPACE_SECRET")
    result = client.track_event(Event("user_1", "product_purchased", {"spend": 10}))
    # {"success": True, "status": "success", "status_code": 202, "message": "...", "raw_response": {...}}

    bulk = client.bulk_events.new_instance()
    bulk.append(Event("user_1", "e1"), Event("user_2", "e2"))
    print(bulk.trigger())      # BulkResponse<status: success | total: 2 | success: 2 | failure: 0 | warnings: 0>

    # Background delivery: returns at once; each event's fate goes to on_delivery
    client = Suprsend("WORKSPACE_KEY", "WORKSPACE_SECRET", on_delivery=print)
    client.enqueue(Event("user_1", "product_purchased"))
    client.close()             # delivers what is queued (within shutdown_timeout)

The shared library is found through ``SUPRSEND_LIBRARY``, a copy bundled in the package,
the system's library path, or a source checkout's ``dist/lib/libsuprsend.so``.
"""

from __future__ import annotations

import logging

from ._clib import library_path, version as library_version, version_number as library_version_number
from .bulk_response import BulkResponse
from .client import BulkEvents, BulkEventsFactory, Suprsend
from .errors import (
    AttachmentIsADirectoryError,
    AttachmentNotADirectoryError,
    AttachmentNotFoundError,
    AttachmentPermissionError,
    EventTooLargeError,
    InputValueError,
    SuprsendAPIException,
    SuprsendArgumentError,
    SuprsendAttachmentError,
    SuprsendClosedError,
    SuprsendConfigError,
    SuprsendError,
    SuprsendQueueFullError,
    SuprsendStorageError,
    SuprsendTypeError,
    SuprsendValidationError,
)
from .event import Event


class AppInfo(dict):
    """The official SDK's ``AppInfo`` (a dict passed as ``Suprsend(app_info=...)``); accepted and ignored."""


__version__ = "0.1.0"

logging.getLogger("suprsend_native").addHandler(logging.NullHandler())

__all__ = [
    "Suprsend",
    "Event",
    "AppInfo",
    "BulkResponse",
    "BulkEvents",
    "BulkEventsFactory",
    "SuprsendError",
    "InputValueError",
    "SuprsendValidationError",
    "SuprsendConfigError",
    "SuprsendAPIException",
    "SuprsendTypeError",
    "SuprsendArgumentError",
    "EventTooLargeError",
    "SuprsendAttachmentError",
    "AttachmentNotFoundError",
    "AttachmentIsADirectoryError",
    "AttachmentNotADirectoryError",
    "AttachmentPermissionError",
    "SuprsendClosedError",
    "SuprsendQueueFullError",
    "SuprsendStorageError",
    "library_path",
    "library_version",
    "library_version_number",
    "__version__",
]
