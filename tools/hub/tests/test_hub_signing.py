"""The signer against the shared vectors, and the date parser."""

import json
import os

import pytest

from hubtest_support import HUB_DIR
from suprsend_hub.signing import format_http_date, md5_hex, parse_http_date, sign, string_to_sign, verify

# ../shared beside the repository (tools/hub -> the repository root -> its parent).
VECTORS = os.path.join(os.path.dirname(os.path.dirname(HUB_DIR)), "..", "shared", "vectors", "signatures.json")
with open(VECTORS) as f:
    VECTOR_LIST = json.load(f)["vectors"]


@pytest.mark.parametrize("v", VECTOR_LIST, ids=lambda v: v["date"])
def test_vector(v):
    body = v["body"].encode("utf-8")
    assert md5_hex(body) == v["body_md5"]
    assert string_to_sign(v["method"], body, v["content_type"], v["date"], v["request_uri"]) == v["string_to_sign"]
    assert sign(v["secret"], v["method"], body, v["content_type"], v["date"], v["request_uri"]) == v["signature"]
    assert verify(v["secret"], v["signature"], v["method"], body, v["content_type"], v["date"], v["request_uri"])
    assert not verify(v["secret"] + "x", v["signature"], v["method"], body, v["content_type"], v["date"],
                      v["request_uri"])
    assert not verify(v["secret"], v["signature"], v["method"], body + b" ", v["content_type"], v["date"],
                      v["request_uri"])


def test_md5_of_empty_body_is_empty_string():
    assert md5_hex(b"") == ""
    assert string_to_sign("POST", b"", "application/json", "D", "/v2/event/") == "POST\n\napplication/json\nD\n/v2/event/"


def test_parse_http_date():
    assert parse_http_date("Fri, 27 Nov 2026 10:00:00 GMT") == 1795773600.0
    assert parse_http_date(format_http_date(1795773600)) == 1795773600.0
    for bad in ["Fri, 27 Nov 2026 10:00:00 UTC", "Fri, 27 Nov 2026 10:00:00 +0000", "2026-11-27T10:00:00Z",
                "Fri, 31 Feb 2026 10:00:00 GMT", "Fri, 27 Nov 2026 25:00:00 GMT", "", "Fri 27 Nov 2026 10:00:00 GMT",
                "Fre, 27 Nov 2026 10:00:00 GMT", "Fri, 27 nov 2026 10:00:00 GMT"]:
        assert parse_http_date(bad) is None, bad
