"""What the hub accepts: endpoints, headers, body parsing and the per-event Validation table
of spec/wire-protocol.md. Pure functions, no I/O."""

import base64
import binascii
import json
import re
from dataclasses import dataclass

EVENT_SUFFIX = "/v2/event/"
BULK_SUFFIX = "/v2/bulk/event/"
MAX_BULK_RECORDS = 100
MAX_IDEMPOTENCY_KEY_CHARS = 255

ALLOWED_DOLLAR_EVENTS = frozenset({
    "$identify", "$notification_delivered", "$notification_dismiss", "$notification_clicked",
    "$app_launched", "$user_login", "$user_logout",
})
# SDK-managed top-level property keys. The official SDKs add "$ss_sdk_version"; any "$ss_"
# key is treated as SDK-managed (leniency for other SDK versions).
ALLOWED_PROPERTY_KEYS = frozenset({"$attachments"})
SDK_PROPERTY_PREFIX = "$ss_"

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_TENANT = re.compile(r"[A-Za-z0-9_-]{0,64}")
_WS = re.compile(r"[ \t\n\r]*")


@dataclass
class Problem:
    """A reason to refuse a request or a record."""
    reason: str          # stable machine name, used as the key of rejected_by_reason
    message: str         # human text naming the field and the rule
    status: int = 400
    type: str = "validation_error"

    def error(self) -> dict:
        return {"message": self.message, "type": self.type}


def endpoint_kind(path: str) -> str | None:
    """'event', 'bulk' or None for a request path (no query), under any base path."""
    if path.endswith(BULK_SUFFIX):
        return "bulk"
    if path.endswith(EVENT_SUFFIX):
        return "event"
    return None


