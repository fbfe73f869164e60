"""HTTP server: the event API, the /_hub control API, and the command line."""

import argparse
import ipaddress
import json
import os
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from . import __version__
from .faults import FaultPlan, Stalls
from .protocol import (MAX_BULK_RECORDS, BodyProblem, Problem, array_element_sizes, check_content_type,
                       endpoint_kind, idempotency_key_of, parse_body, validate_event)
from .signing import parse_http_date, verify, string_to_sign
from .store import Store

DEMO_WORKSPACE = ("demo_key", "demo_secret")
RECORDED_HEADERS = ("Host", "Content-Type", "Content-Length", "Transfer-Encoding", "Date", "Authorization",
                    "User-Agent", "X-Suprsend-Client-User-Agent")


class Hub:
    """Shared state: configuration, the store and the fault plan."""

    def __init__(self, workspaces: dict, db_path=None, max_clock_skew_s=900.0, max_event_bytes=102400,
                 max_body_bytes=16 * 1024 * 1024, idempotency_window_s=86400.0, verbose=False):
        self.workspaces = workspaces
        self.store = Store(db_path, idempotency_window_s)
        self.faults = FaultPlan()
        self.stalls = Stalls()
        self.max_clock_skew_s = max_clock_skew_s
        self.max_event_bytes = max_event_bytes
        self.max_body_bytes = max_body_bytes
        self.verbose = verbose

    def reset(self):
        self.faults.clear()
        self.store.reset()

    # --- the checks of the event API ------------------------------------------------------
    def authenticate(self, method, uri, headers, body) -> tuple[str | None, Problem | None]:
        """Returns (workspace_key, None) or (workspace_key_or_None, Problem)."""
        def fail(reason, message):
            return Problem(reason, message, 401, "authentication_error")
        auth = headers.get("Authorization")
        if auth is None:
            return None, fail("missing_authorization", "Authorization header is missing")
        key, sep, signature = auth.strip().partition(":")
        if not sep or not key or not signature:
            return None, fail("malformed_authorization",
                              "Authorization header must be '<workspace_key>:<signature>'")
        secret = self.workspaces.get(key)
        if secret is None:
            return None, fail("unknown_workspace", f"unknown workspace key {key!r}")
        date = headers.get("Date")
        if date is None:
            return key, fail("missing_date", "Date header is missing")
        ts = parse_http_date(date)
        if ts is None:
            return key, fail("bad_date", f"Date header is not an RFC 1123 GMT date "
                                         f"(like 'Fri, 27 Nov 2026 10:00:00 GMT'): {date!r}")
        skew = ts - time.time()
        if skew < -self.max_clock_skew_s:
            return key, fail("stale_date", f"Date header is {int(-skew)}s in the past; "
                                           f"the allowed clock skew is {self.max_clock_skew_s:g}s")
        if skew > self.max_clock_skew_s:
            return key, fail("future_date", f"Date header is {int(skew)}s in the future; "
                                            f"the allowed clock skew is {self.max_clock_skew_s:g}s")
        content_type = headers.get("Content-Type", "")
        if not verify(secret, signature, method, body, content_type, date, uri):
            expected = string_to_sign(method, body, content_type, date, uri)
            return key, fail("bad_signature", "signature mismatch: the hub signed "
                                              + json.dumps(expected) + " with the workspace secret")
        return key, None


class HubServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    # How long a new connection may take over its TLS handshake before it is closed.
    tls_handshake_timeout_s = 10.0

    def __init__(self, address, hub: Hub, ssl_context: ssl.SSLContext | None = None):
        self.hub = hub
        self.ssl_context = ssl_context
        host = address[0]
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__(address, HubHandler)

    def server_bind(self):
        # Skip HTTPServer's getfqdn() (a DNS lookup) - not needed here.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request, client_address):
        # Called once per accepted TCP connection, not per HTTP request.
        self.hub.store.count_connection()
        super().process_request(request, client_address)

    def finish_request(self, request, client_address):
        # Runs on the connection's own thread. With TLS, the handshake happens here (not in the
        # accepting thread, which a slow or silent client would otherwise hold up), and the
        # handler then reads and writes through the TLS socket: keep-alive works as over TCP.
        if self.ssl_context is None:
            super().finish_request(request, client_address)
            return
        try:
            request.settimeout(self.tls_handshake_timeout_s)
            tls = self.ssl_context.wrap_socket(request, server_side=True)   # takes over the descriptor
            tls.settimeout(None)
        except (ssl.SSLError, OSError) as e:
            # e.g. the client refused the hub's certificate and sent an alert
            if self.hub.verbose:
                sys.stderr.write(f"{client_address[0]} - TLS handshake failed: {e}\n")
            return
        try:
            super().finish_request(tls, client_address)
        except (ssl.SSLError, ConnectionError) as e:
            if self.hub.verbose:
                sys.stderr.write(f"{client_address[0]} - TLS connection ended: {e}\n")
        finally:
            # No close_notify (SSL_shutdown could wait for the client's); the FIN ends it.
            try:
                tls.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            tls.close()


