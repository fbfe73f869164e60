"""Request signatures and HTTP dates, per spec/wire-protocol.md "Signature".

    string_to_sign = METHOD "\n" md5_hex(body) "\n" CONTENT_TYPE "\n" DATE "\n" REQUEST_URI
    signature      = base64(HMAC-SHA256(key=workspace_secret, msg=string_to_sign))
"""

import base64
import calendar
import datetime
import email.utils
import hashlib
import hmac
import re
import time

__all__ = [
    "md5_hex", "string_to_sign", "sign", "verify",
    "format_http_date", "parse_http_date",
]


def md5_hex(body: bytes) -> str:
    """Lower-case hex MD5 of the exact body bytes; the empty string for an empty body."""
    return hashlib.md5(body).hexdigest() if body else ""


def string_to_sign(method: str, body: bytes, content_type: str, date: str, request_uri: str) -> str:
    return "\n".join([method, md5_hex(body), content_type, date, request_uri])


def sign(secret: str, method: str, body: bytes, content_type: str, date: str, request_uri: str) -> str:
    msg = string_to_sign(method, body, content_type, date, request_uri)
    digest = hmac.new(secret.encode("utf-8"), msg.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(secret: str, signature: str, method: str, body: bytes, content_type: str,
           date: str, request_uri: str) -> bool:
    expected = sign(secret, method, body, content_type, date, request_uri)
    return hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8", "replace"))


def format_http_date(ts: float | None = None) -> str:
    """RFC 1123 date in GMT with English names, e.g. 'Fri, 27 Nov 2026 10:00:00 GMT'."""
    return email.utils.formatdate(time.time() if ts is None else ts, usegmt=True)


_MONTHS = {m: i for i, m in enumerate(
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], start=1)}
_RFC1123 = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{1,2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"(\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT")


def parse_http_date(value: str) -> float | None:
    """Parse a strict RFC 1123 GMT date; return a Unix timestamp or None when unparsable.

    English day and month names, 4-digit year, the literal zone 'GMT'. The day-of-week
    name is not cross-checked against the date.
    """
    m = _RFC1123.fullmatch(value)
    if not m:
        return None
    day, mon, year, hh, mm, ss = m.groups()
    fields = (int(year), _MONTHS[mon], int(day), int(hh), int(mm), int(ss))
    # Reject impossible values (31 Feb, 25:00:00, second 61 ...).
    try:
        datetime.datetime(*fields)
    except ValueError:
        return None
    return float(calendar.timegm(fields + (0, 0, 0)))