def check_content_type(value: str | None) -> Problem | None:
    """application/json, optionally with charset=utf-8 (any case, optionally quoted)."""
    bad = Problem("bad_content_type", "", 415, "unsupported_media_type")
    if value is None:
        bad.message = "Content-Type header is missing; it must be application/json"
        return bad
    parts = value.split(";")
    if parts[0].strip().lower() != "application/json":
        bad.message = f"Content-Type must be application/json, got {value!r}"
        return bad
    for param in parts[1:]:
        name, _, val = param.strip().partition("=")
        if name.strip().lower() == "charset" and val.strip().strip('"').lower() not in ("utf-8", "utf8"):
            bad.message = f"Content-Type charset must be utf-8, got {value!r}"
            return bad
    return None


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def parse_body(body: bytes):
    """Decode strict UTF-8 and strict JSON (no NaN/Infinity, no BOM). Returns (value, text)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BodyProblem(Problem("invalid_utf8", f"request body is not valid UTF-8 ({e.reason} at byte {e.start})",
                                  400, "invalid_request_error"))
    try:
        value = _DECODER.decode(text)
    except ValueError as e:
        raise BodyProblem(Problem("invalid_json", f"request body is not valid JSON: {e}", 400, "invalid_request_error"))
    return value, text


class BodyProblem(Exception):
    def __init__(self, problem: Problem):
        super().__init__(problem.message)
        self.problem = problem


def array_element_sizes(text: str) -> list[int]:
    """UTF-8 byte length of each top-level element of a JSON array text, as sent on the wire."""
    sizes = []
    idx = _WS.match(text, 0).end()
    assert text[idx] == "["
    idx = _WS.match(text, idx + 1).end()
    if text[idx] == "]":
        return sizes
    while True:
        _, end = _DECODER.raw_decode(text, idx)
        sizes.append(len(text[idx:end].encode("utf-8")))
        idx = _WS.match(text, end).end()
        if text[idx] == "]":
            return sizes
        idx = _WS.match(text, idx + 1).end()   # skip ','


def _find_lone_surrogate(value, path):
    """Path of the first string (key or value) holding a lone surrogate escape, else None."""
    def bad(s):
        try:
            s.encode("utf-8")
            return False
        except UnicodeEncodeError:
            return True
    if isinstance(value, str):
        return path if bad(value) else None
    if isinstance(value, dict):
        for k, v in value.items():
            sub = f"{path}.{k}" if path else k
            if bad(k):
                return sub
            found = _find_lone_surrogate(v, sub)
            if found:
                return found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found = _find_lone_surrogate(v, f"{path}[{i}]")
            if found:
                return found
    return None


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _short(v, limit=60) -> str:
    r = json.dumps(v, ensure_ascii=True)
    return r if len(r) <= limit else r[:limit] + "..."


def _has_reserved_prefix(name: str) -> bool:
    low = name.lower()
    return low.startswith("$") or low.startswith("ss_")


def validate_attachments(att) -> Problem | None:
    field = "properties.$attachments"
    if not isinstance(att, list):
        return Problem("invalid_attachments", f"{field}: must be an array of attachment objects")
    for i, a in enumerate(att):
        f = f"{field}[{i}]"
        if not isinstance(a, dict):
            return Problem("invalid_attachments", f"{f}: must be an object")
        url, data = a.get("url"), a.get("data")
        if (url is None) == (data is None):
            return Problem("invalid_attachments", f"{f}: exactly one of 'url' or 'data' must be set")
        if url is not None:
            if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")) \
                    or len(url) <= len("https://"):
                return Problem("invalid_attachments", f"{f}.url: must be an http:// or https:// URL string")
        else:
            if not isinstance(data, str) or not data:
                return Problem("invalid_attachments", f"{f}.data: must be a non-empty base64 string")
            try:
                base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                return Problem("invalid_attachments", f"{f}.data: must be standard base64 with padding")
        for key in ("filename", "contentType"):
            if a.get(key) is not None and not isinstance(a[key], str):
                return Problem("invalid_attachments", f"{f}.{key}: must be a string or null")
        if a.get("ignore_if_error") is not None and not isinstance(a["ignore_if_error"], bool):
            return Problem("invalid_attachments", f"{f}.ignore_if_error: must be true or false")
    return None


def idempotency_key_of(event: dict) -> str | None:
    """The effective (trimmed, non-empty) idempotency key of a validated event, or None."""
    key = event.get("$idempotency_key")
    if isinstance(key, str) and key.strip():
        return key.strip()
    return None


def validate_event(event, workspace_key: str, size: int, max_bytes: int) -> Problem | None:
    """The Validation table, in a fixed order; the first broken rule is reported."""
    if not isinstance(event, dict):
        return Problem("invalid_record", f"event must be a JSON object, got {type(event).__name__}")
    if size > max_bytes:
        return Problem("event_too_large", f"event size: {size} bytes is over the limit of {max_bytes} bytes")
    where = _find_lone_surrogate(event, "")
    if where:
        return Problem("invalid_utf8", f"{where}: not valid UTF-8 (lone surrogate \\u escape)")

    # $insert_id
    if "$insert_id" not in event:
        return Problem("invalid_insert_id", "$insert_id: required field is missing")
    v = event["$insert_id"]
    if not isinstance(v, str) or not _UUID.fullmatch(v):
        return Problem("invalid_insert_id", f"$insert_id: must be a UUID string, got {_short(v)}")
    # $time
    if "$time" not in event:
        return Problem("invalid_time", "$time: required field is missing")
    v = event["$time"]
    if not _is_int(v) or v <= 0:
        return Problem("invalid_time", f"$time: must be a positive integer timestamp in milliseconds, got {_short(v)}")
    # event
    if "event" not in event:
        return Problem("invalid_event", "event: required field is missing")
    v = event["event"]
    if not isinstance(v, str):
        return Problem("invalid_event", f"event: must be a string, got {_short(v)}")
    name = v.strip()
    if len(name) < 2:
        return Problem("invalid_event", f"event: must be at least 2 characters after trimming, got {_short(v)}")
    if _has_reserved_prefix(name) and name not in ALLOWED_DOLLAR_EVENTS:
        return Problem("reserved_event_name",
                       f"event: names starting with '$' or 'ss_' are reserved (allowed: "
                       f"{', '.join(sorted(ALLOWED_DOLLAR_EVENTS))}), got {_short(v)}")
    # env
    if "env" not in event:
        return Problem("invalid_env", "env: required field is missing")
    v = event["env"]
    if not isinstance(v, str):
        return Problem("invalid_env", f"env: must be a string, got {_short(v)}")
    if v != workspace_key:
        return Problem("env_mismatch", f"env: must equal the workspace key of the Authorization header, got {_short(v)}")
    # distinct_id
    if "distinct_id" not in event:
        return Problem("invalid_distinct_id", "distinct_id: required field is missing")
    v = event["distinct_id"]
    if not isinstance(v, str) or not v.strip():
        return Problem("invalid_distinct_id", f"distinct_id: must be a non-empty string after trimming, got {_short(v)}")
    # properties
    if "properties" not in event:
        return Problem("invalid_properties", "properties: required field is missing (use {} for none)")
    props = event["properties"]
    if not isinstance(props, dict):
        return Problem("invalid_properties", f"properties: must be a JSON object, got {_short(props)}")
    for key in props:
        if _has_reserved_prefix(key) and key not in ALLOWED_PROPERTY_KEYS \
                and not key.startswith(SDK_PROPERTY_PREFIX):
            return Problem("reserved_property_key",
                           f"properties.{key}: top-level property keys must not start with '$' or 'ss_' "
                           f"(only SDK-managed $attachments and $ss_* are allowed)")
    if "$attachments" in props:
        p = validate_attachments(props["$attachments"])
        if p:
            return p
    # $idempotency_key (optional; null or blank means not set)
    v = event.get("$idempotency_key")
    if v is not None:
        if not isinstance(v, str):
            return Problem("invalid_idempotency_key", f"$idempotency_key: must be a string, got {_short(v)}")
        if len(v.strip()) > MAX_IDEMPOTENCY_KEY_CHARS:
            return Problem("invalid_idempotency_key",
                           f"$idempotency_key: must be at most {MAX_IDEMPOTENCY_KEY_CHARS} characters after "
                           f"trimming, got {len(v.strip())}")
    # tenant_id (optional; null means not set)
    v = event.get("tenant_id")
    if v is not None:
        if not isinstance(v, str) or not _TENANT.fullmatch(v):
            return Problem("invalid_tenant_id",
                           f"tenant_id: must be at most 64 characters of A-Z a-z 0-9 _ -, got {_short(v)}")
    return None
