"""HTTPS: --tls-cert/--tls-key, keep-alive over TLS, the control API on the same port and scheme.

The certificates are made for this session by tests/tls/make-certs.sh (the openssl command);
nothing is skipped when that tool is missing: the tests fail and say so.
"""

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time

import pytest

from hubtest_support import HUB_DIR, HUB_SCRIPT, KEY, SECRET, HubProcess, make_event

REPO = os.path.dirname(os.path.dirname(HUB_DIR))
MAKE_CERTS = os.path.join(REPO, "tests", "tls", "make-certs.sh")


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    if not os.path.exists(MAKE_CERTS):
        pytest.fail(f"{MAKE_CERTS} is missing")
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command is missing (scripts/install-deps.sh all installs it)")
    d = tmp_path_factory.mktemp("certs")
    r = subprocess.run(["bash", MAKE_CERTS, str(d)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return {name: str(d / f"{name}.pem") for name in ("ca", "other-ca", "server", "server-chain")} | {
        "server.key": str(d / "server.key"), "other-ca.key": str(d / "other-ca.key")}


def client_context(cafile):
    ctx = ssl.create_default_context(cafile=cafile)     # verifies the chain and the host name
    return ctx


@pytest.fixture(scope="module")
def tls_hub(certs, tmp_path_factory):
    h = HubProcess(tmp_path_factory.mktemp("tlshub"), "--workspace", f"{KEY}:{SECRET}",
                   "--tls-cert", certs["server"], "--tls-key", certs["server.key"],
                   client_context=client_context(certs["ca"]))
    yield h
    h.stop()


@pytest.fixture
def hub_tls(tls_hub):
    tls_hub.reset()
    return tls_hub


def test_keep_alive_over_tls(hub_tls):
    c = hub_tls.conn()
    for _ in range(50):
        code, _, body = hub_tls.send(make_event(), conn=c)
        assert code == 202, body
    assert isinstance(c.sock, ssl.SSLSocket) and c.sock.version() in ("TLSv1.2", "TLSv1.3")
    # the control API answers on the same port, over the same TLS connection
    code, _, st = hub_tls.request("GET", "/_hub/stats", conn=c)
    c.close()
    assert code == 200
    assert (st["connections"], st["requests"], st["accepted"], st["rejected"]) == (1, 50, 50, 0)
    assert len(hub_tls.events()) == 50


def test_control_api_over_tls(hub_tls):
    hub_tls.send(make_event(event="before_reset"))
    assert hub_tls.stats()["accepted"] == 1
    hub_tls.faults({"script": [{"status": 503}]})
    assert hub_tls.send(make_event())[0] == 503
    code, _, health = hub_tls.request("GET", "/_hub/health")
    assert code == 200 and health["status"] == "ok"
    hub_tls.reset()
    st = hub_tls.stats()
    assert (st["requests"], st["accepted"], st["connections"]) == (0, 0, 1)   # 1: this stats request


def test_host_name_and_ip_both_verify(hub_tls, certs):
    for host in ("127.0.0.1", "localhost"):
        ctx = client_context(certs["ca"])
        with socket.create_connection(("127.0.0.1", hub_tls.port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname=host) as s:
                s.sendall(b"GET /_hub/health HTTP/1.0\r\nHost: x\r\n\r\n")
                data = b""
                while chunk := s.recv(4096):
                    data += chunk
        assert data.startswith(b"HTTP/1.1 200"), (host, data[:100])
    # a name the certificate does not carry fails the check
    ctx = client_context(certs["ca"])
    with socket.create_connection(("127.0.0.1", hub_tls.port), timeout=5) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            ctx.wrap_socket(raw, server_hostname="hub.suprsend.com")


def test_other_ca_is_refused_and_hub_goes_on(hub_tls, certs):
    ctx = client_context(certs["other-ca"])
    with socket.create_connection(("127.0.0.1", hub_tls.port), timeout=5) as raw:
        with pytest.raises(ssl.SSLCertVerificationError) as e:
            ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    assert "certificate" in str(e.value).lower()
    # no CA at all (the system store does not know the test CA)
    with socket.create_connection(("127.0.0.1", hub_tls.port), timeout=5) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            ssl.create_default_context().wrap_socket(raw, server_hostname="127.0.0.1")
    assert hub_tls.send(make_event())[0] == 202
    st = hub_tls.stats()
    assert st["requests"] == 1 and st["connections"] == 4     # 2 refused handshakes, the send, the stats


def test_plain_http_on_the_tls_port_gets_no_http_answer(hub_tls):
    with socket.create_connection(("127.0.0.1", hub_tls.port), timeout=5) as s:
        s.sendall(b"GET /_hub/stats HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        try:
            while chunk := s.recv(4096):
                data += chunk
        except ConnectionResetError:
            pass
    assert not data.startswith(b"HTTP/")
    assert hub_tls.stats()["requests"] == 0 and hub_tls.send(make_event())[0] == 202


def test_a_silent_client_does_not_hold_up_others(hub_tls):
    # The handshake runs on the connection's thread: a client that never starts it must not
    # delay the next one.
    silent = socket.create_connection(("127.0.0.1", hub_tls.port), timeout=5)
    try:
        t0 = time.monotonic()
        assert hub_tls.send(make_event())[0] == 202
        assert time.monotonic() - t0 < 2.0
    finally:
        silent.close()


def test_large_body_and_concurrency_over_tls(hub_tls):
    big = make_event(properties={"blob": "x" * 90000})
    assert hub_tls.send(big)[0] == 202
    errors = []

    def worker():
        c = hub_tls.conn()
        try:
            for _ in range(10):
                code, _, body = hub_tls.send(make_event(), conn=c)
                if code != 202:
                    errors.append(body)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(repr(e))
        finally:
            c.close()
    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    st = hub_tls.stats()
    assert st["accepted"] == 81 and st["connections"] == 10


def test_drop_fault_over_tls(hub_tls):
    hub_tls.faults({"script": [{"drop": "after_processing"}]})
    c = hub_tls.conn()
    with pytest.raises((ConnectionError, ssl.SSLError, OSError)):
        hub_tls.send(make_event(), conn=c)
    c.close()
    assert hub_tls.stats()["accepted"] == 1
    assert hub_tls.send(make_event())[0] == 202


def test_key_inside_the_cert_file_and_startup_line(certs, tmp_path):
    both = tmp_path / "both.pem"
    both.write_text(open(certs["server-chain"]).read() + open(certs["server.key"]).read())
    h = HubProcess(tmp_path, "--tls-cert", str(both), client_context=client_context(certs["ca"]))
    try:
        assert h.send(make_event(key="demo_key"), key="demo_key", secret="demo_secret")[0] == 202
        deadline = time.time() + 5
        while f"https://127.0.0.1:{h.port}/" not in h.output() and time.time() < deadline:
            time.sleep(0.05)
        assert f"listening on https://127.0.0.1:{h.port}/" in h.output()
    finally:
        h.stop()


def test_plain_hub_still_says_http(tmp_path):
    h = HubProcess(tmp_path)
    try:
        deadline = time.time() + 5
        while "listening" not in h.output() and time.time() < deadline:
            time.sleep(0.05)
        assert f"listening on http://127.0.0.1:{h.port}/" in h.output()
    finally:
        h.stop()


@pytest.mark.parametrize("args, needle", [
    (["--tls-key", "/nonexistent/key.pem"], "--tls-key needs --tls-cert"),
    (["--tls-cert", "/nonexistent/cert.pem"], "cannot load the TLS certificate"),
    (["--tls-cert", "CERT", "--tls-key", "OTHER_KEY"], "cannot load the TLS certificate"),   # not its key
])
def test_bad_tls_flags_exit_2(certs, args, needle):
    args = [certs["server"] if a == "CERT" else certs["other-ca.key"] if a == "OTHER_KEY" else a for a in args]
    r = subprocess.run([sys.executable, HUB_SCRIPT, "--port", "0", *args], capture_output=True, text=True,
                       timeout=20)
    assert r.returncode == 2 and needle in r.stderr, r.stderr


def test_sigterm_with_an_idle_tls_connection(certs, tmp_path):
    import signal
    h = HubProcess(tmp_path, "--quiet", "--tls-cert", certs["server"], "--tls-key", certs["server.key"],
                   client_context=client_context(certs["ca"]))
    try:
        c = h.conn()
        code, _, st = h.request("GET", "/_hub/stats", conn=c)     # kept alive, idle
        assert code == 200 and json.dumps(st)
        h.proc.send_signal(signal.SIGTERM)
        assert h.proc.wait(5) == 0
        c.close()
    finally:
        h.stop()
