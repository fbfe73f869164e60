"""Test support for the hub: run tools/hub/suprsend-hub as a subprocess and talk to it with http.client.

(A uniquely named module, so that it cannot clash with other folders' conftest.py.)"""

import http.client
import json
import os
import subprocess
import sys
import time
import uuid

HUB_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HUB_SCRIPT = os.path.join(HUB_DIR, "suprsend-hub")
sys.path.insert(0, HUB_DIR)

from suprsend_hub.signing import format_http_date, sign  # noqa: E402

KEY = "ws_key_0123456789abcdef"      # >= 20 chars: the official SDK insists on that
SECRET = "ws_secret_value"
KEY2 = "second_workspace_key_xyz"
SECRET2 = "second-secret"
CT = "application/json; charset=utf-8"


class HubProcess:
    def __init__(self, tmp_path, *args, client_context=None):
        """client_context: an ssl.SSLContext for a hub started with --tls-cert (conn() is then HTTPS)."""
        self.client_context = client_context
        self.port_file = os.path.join(str(tmp_path), f"port-{uuid.uuid4().hex}")
        self.log = open(os.path.join(str(tmp_path), f"hub-{uuid.uuid4().hex}.log"), "w+")
        self.proc = subprocess.Popen([sys.executable, HUB_SCRIPT, "--port", "0", "--port-file", self.port_file,
                                      *args], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("hub did not start: " + self.output())
            time.sleep(0.02)
        with open(self.port_file) as f:
            self.port = int(f.read())

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.log.close()

    # --- client helpers -------------------------------------------------------------------------
    def conn(self, timeout=10) -> http.client.HTTPConnection:
        if self.client_context is not None:
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                               context=self.client_context)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=b"", headers=None, conn=None):
        """Returns (status, headers, parsed JSON or text)."""
        own = conn is None
        c = conn or self.conn()
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            try:
                parsed = json.loads(data)
            except ValueError:
                parsed = data.decode("utf-8", "replace")
            return r.status, r.headers, parsed
        finally:
            if own:
                c.close()

    def control(self, method, path, payload=None):
        body = b"" if payload is None else json.dumps(payload).encode()
        status, _, data = self.request(method, path, body, {"Content-Type": "application/json"})
        assert status == 200, data
        return data

    def stats(self):
        return self.control("GET", "/_hub/stats")

    def events(self):
        return self.control("GET", "/_hub/events")

    def reset(self):
        self.control("POST", "/_hub/reset")

    def faults(self, spec):
        return self.control("POST", "/_hub/faults", spec)

    def send(self, payload, path="/v2/event/", key=KEY, secret=SECRET, date=None, content_type=CT,
             conn=None, headers=None, sign_uri=None, sign_body=None, omit=()):
        """Sign and send an event API request. payload: object (JSON-encoded) or bytes."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
        date = format_http_date() if date is None else date
        sig = sign(secret, "POST", body if sign_body is None else sign_body, content_type, date,
                   path if sign_uri is None else sign_uri)
        h = {"Content-Type": content_type, "Date": date, "Authorization": f"{key}:{sig}"}
        for name in omit:
            h.pop(name, None)
        h.update(headers or {})
        return self.request("POST", path, body, h, conn=conn)


def make_event(key=KEY, **over):
    ev = {
        "$insert_id": str(uuid.uuid4()),
        "$time": int(time.time() * 1000),
        "event": "product_purchased",
        "env": key,
        "distinct_id": "user_1",
        "properties": {"k1": "v1", "$ss_sdk_version": "tests"},
    }
    for k, v in over.items():
        k = {"insert_id": "$insert_id", "time": "$time", "idempotency_key": "$idempotency_key"}.get(k, k)
        if v is DROP:
            ev.pop(k, None)
        else:
            ev[k] = v
    return ev


DROP = object()
