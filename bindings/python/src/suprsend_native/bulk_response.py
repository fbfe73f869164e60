"""BulkResponse: the merged outcome of a bulk of events."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

__all__ = ["BulkResponse"]


class BulkResponse:
    """The outcome of ``BulkEvents.trigger()``, with the attributes of the official SDK's.

    Attributes:
        status: ``"success"`` (no failures, also for an empty bulk), ``"partial"`` or ``"fail"``
            (no successes).
        total: the number of events appended, valid or not.
        success: how many the hub accepted.
        failure: how many failed (invalid ones included: they are never sent).
        failed_records: one dict per failed event, in the order appended:
            ``{"record": <event object>, "error": "<message>", "code": <int>}``.
        warnings: always empty; kept for compatibility with the official SDK.
    """

    status: Optional[str]
    total: int
    success: int
    failure: int
    failed_records: List[Dict[str, Any]]
    warnings: List[str]

    def __init__(self, status: Optional[str] = None, total: int = 0, success: int = 0, failure: int = 0,
                 failed_records: Optional[List[Dict[str, Any]]] = None,
                 warnings: Optional[List[str]] = None) -> None:
        self.status = status
        self.total = total
        self.success = success
        self.failure = failure
        self.failed_records = list(failed_records or [])
        self.warnings = list(warnings or [])

    def __str__(self) -> str:
        return (f"BulkResponse<status: {self.status} | total: {self.total} | success: {self.success} | "
                f"failure: {self.failure} | warnings: {len(self.warnings)}>")

    def __repr__(self) -> str:
        return (f"BulkResponse(status={self.status!r}, total={self.total}, success={self.success}, "
                f"failure={self.failure}, failed_records=<{len(self.failed_records)} records>)")

    def as_dict(self) -> Dict[str, Any]:
        """All attributes as a plain dict."""
        return {"status": self.status, "total": self.total, "success": self.success, "failure": self.failure,
                "failed_records": self.failed_records, "warnings": self.warnings}