class ConnectionGone(Exception):
    pass


class HubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "suprsend-hub/" + __version__
    sys_version = ""
    disable_nagle_algorithm = True      # small header + body writes: avoid Nagle/delayed-ACK stalls

    @property
    def hub(self) -> Hub:
        return self.server.hub

    def log_message(self, fmt, *args):
        if self.hub.verbose:
            sys.stderr.write("%s - %s\n" % (self.address_string(), fmt % args))

    def address_string(self):
        return str(self.client_address[0])

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_PATCH(self):
        self._dispatch("PATCH")

    # --- plumbing -----------------------------------------------------------------------------
    def _read_body(self) -> bytes:
        te = self.headers.get("Transfer-Encoding")
        if te is not None and "chunked" in te.lower():
            return self._read_chunked()
        cl = self.headers.get("Content-Length")
        if cl is None:
            return b""
        try:
            n = int(cl)
            if n < 0:
                raise ValueError
        except ValueError:
            raise BodyProblem(Problem("bad_content_length", f"invalid Content-Length {cl!r}", 400,
                                      "invalid_request_error"))
        if n > self.hub.max_body_bytes:
            raise BodyProblem(Problem("body_too_large", f"request body of {n} bytes is over the hub's limit "
                                      f"of {self.hub.max_body_bytes}", 413, "invalid_request_error"))
        data = self.rfile.read(n)
        if len(data) < n:
            raise ConnectionGone()
        return data

    def _read_chunked(self) -> bytes:
        parts, total = [], 0
        bad = lambda m: BodyProblem(Problem("bad_chunked_body", m, 400, "invalid_request_error"))
        while True:
            line = self.rfile.readline(1024)
            if not line:
                raise ConnectionGone()
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise bad("malformed chunk size line in chunked body")
            if size == 0:
                while True:  # trailers up to the empty line
                    t = self.rfile.readline(8192)
                    if not t:
                        raise ConnectionGone()
                    if t in (b"\r\n", b"\n"):
                        return b"".join(parts)
            total += size
            if total > self.hub.max_body_bytes:
                raise BodyProblem(Problem("body_too_large", "chunked body is over the hub's limit", 413,
                                          "invalid_request_error"))
            chunk = self.rfile.read(size)
            if len(chunk) < size:
                raise ConnectionGone()
            parts.append(chunk)
            if self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise bad("chunk not followed by CRLF")

    def _send_json(self, status: int, payload, headers: dict | None = None):
        body = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _send_error_shape(self, status: int, message: str, type_: str, headers=None):
        self._send_json(status, {"status": "error", "error": {"message": message, "type": type_}}, headers)

    def _drop(self):
        """Close the connection without answering."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # --- routing ------------------------------------------------------------------------------
    def _dispatch(self, method: str):
        uri = self.path
        if uri.startswith(("http://", "https://")):   # absolute-form request target
            parts = urlsplit(uri)
            uri = parts.path + ("?" + parts.query if parts.query else "")
        path = uri.split("?", 1)[0]
        try:
            body = self._read_body()
        except BodyProblem as e:
            self.close_connection = True
            self._send_error_shape(e.problem.status, e.problem.message, e.problem.type)
            return
        except ConnectionGone:
            self.close_connection = True
            return
        if path.startswith("/_hub/") or path == "/_hub":
            self._control(method, path, uri, body)
            return
        kind = endpoint_kind(path)
        if kind is None:
            self._send_error_shape(404, f"no such endpoint: {method} {path} (the event API is "
                                        f"POST {{base}}v2/event/ and POST {{base}}v2/bulk/event/)", "not_found")
            return
        self._event_api(method, uri, kind, body)

    # --- the event API --------------------------------------------------------------------------
    def _event_api(self, method, uri, kind, body):
        self.hub.stalls.enter()
        try:
            self._event_api_counted(method, uri, kind, body)
        finally:
            self.hub.stalls.leave()

    def _event_api_counted(self, method, uri, kind, body):
        hub, store = self.hub, self.hub.store
        recorded = {h: self.headers[h] for h in RECORDED_HEADERS if h in self.headers}
        rid = store.begin_request(self.client_address[0], method, uri, kind, recorded, body)
        if method != "POST":
            store.reject(rid, None, None, 405, "method_not_allowed", f"{method} is not allowed; use POST")
            store.finish_request(rid, 405)
            self._send_error_shape(405, f"{method} is not allowed on {uri}; use POST", "invalid_request_error",
                                   {"Allow": "POST"})
            return
        fault = hub.faults.next()
        label = fault.label if fault else None
        if fault and fault.delay_ms and hub.stalls.sleep(fault.delay_ms / 1000.0):
            # released early with {"drop": true}: nothing processed, no answer
            store.finish_request(rid, None, fault=label)
            self._drop()
            return
        if fault and fault.drop == "before_processing":
            store.finish_request(rid, None, fault=label)
            self._drop()
            return
        if fault and fault.status is not None:
            headers = {} if fault.retry_after is None else {"Retry-After": fault.retry_after}
            store.finish_request(rid, fault.status, fault=label)
            self._send_error_shape(fault.status, f"injected fault: HTTP {fault.status}",
                                   _status_type(fault.status), headers)
            return

        status, payload, workspace = self._process(rid, method, uri, kind, body,
                                                   fault.refuse_records if fault else frozenset())
        store.finish_request(rid, status, workspace, fault=label)
        if fault and fault.drop == "after_processing":
            self._drop()
            return
        self._send_json(status, payload)

    def _process(self, rid, method, uri, kind, body, refuse_records=frozenset()):
        """Checks and records one event API request. Returns (status, payload, workspace).

        refuse_records: indexes of records to refuse by injected fault (single event: {0})."""
        injected = {"message": "injected fault: record refused", "type": "validation_error"}
        hub, store = self.hub, self.hub.store

        def refuse(p: Problem, workspace):
            store.reject(rid, None, workspace, p.status, p.reason, p.message)
            return p.status, {"status": "error", "error": p.error()}, workspace

        workspace, problem = hub.authenticate(method, uri, self.headers, body)
        if problem:
            return refuse(problem, workspace)
        problem = check_content_type(self.headers.get("Content-Type"))
        if problem:
            return refuse(problem, workspace)
        try:
            value, text = parse_body(body)
        except BodyProblem as e:
            return refuse(e.problem, workspace)

        if kind == "event":
            if not isinstance(value, dict):
                return refuse(Problem("body_not_object", "request body must be one JSON event object",
                                      400, "invalid_request_error"), workspace)
            if 0 in refuse_records:
                return 400, {"status": "error", "error": injected}, workspace
            p = validate_event(value, workspace, len(body), hub.max_event_bytes)
            if p:
                store.reject(rid, None, workspace, p.status, p.reason, p.message, value)
                return p.status, {"status": "error", "error": p.error()}, workspace
            message_id, _dup = store.accept(rid, None, workspace, value, idempotency_key_of(value))
            return 202, {"status": "success", "message_id": message_id}, workspace

        if not isinstance(value, list):
            return refuse(Problem("body_not_array", "bulk request body must be a JSON array of event objects",
                                  400, "invalid_request_error"), workspace)
        if len(value) > MAX_BULK_RECORDS:
            return refuse(Problem("too_many_records", f"bulk request has {len(value)} records; "
                                                      f"at most {MAX_BULK_RECORDS} are allowed",
                                  400, "validation_error"), workspace)
        sizes = array_element_sizes(text)
        records = []
        for i, (event, size) in enumerate(zip(value, sizes)):
            if i in refuse_records:
                records.append({"status": "error", "error": injected, "status_code": 400})
                continue
            p = validate_event(event, workspace, size, hub.max_event_bytes)
            if p:
                store.reject(rid, i, workspace, p.status, p.reason, p.message, event)
                records.append({"status": "error", "error": p.error(), "status_code": p.status})
                continue
            message_id, _dup = store.accept(rid, i, workspace, event, idempotency_key_of(event))
            records.append({"status": "success", "message_id": message_id, "status_code": 202})
        return 202, {"status": "success", "records": records}, workspace

    # --- the control API -------------------------------------------------------------------------
    def _control(self, method, path, uri, body):
        if not _is_loopback(self.client_address[0]):
            self._send_error_shape(403, "the /_hub control API answers loopback clients only", "forbidden")
            return
        store = self.hub.store
        query = parse_qs(urlsplit(uri).query)
        route = (method, path.rstrip("/"))
        if route == ("GET", "/_hub/stats"):
            self._send_json(200, store.stats())
        elif route == ("GET", "/_hub/events"):
            self._send_json(200, store.events((query.get("workspace") or [None])[0]))
        elif route == ("GET", "/_hub/duplicates"):
            self._send_json(200, store.duplicates())
        elif route == ("GET", "/_hub/rejections"):
            self._send_json(200, store.rejections())
        elif route == ("GET", "/_hub/faults"):
            self._send_json(200, self.hub.faults.describe())
        elif route == ("GET", "/_hub/inflight"):
            self._send_json(200, self.hub.stalls.describe())
        elif route == ("POST", "/_hub/release"):
            try:
                spec = json.loads(body.decode("utf-8") or "{}")
                if not isinstance(spec, dict) or set(spec) - {"drop"} or not isinstance(spec.get("drop", False), bool):
                    raise ValueError('body must be {} or {"drop": true|false}')
            except (ValueError, UnicodeDecodeError) as e:
                self._send_error_shape(400, f"bad release request: {e}", "invalid_request_error")
                return
            released = self.hub.stalls.release(spec.get("drop", False))
            self._send_json(200, {"status": "ok", "released": released})
        elif route == ("GET", "/_hub/health"):
            self._send_json(200, {"status": "ok", "version": __version__})
        elif route == ("POST", "/_hub/reset"):
            self.hub.reset()
            self._send_json(200, {"status": "ok"})
        elif route == ("POST", "/_hub/faults"):
            try:
                spec = json.loads(body.decode("utf-8") or "{}")
                self.hub.faults.configure(spec)
            except (ValueError, UnicodeDecodeError) as e:
                self._send_error_shape(400, f"bad fault configuration: {e}", "invalid_request_error")
                return
            self._send_json(200, {"status": "ok", **self.hub.faults.describe()})
        else:
            self._send_error_shape(404, f"no such control endpoint: {method} {path}", "not_found")


def _status_type(status: int) -> str:
    if status == 429:
        return "rate_limit_error"
    if status >= 500:
        return "server_error"
    return "injected_fault"


def _is_loopback(host: str) -> bool:
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


# --- command line ------------------------------------------------------------------------------
def _workspace(value: str):
    key, sep, secret = value.partition(":")
    if not sep or not key or not secret:
        raise argparse.ArgumentTypeError("expected KEY:SECRET")
    return key, secret


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="suprsend-hub",
                                description="Local emulator of SuprSend's event endpoints (v2/event/, v2/bulk/event/).")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default 0)")
    p.add_argument("--port-file", help="write the actual port and a newline here (atomically) once listening")
    p.add_argument("--workspace", action="append", type=_workspace, default=[], metavar="KEY:SECRET",
                   help="a workspace the hub knows (repeatable); default demo_key:demo_secret")
    p.add_argument("--db", help="SQLite file recording everything received (default: in memory)")
    p.add_argument("--max-clock-skew-s", type=float, default=900.0, help="allowed |Date - now| (default 900)")
    p.add_argument("--max-event-bytes", type=int, default=102400, help="max serialized event size (default 102400)")
    p.add_argument("--max-body-bytes", type=int, default=16 * 1024 * 1024,
                   help="max request body; larger gets 413 (default 16 MiB)")
    p.add_argument("--idempotency-window-s", type=float, default=86400.0,
                   help="how long an $idempotency_key is remembered (default 86400)")
    p.add_argument("--tls-cert", metavar="PATH",
                   help="serve HTTPS with this PEM certificate (chain); the control API too, on the same port")
    p.add_argument("--tls-key", metavar="PATH",
                   help="the PEM private key of --tls-cert (default: the key is in the --tls-cert file)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quiet", action="store_true", help="print nothing on startup")
    g.add_argument("--verbose", action="store_true", help="log each request line to stderr")
    return p


def _write_port_file(path: str, port: int):
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(f"{port}\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def tls_context(cert: str, key: str | None) -> ssl.SSLContext:
    """A server context with the certificate and key (TLS 1.2 or later, the ssl module's defaults)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    return ctx


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.tls_key and not args.tls_cert:
        parser.error("--tls-key needs --tls-cert")
    ssl_context = None
    if args.tls_cert:
        try:
            ssl_context = tls_context(args.tls_cert, args.tls_key)
        except (OSError, ssl.SSLError) as e:
            parser.error(f"cannot load the TLS certificate {args.tls_cert!r}"
                         + (f" and key {args.tls_key!r}" if args.tls_key else "") + f": {e}")
    workspaces = dict(args.workspace) if args.workspace else dict([DEMO_WORKSPACE])
    hub = Hub(workspaces, db_path=args.db, max_clock_skew_s=args.max_clock_skew_s,
              max_event_bytes=args.max_event_bytes, max_body_bytes=args.max_body_bytes,
              idempotency_window_s=args.idempotency_window_s, verbose=args.verbose)
    server = HubServer((args.host, args.port), hub, ssl_context)
    port = server.server_address[1]

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    if args.port_file:
        _write_port_file(args.port_file, port)
    if not args.quiet:
        host = f"[{args.host}]" if ":" in args.host else args.host
        scheme = "https" if ssl_context else "http"
        print(f"suprsend-hub {__version__} listening on {scheme}://{host}:{port}/", flush=True)
        if not args.workspace:
            print(f"demo workspace: {DEMO_WORKSPACE[0]}:{DEMO_WORKSPACE[1]}", flush=True)
        else:
            print("workspaces: " + ", ".join(workspaces), flush=True)
    while not stop.wait(0.2):
        pass
    server.shutdown()
    server.server_close()
    hub.store.close()
    return 0
