#!/usr/bin/env python3
"""make bench: libsuprsend measured side by side with the official Python SDK and raw libcurl.

    python3 bench/run.py            full run (median of --runs runs per scenario), writes bench/results/latest.json
    python3 bench/run.py --smoke    a few events each, one run, writes bench/results/smoke.json (< 60 s)
    python3 bench/run.py --profile  also profile c_single and c_bulk under valgrind --tool=callgrind

Stdlib only. See bench/README.md for the method. Figures are printed, never asserted; the
correctness pass (every client's requests accepted by the local hub, none rejected) is, and a
failure there makes the exit status non-zero. With --smoke (what `make test` runs) nothing may be
left out: a client that cannot run, a missing hub or signature vectors, or a client reporting a
failed event in its timed run also make the exit status non-zero.
"""
import argparse
import datetime
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
DIST = ROOT / "dist"
LIB = DIST / "lib" / "libsuprsend.so"
PKGCONFIG_DIR = DIST / "lib" / "pkgconfig"
HUB = ROOT / "tools" / "hub" / "suprsend-hub"
BINDING_SRC = ROOT / "bindings" / "python" / "src"
# The shared folder sits beside the repository.
VECTORS = ROOT.parent / "shared" / "vectors" / "signatures.json"

# The official SDK wants a workspace key of at least 20 characters.
KEY, SECRET = "bench_workspace_key_0001", "bench_workspace_secret_0001"
BULK_CHUNK = 100  # events per bulk request (the protocol's maximum, and what every client packs)

# Events per run. The full bench takes a few minutes on 2 cores; the official SDK gets fewer
# events (it opens a new connection per request and validates each event with jsonschema).
FULL = {"runs": 5, "floor": 20000, "floor_bulk": 100000, "c_single": 20000, "c_single_8t": 20000, "c_async": 20000,
        "c_bulk": 100000, "py_single": 10000, "py_async": 10000, "py_bulk": 100000, "official_py_single": 2000,
        "official_py_bulk": 20000, "dlopen_runs": 31}
SMOKE = {"runs": 1, "floor": 20, "floor_bulk": 200, "c_single": 20, "c_single_8t": 40, "c_async": 100, "c_bulk": 200,
         "py_single": 20, "py_async": 100, "py_bulk": 200, "official_py_single": 10, "official_py_bulk": 200, "dlopen_runs": 5}

# py_async: calls in flight at a time through suprsend_native.asyncio.AsyncSuprsend (the library
# opens at most 32 connections, its default max_connections; more calls wait for one).
PY_ASYNC_CONCURRENCY = 100
# c_async: the same through suprsend_track_event_async from one thread (c_bench.c, mode async).
C_ASYNC_CONCURRENCY = 100

TARGETS = {
    "c_single_cpu_over_floor_max": 1.5,
    "c_bulk_serialize_sign_us_max": 5.0,
    "py_single_over_official_min": 10.0,
    "py_bulk_over_official_min": 5.0,
    "c_bulk_peak_rss_mb_max": 64.0,
    # The binding's own cost over the library's, CPU per event (paired runs): what Python adds.
    "py_single_cpu_over_c_single_max": 1.4,
    "py_bulk_cpu_over_c_bulk_max": 2.0,
    # Asynchronous calls: no dearer in CPU than one call at a time, many times its rate when the
    # hub answers at once (loopback, the same CPU as nginx); Python's asyncio over the C calls.
    "c_async_cpu_over_c_single_max": 1.2,
    "c_async_events_per_s_over_c_single_min": 5.0,
    "py_async_cpu_over_c_async_max": 2.0,
}

# Background delivery (suprsend_enqueue + suprsend_flush; see "Background delivery scenarios"
# below). c_enqueue_queued enqueues for a hub that refuses every connection: all N wait.
# py_enqueue_cb: py_enqueue with an on_delivery callable (one Python call per event's fate).
ENQUEUE_SCENARIOS = ("c_enqueue", "c_enqueue_queued", "py_enqueue", "py_enqueue_cb")
FULL.update({"c_enqueue": 100000, "c_enqueue_queued": 100000, "py_enqueue": 100000, "py_enqueue_cb": 100000})
SMOKE.update({"c_enqueue": 300, "c_enqueue_queued": 1000, "py_enqueue": 300, "py_enqueue_cb": 300})

# The Node.js binding (bindings/node, bench/node_client.js): node_single keeps 32 track_event calls
# in flight (how a Node service sends), node_bulk appends N events to one bulk and triggers it,
# node_enqueue enqueues N with an on_delivery callback and flushes (c_enqueue counts its fates in
# a delivery callback too), node_enqueue_nocb the same without on_delivery. Skipped when node or
# the addon (make node) is missing.
NODE_SCENARIOS = ("node_single", "node_bulk", "node_enqueue", "node_enqueue_nocb")
NODE_ADDON = ROOT / "bindings" / "node" / "build" / "suprsend.node"
FULL.update({"node_single": 20000, "node_bulk": 100000, "node_enqueue": 100000, "node_enqueue_nocb": 100000})
SMOKE.update({"node_single": 20, "node_bulk": 200, "node_enqueue": 300, "node_enqueue_nocb": 300})
# Issue 19: what the Node binding adds over the library, CPU per event, paired runs.
TARGETS.update({
    "node_enqueue_cpu_over_c_enqueue_max": 3.0,   # whole process, first enqueue .. flush end, both with a callback
    "node_bulk_cpu_over_c_bulk_max": 2.0,         # whole process, events created, appended, triggered
})


def node_command(name, base, n):
    mode = {"node_enqueue_nocb": "enqueue"}.get(name, name[len("node_"):])
    cmd = ["node", str(BENCH / "node_client.js"), "--mode", mode, "--n", str(n),
           "--base-url", base, "--key", KEY, "--secret", SECRET]
    if name == "node_enqueue_nocb":
        cmd += ["--on-delivery", "0"]
    return cmd, None, "node"


def node_ratios_and_targets(g, paired, t, ratios, targets):
    ratios.update({
        "node_enqueue_over_c_enqueue_cpu": paired("node_enqueue", "c_enqueue", "cpu_us_per_event"),
        "node_enqueue_nocb_over_c_enqueue_cpu": paired("node_enqueue_nocb", "c_enqueue", "cpu_us_per_event"),
        "node_bulk_over_c_bulk_cpu": paired("node_bulk", "c_bulk", "cpu_us_per_event"),
    })
    targets.update({
        "node_enqueue_cpu_le_3x_c_enqueue": t(ratios["node_enqueue_over_c_enqueue_cpu"],
                                              TARGETS["node_enqueue_cpu_over_c_enqueue_max"], "max"),
        "node_bulk_cpu_le_2x_c_bulk": t(ratios["node_bulk_over_c_bulk_cpu"], TARGETS["node_bulk_cpu_over_c_bulk_max"], "max"),
    })
# The Go binding (bindings/go, its bench client bindings/go/internal/benchclient, built with go build
# at the start of the run): go_single, go_bulk and go_enqueue do what c_single, c_bulk and c_enqueue
# do in C (same events, one goroutine, same options; go_enqueue with a delivery callback counting
# the fates, as c_enqueue). Skipped when go is missing.
# Two more tell the rest of the story. go_floor: the bench's events built (maps) and written as
# the binding writes them for the library, with no library call: what Go itself costs per event,
# which no binding of suprsend-go's map-based Event can take away (C writes the same properties
# with one snprintf, about 0.15 us). go_single_gomaxprocs2: go_single with GOMAXPROCS=2. Pinned
# to one CPU, Go runs with GOMAXPROCS=1, and then its sysmon thread takes the only P from a
# goroutine blocked in a cgo call for more than 20 us (every TrackEvent) and hands it to another
# thread, about 1.7 more context switches per call; with a second P (Go's default on any machine
# of two or more CPUs, a container's CPU quota included) it does not.
GO_SCENARIOS = ("go_single", "go_single_gomaxprocs2", "go_bulk", "go_enqueue", "go_floor")
GO_DIR = ROOT / "bindings" / "go"
FULL.update({"go_single": 20000, "go_single_gomaxprocs2": 20000, "go_bulk": 100000, "go_enqueue": 100000,
             "go_floor": 100000})
SMOKE.update({"go_single": 20, "go_single_gomaxprocs2": 20, "go_bulk": 200, "go_enqueue": 300, "go_floor": 300})
TARGETS.update({
    # What the Go binding adds over the library's C API, CPU per event (paired runs; issue 18).
    "go_single_cpu_over_c_single_max": 1.5,
    "go_bulk_cpu_over_c_bulk_max": 1.3,
    "go_enqueue_cpu_over_c_enqueue_max": 1.3,
})
TARGETS.update({
    "c_enqueue_cpu_us_max": 8.0,                  # whole process, enqueue start .. flush end
    "c_enqueue_caller_cpu_us_max": 2.0,           # the enqueuing thread, per enqueue
    "c_enqueue_events_per_s_min": 100000.0,       # end to end
    "py_enqueue_cpu_us_max": 25.0,                # whole process
    "queued_100k_peak_rss_mb_max": 64.0,          # c_enqueue_queued, 100,000 events waiting
})

# The durable outbox (suprsend_options_set_outbox_path: a SQLite file; see "Durable outbox
# scenarios" below). The file lives in a directory on the same disk as the repository (not
# tmpfs). _8t: 8 enqueuing threads sharing the client; _power_safe: synchronous=FULL, an fsync
# per commit (fewer events: it is slow); _waiting: 200,000 events in the file while the hub
# refuses connections. outbox_floor: SQLite alone doing what each enqueue does to the file (one
# transaction inserting one row, same settings, schema and statement; bench/outbox_floor.c), the
# floor under any outbox that commits each event before returning.
OUTBOX_SCENARIOS = ("outbox_floor", "c_enqueue_outbox", "c_enqueue_outbox_8t", "c_enqueue_outbox_power_safe",
                    "c_enqueue_outbox_power_safe_8t", "c_enqueue_outbox_waiting", "py_enqueue_outbox",
                    "py_enqueue_outbox_8t")
FULL.update({"outbox_floor": 100000, "c_enqueue_outbox": 100000, "c_enqueue_outbox_8t": 100000, "c_enqueue_outbox_power_safe": 5000,
             "c_enqueue_outbox_power_safe_8t": 10000, "c_enqueue_outbox_waiting": 200000,
             "py_enqueue_outbox": 50000, "py_enqueue_outbox_8t": 50000})
SMOKE.update({"outbox_floor": 300, "c_enqueue_outbox": 300, "c_enqueue_outbox_8t": 300, "c_enqueue_outbox_power_safe": 200,
              "c_enqueue_outbox_power_safe_8t": 200, "c_enqueue_outbox_waiting": 300,
              "py_enqueue_outbox": 300, "py_enqueue_outbox_8t": 300})
TARGETS.update({
    "outbox_enqueue_events_per_s_min": 50000.0,   # enqueue calls, one thread
    "outbox_c_cpu_us_max": 25.0,                  # whole process, first enqueue .. flush end, C
    "outbox_waiting_peak_rss_mb_max": 64.0,       # c_enqueue_outbox_waiting, 200,000 events waiting
})

# The Swift library product (SuprSend, Sources/SuprSend) through bench/swift (a package of its own
# that depends on the repository's by path; see "Swift library product scenarios" below).
# swift_track: N `try await client.track(event)` from SWIFT_TRACK_CONCURRENCY tasks, each awaiting
# one call at a time; track runs on the core's asynchronous calls (as suprsend_track_event_async),
# so its like-for-like C scenario is c_async (the same in flight). swift_enqueue: N
# `client.enqueue(event)` then `await client.flush`, as c_enqueue. Built (swift build -c release,
# minutes the first time) only when one of them is asked for; never by --smoke unless --only names
# them (make test's SuprSendTests already send through the local hub).
SWIFT_SCENARIOS = ("swift_track", "swift_enqueue")
SWIFT_PACKAGE = BENCH / "swift"
SWIFT_TRACK_CONCURRENCY = C_ASYNC_CONCURRENCY
FULL.update({"swift_track": 20000, "swift_enqueue": 100000})
SMOKE.update({"swift_track": 100, "swift_enqueue": 300})
TARGETS.update({
    "swift_track_cpu_over_c_async_max": 1.2,      # CPU per event, paired runs
    "swift_enqueue_cpu_over_c_enqueue_max": 1.2,  # whole process, first enqueue .. flush end, paired runs
})


def log(msg=""):
    print(msg, flush=True)


def warn(msg):
    print(f"bench: warning: {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------
# Machine, tools, builds
# ------------------------------------------------------------------------------------------

def machine_info():
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    def version(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip().splitlines()[0]
        except Exception:
            return None
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    nginx_v = None
    if nginx:
        r = subprocess.run([nginx, "-v"], capture_output=True, text=True)
        nginx_v = (r.stderr or r.stdout).strip()
    return {
        "cpu_model": cpu,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "libcurl": version(["curl-config", "--version"]),
        "nginx": nginx_v,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "loadavg_start": os.getloadavg(),
    }


def cpu_times():
    """Aggregate jiffies from /proc/stat: (total, steal, idle)."""
    try:
        f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
        return sum(f[:8]), f[7] if len(f) > 7 else 0, f[3]
    except (OSError, ValueError, IndexError):
        return None


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def build_c(tmp, name, src, extra_args):
    out = str(tmp / name)
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or "cc"
    r = run([cc, "-O2", "-Wall", "-o", out, str(src)] + extra_args)
    if r.returncode != 0:
        raise RuntimeError(f"building {src.name} failed:\n{r.stderr}")
    return out


def pkg_config_flags():
    env = dict(os.environ, PKG_CONFIG_PATH=str(PKGCONFIG_DIR) + os.pathsep + os.environ.get("PKG_CONFIG_PATH", ""))
    r = run(["pkg-config", "--cflags", "--libs", "suprsend"], env=env)
    if r.returncode != 0:
        raise RuntimeError(f"pkg-config suprsend failed: {r.stderr.strip()}")
    libdir = run(["pkg-config", "--variable=libdir", "suprsend"], env=env).stdout.strip() or str(LIB.parent)
    return r.stdout.split() + [f"-Wl,-rpath,{libdir}", "-Wl,--enable-new-dtags", "-lpthread"]


def sqlite_flags():
    r = run(["pkg-config", "--cflags", "--libs", "sqlite3"])
    if r.returncode != 0:
        raise RuntimeError("pkg-config sqlite3 failed (install libsqlite3-dev: scripts/install-deps.sh): "
                           + r.stderr.strip())
    return r.stdout.split()


def ensure_nginx():
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if nginx:
        return nginx
    if os.geteuid() != 0:
        raise RuntimeError("nginx is not installed and this is not root: install it with "
                           "`sudo apt-get install -y nginx-light` (Debian) and run `make bench` again")
    log("nginx missing: apt-get install -y nginx-light ...")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for pkgs in (["nginx-light"], ["nginx"]):
        r = run(["apt-get", "install", "-y", "--no-install-recommends"] + pkgs, env=env)
        if r.returncode != 0:
            run(["apt-get", "update"], env=env)
            r = run(["apt-get", "install", "-y", "--no-install-recommends"] + pkgs, env=env)
        if r.returncode == 0:
            break
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if not nginx:
        raise RuntimeError("could not install nginx with apt-get (nginx-light or nginx)")
    # Debian's package may start the system's nginx; ours runs on its own port with its own config.
    return nginx


def ensure_official_sdk():
    r = run([sys.executable, "-c", "import suprsend, jsonschema, requests"])
    if r.returncode == 0:
        return True
    log("suprsend-py-sdk missing: pip install suprsend-py-sdk ...")
    r = run([sys.executable, "-m", "pip", "install", "--quiet", "suprsend-py-sdk"])
    if r.returncode != 0:
        warn(f"pip install suprsend-py-sdk failed: {r.stderr.strip()[-500:]}")
        return False
    return run([sys.executable, "-c", "import suprsend"]).returncode == 0


def binding_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(BINDING_SRC) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["SUPRSEND_LIBRARY"] = str(LIB)
    return env


# ------------------------------------------------------------------------------------------
# Servers: the hub (correctness) and nginx (throughput)
# ------------------------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=10.0):
    t = time.time() + timeout
    while time.time() < t:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def stop(proc):
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_server(cmd, port_file, stderr_path, what, preexec_fn=None):
    """Starts a server that writes its port to port_file; returns the process and the port."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(stderr_path, "w"), preexec_fn=preexec_fn)
    t = time.time() + 15
    while time.time() < t and proc.poll() is None:
        if port_file.exists() and port_file.read_text().strip():
            return proc, int(port_file.read_text().strip())
        time.sleep(0.05)
    stop(proc)
    raise RuntimeError(f"{what} did not start: {stderr_path.read_text()[-800:]}")


def http_json(port, method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path, body=body)
        r = c.getresponse()
        data = r.read()
        return r.status, data
    finally:
        c.close()


class Hub:
    def __init__(self, tmp):
        self.proc = None
        port_file = tmp / "hub.port"
        cmd = [str(HUB)] if os.access(HUB, os.X_OK) else [sys.executable, str(HUB)]
        self.proc, self.port = start_server(cmd + ["--host", "127.0.0.1", "--port", "0", "--port-file", str(port_file),
                                                   "--workspace", f"{KEY}:{SECRET}", "--quiet"],
                                            port_file, tmp / "hub.stderr", "the hub")
        self.base = f"http://127.0.0.1:{self.port}/"

    def stats(self):
        st, data = http_json(self.port, "GET", "/_hub/stats")
        return json.loads(data)

    def rejections(self):
        st, data = http_json(self.port, "GET", "/_hub/rejections")
        return json.loads(data)

    def close(self):
        stop(self.proc)


def bulk_answer(n):
    """nginx directives for a fixed bulk answer of n positional success records. One nginx
    config token is limited to 4 KiB, so the answer is assembled from variables."""
    assert n % 10 == 0
    rec = '{"status":"success","message_id":"bench","status_code":202}'
    return ("set $rec10 '" + ",".join([rec] * 10) + "';\n      "
            "return 202 '{\"status\":\"success\",\"records\":[" + ",".join(["$rec10"] * (n // 10)) + "]}';")


NGINX_CONF = """\
worker_processes 1;
daemon off;
master_process on;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
{affinity}
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/client_body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  keepalive_requests 100000;
  keepalive_timeout 75s;
  client_max_body_size 2m;
  client_body_buffer_size 1m;
  default_type application/json;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    # 'return' discards (reads) the request body, so the connection stays usable (keep-alive).
    location = /v2/event/ {{ return 202 '{{"status":"success","message_id":"bench"}}'; }}
    # Every bulk request of the bench carries exactly {chunk} events (N is a multiple of {chunk}),
    # so a fixed answer with {chunk} positional records is exact.
    location = /v2/bulk/event/ {{
      {bulk}
    }}
    # The single-event shape for a bulk chunk (no "records"): how does a client count that?
    location = /norecords/v2/bulk/event/ {{ return 202 '{{"status":"success"}}'; }}
    location = /_status {{ stub_status; }}
    location / {{ return 404 '{{"status":"error","error":{{"message":"no such path","type":"bench"}}}}'; }}
  }}
}}
"""


class Nginx:
    def __init__(self, tmp, cpu=None):
        self.bin = ensure_nginx()
        affinity = ""
        if cpu is not None:  # worker_cpu_affinity takes a bit mask, CPU 0 rightmost
            affinity = "worker_cpu_affinity " + "".join("1" if i == cpu else "0" for i in range(cpu, -1, -1)) + ";"
        self.dir = tmp / "nginx"
        self.dir.mkdir()
        last = ""
        for _ in range(5):
            port = free_port()
            conf = self.dir / "nginx.conf"
            conf.write_text(NGINX_CONF.format(tmp=self.dir, port=port, chunk=BULK_CHUNK, bulk=bulk_answer(BULK_CHUNK),
                                              affinity=affinity))
            self.proc = subprocess.Popen([self.bin, "-p", str(self.dir), "-c", str(conf), "-e", str(self.dir / "error.log")],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if wait_port(port, self.proc):
                self.port = port
                self.base = f"http://127.0.0.1:{port}/"
                return
            stop(self.proc)
            last = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
        raise RuntimeError(f"nginx did not start: {last[-800:]}")

    def accepts(self):
        """Connections nginx has accepted so far (counting the one used to ask)."""
        st, data = http_json(self.port, "GET", "/_status")
        # "Active connections: 1 \nserver accepts handled requests\n 5 5 9 \n..."
        nums = data.decode().splitlines()[2].split()
        return int(nums[0]), int(nums[2])

    def close(self):
        stop(self.proc)


# ------------------------------------------------------------------------------------------
# Scenarios
# ------------------------------------------------------------------------------------------

class Scenarios:
    def __init__(self, tools, have_lib, have_binding, have_official):
        self.t = tools
        self.client_cpu = None  # set for the timed runs when --pin is same or split
        self.outbox_dir = None  # set by main: where the outbox scenarios put their file
        self.have = {"lib": have_lib, "binding": have_binding, "official": have_official}

    def command(self, name, base, n):
        t = dict(self.t)
        t.setdefault("c_bench", "c_bench-not-built")
        if name == "floor":
            return [t["floor"], base, KEY, SECRET, str(n), "single"], None, "floor"
        if name == "floor_bulk":
            return [t["floor"], base, KEY, SECRET, str(n), "bulk"], None, "floor"
        if name == "c_single":
            return [t["c_bench"], base, KEY, SECRET, "single", str(n), "1"], None, "lib"
        if name == "c_single_8t":
            return [t["c_bench"], base, KEY, SECRET, "single", str(n), "8"], None, "lib"
        if name == "c_async":
            return [t["c_bench"], base, KEY, SECRET, "async", str(n), str(C_ASYNC_CONCURRENCY)], None, "lib"
        if name == "c_bulk":
            return [t["c_bench"], base, KEY, SECRET, "bulk", str(n)], None, "lib"
        if name in ENQUEUE_SCENARIOS:
            return enqueue_command(t, name, base, n)
        if name in OUTBOX_SCENARIOS:
            return outbox_command(t, name, base, n, self.outbox_dir)
        if name in SWIFT_SCENARIOS:
            return swift_command(t, name, base, n)
        if name in SLOW_SCENARIOS or name in PAUSED_SCENARIOS:
            return slow_command(self, name, base, n)
        if name in GO_SCENARIOS:
            mode = {"go_single_gomaxprocs2": "single"}.get(name, name[len("go_"):])
            env = dict(os.environ, GOMAXPROCS="2") if name == "go_single_gomaxprocs2" else None
            return ([t.get("go_client", "go_client-not-built"), "-mode", mode, "-n", str(n),
                     "-base-url", base, "-key", KEY, "-secret", SECRET], env, "go")
        if name in NODE_SCENARIOS:
            return node_command(name, base, n)
        py = [sys.executable, str(BENCH / "py_client.py"), "--base-url", base, "--key", KEY, "--secret", SECRET, "--n", str(n)]
        if name == "py_single":
            return py + ["--impl", "native", "--mode", "single"], binding_env(), "binding"
        if name == "py_bulk":
            return py + ["--impl", "native", "--mode", "bulk"], binding_env(), "binding"
        if name == "py_async":  # AsyncSuprsend: N awaited track_event calls, PY_ASYNC_CONCURRENCY in flight
            return (py + ["--impl", "native", "--mode", "async", "--concurrency", str(PY_ASYNC_CONCURRENCY)],
                    binding_env(), "binding")
        if name == "official_py_single":
            return py + ["--impl", "official", "--mode", "single"], None, "official"
        if name == "official_py_bulk":
            return py + ["--impl", "official", "--mode", "bulk"], None, "official"
        raise KeyError(name)

    def available(self, name):
        return self.missing(name) is None

    def missing(self, name):
        """None when the scenario can run, else what it lacks."""
        need = self.command(name, "http://x/", 1)[2]
        if need == "floor":
            return None
        if not self.have["lib"] and need in ("lib", "binding"):
            return "library not built"
        if need == "binding" and not self.have["binding"]:
            return "binding missing"
        if need == "official" and not self.have["official"]:
            return "suprsend-py-sdk not installed"
        if need == "swift":
            return self.t.get("swift_bench_missing") if "swift_bench" not in self.t else None
        if need == "go":
            return go_missing(self.t)
        if need == "node":
            if not shutil.which("node"):
                return "node not installed"
            if not NODE_ADDON.exists():
                return "Node addon not built (make node)"
        return None

    def run_one(self, name, base, n, timeout=900):
        cmd, env, _ = self.command(name, base, n)
        pre = None
        if self.client_cpu is not None:
            cpu = self.client_cpu
            pre = lambda: os.sched_setaffinity(0, {cpu})  # noqa: E731
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, preexec_fn=pre)
        line = next((l for l in reversed(r.stdout.strip().splitlines()) if l.startswith("{")), None)
        if line is None:
            raise RuntimeError(f"{name}: no result (exit {r.returncode}): {r.stderr.strip()[-1500:]}")
        res = json.loads(line)
        if r.returncode != 0 and not res.get("failed"):
            raise RuntimeError(f"{name}: exit {r.returncode}: {r.stderr.strip()[-1500:]}")
        return res


def per_run_figures(res):
    ev = res["events"]
    cpu = res["cpu_user_s"] + res["cpu_sys_s"]
    f = {"events_per_s": ev / res["wall_s"] if res["wall_s"] > 0 else float("inf"),
         "cpu_us_per_event": cpu / ev * 1e6,
         "cpu_user_us_per_event": res["cpu_user_s"] / ev * 1e6,
         "cpu_sys_us_per_event": res["cpu_sys_s"] / ev * 1e6,
         "peak_rss_mb": res.get("peak_rss_kb", res["maxrss_kb"]) / 1024.0}
    if "requests" in res:
        f["cpu_us_per_request"] = cpu / res["requests"] * 1e6
    if "caller_cpu_us_per_call" in res:
        f["caller_cpu_us_per_call"] = res["caller_cpu_us_per_call"]
    if "append_cpu_s" in res:
        f["append_cpu_us_per_event"] = res["append_cpu_s"] / ev * 1e6
        f["trigger_cpu_us_per_event"] = res["trigger_cpu_s"] / ev * 1e6
    f.update(enqueue_figures(res))
    f.update(outbox_figures(res))
    return f


def summarize(name, runs):
    figs = [per_run_figures(r) for r in runs]
    out = {"name": name, "events": runs[0]["events"], "runs": len(runs)}
    for k in figs[0]:
        out[k] = round(statistics.median(f[k] for f in figs), 3)
    out["events_per_s_min_max"] = [round(min(f["events_per_s"] for f in figs), 1), round(max(f["events_per_s"] for f in figs), 1)]
    out["per_run"] = [{k: round(f[k], 3) for k in ("events_per_s", "cpu_us_per_event", "cpu_user_us_per_event",
                                                    "cpu_sys_us_per_event", "peak_rss_mb")} for f in figs]
    out["ok"] = sum(r["ok"] for r in runs)
    out["failed"] = sum(r["failed"] for r in runs)
    conns = [r.get("_connections") for r in runs if r.get("_connections") is not None]
    if conns:
        out["connections_per_run"] = statistics.median(conns)
    errs = [r.get("error") for r in runs if r.get("error")]
    if errs:
        out["first_error"] = errs[0]
    return out


# ------------------------------------------------------------------------------------------
# Correctness pass through the hub
# ------------------------------------------------------------------------------------------

def check_floor_signer(floor, strict):
    path = VECTORS
    if not path.exists():
        if strict:
            log(f"  FAIL: {path} not found: the floor's signer cannot be checked against the vectors")
            return False
        warn(f"{path} not found: the floor's signer is not checked against the vectors")
        return True
    vectors = json.loads(path.read_text())["vectors"]
    bad = 0
    for v in vectors:
        r = subprocess.run([floor, "--sign", v["secret"], v["method"], v["content_type"], v["date"], v["request_uri"]],
                           input=v["body"].encode(), capture_output=True)
        if r.stdout.decode().strip() != v["signature"]:
            bad += 1
    log(f"  floor signer vs {path.name}: {len(vectors) - bad}/{len(vectors)} vectors match")
    return bad == 0


def correctness_pass(tmp, sc, strict=False):
    """strict (--smoke): every client must run and have its whole sample accepted; a client that
    cannot run fails the pass instead of being skipped."""
    log("Correctness pass: a sample from every client through the local hub (signatures and rules checked)")
    ok = check_floor_signer(sc.t["floor"], strict)
    if not (os.access(HUB, os.R_OK)):
        if strict:
            log(f"  FAIL: {HUB} not found: no client's sample can be checked")
            return False, []
        warn(f"{HUB} not found: correctness pass skipped")
        return ok, []
    hub = Hub(tmp)
    rows = []
    try:
        plan = [("floor", 3), ("floor_bulk", 150), ("c_single", 3), ("c_single_8t", 8), ("c_async", 50), ("c_bulk", 150),
                ("py_single", 3), ("py_async", 50), ("py_bulk", 150), ("official_py_single", 3), ("official_py_bulk", 150),
                ("c_enqueue", 150), ("py_enqueue", 150), ("py_enqueue_cb", 150),  # background delivery: flushed, every fate "delivered"
                ("c_enqueue_outbox", 150), ("c_enqueue_outbox_8t", 150), ("py_enqueue_outbox", 150),  # the same through the outbox
                ("node_single", 40), ("node_bulk", 150), ("node_enqueue", 150)]
        plan += [(n, k) for n, k in SWIFT_CORRECTNESS if not (strict and n not in sc.t.get("swift_wanted", ()))]
        plan += [("go_single", 3), ("go_bulk", 150), ("go_enqueue", 150)]
        log(f"  {'client':<20} {'events':>6} {'accepted':>8} {'rejected':>8} {'dupl.':>6} {'requests':>8} {'conns':>6}  verdict")
        for name, n in plan:
            if not sc.available(name):
                why = sc.missing(name)
                if strict:
                    ok = False
                    log(f"  {name:<20} {n:>6}  FAIL: not run ({why})")
                    rows.append({"name": name, "events": n, "ok": False, "error": f"not run: {why}"})
                else:
                    log(f"  {name:<20} {'-':>6}  skipped ({why})")
                    rows.append({"name": name, "skipped": True})
                continue
            s0 = hub.stats()
            err = None
            try:
                res = sc.run_one(name, hub.base, n, timeout=120)
                if res.get("failed"):
                    err = res.get("error") or "client reported failures"
            except Exception as e:  # noqa: BLE001 - reported, not raised
                err = str(e)
            s1 = hub.stats()
            d = {k: s1[k] - s0[k] for k in ("requests", "accepted", "rejected", "duplicates", "connections")}
            d["connections"] -= 1  # the connection that asked for s1
            good = err is None and d["accepted"] == n and d["rejected"] == 0 and d["duplicates"] == 0
            ok &= good
            verdict = "ok" if good else f"FAIL {err or ''}".strip()
            if d["rejected"]:
                rej = hub.rejections()[-d["rejected"]:]
                verdict += " rejections: " + "; ".join(f"{x['reason']}: {x['message']}" for x in rej[:3])
            log(f"  {name:<20} {n:>6} {d['accepted']:>8} {d['rejected']:>8} {d['duplicates']:>6} {d['requests']:>8} {d['connections']:>6}  {verdict}")
            rows.append(dict(name=name, events=n, ok=good, error=err, **d))
        st = hub.stats()
        log(f"  hub totals: {json.dumps({k: st[k] for k in ('requests', 'accepted', 'duplicates', 'rejected', 'connections')})}")
    finally:
        hub.close()
    return ok, rows


# ------------------------------------------------------------------------------------------
# Library size, dlopen time, bulk without records, profile
# ------------------------------------------------------------------------------------------

def library_figures(tmp, dlopen_bin, runs):
    out = {"path": str(LIB.relative_to(ROOT)), "size_bytes_unstripped": LIB.stat().st_size,
           "build_id": build_id(LIB)}
    stripped = tmp / "libsuprsend.stripped.so"
    shutil.copy(LIB, stripped)
    r = run(["strip", "--strip-all", str(stripped)])
    out["size_bytes"] = stripped.stat().st_size if r.returncode == 0 else None
    out["size_mb"] = round(out["size_bytes"] / 1e6, 3) if out["size_bytes"] else None
    # Shared objects it pulls in that are not part of the base system (the Swift runtime, ...).
    deps = []
    r = run(["ldd", str(LIB)])
    for line in r.stdout.splitlines():
        parts = line.split("=>")
        if len(parts) == 2 and parts[1].strip().startswith("/"):
            p = parts[1].split("(")[0].strip()
            deps.append({"name": parts[0].strip(), "path": p, "size_bytes": os.path.getsize(p) if os.path.exists(p) else None})
        elif "not found" in line:
            deps.append({"name": line.split()[0], "path": None, "size_bytes": None})
    out["dependencies"] = deps
    swift = [d for d in deps if d["path"] and "swift" in d["path"].lower()]
    out["swift_runtime_bytes"] = sum(d["size_bytes"] or 0 for d in swift)
    times = []
    run([dlopen_bin, str(LIB), "suprsend_version"])  # warm the page cache
    for _ in range(runs):
        r = run([dlopen_bin, str(LIB), "suprsend_version"])
        if r.returncode != 0:
            out["dlopen_error"] = r.stderr.strip()
            break
        times.append(float(r.stdout.strip()))
    out["dlopen_ms"] = round(statistics.median(times), 3) if times else None
    out["dlopen_runs"] = len(times)
    # For scale: libcurl alone.
    curl = next((d["path"] for d in deps if d["name"].startswith("libcurl")), None)
    if curl:
        t = []
        for _ in range(max(3, runs // 3)):
            r = run([dlopen_bin, curl, "curl_easy_init"])
            if r.returncode == 0:
                t.append(float(r.stdout.strip()))
        if t:
            out["dlopen_ms_libcurl_alone"] = round(statistics.median(t), 3)
    return out


def bulk_without_records(sc, nginx):
    """What the library reports when a bulk chunk is answered 202 {"status":"success"} (no records)."""
    if not sc.available("c_bulk"):
        return None
    try:
        res = sc.run_one("c_bulk", nginx.base + "norecords/", 200, timeout=60)
    except Exception as e:  # noqa: BLE001
        return {"error": str(e)}
    return {k: res.get(k) for k in ("events", "ok", "failed", "bulk_status", "error")}


def build_id(path):
    r = run(["readelf", "-n", str(path)])
    m = re.search(r"Build ID:\s*([0-9a-f]+)", r.stdout)
    return m.group(1) if m else None


def unstripped_copy(tmp):
    """dist/ has the stripped library; SwiftPM's build directory has the same build unstripped.
    Copy it (as the soname) so that callgrind can name the library's functions."""
    want = build_id(LIB)
    if not want:
        return None
    for cand in sorted((ROOT / ".build").glob("*/release/libsuprsend.so")) + sorted((ROOT / ".build").glob("release/libsuprsend.so")):
        if build_id(cand) == want:
            d = tmp / "symbols"
            d.mkdir(exist_ok=True)
            dst = d / LIB.resolve().name
            shutil.copy(cand, dst)
            for alias in ("libsuprsend.so.0", "libsuprsend.so"):
                if not (d / alias).exists():
                    os.symlink(dst.name, d / alias)
            if build_id(dst) == want:
                return dst
    return None


def profile(tmp, sc, nginx, n_single, n_bulk):
    if not shutil.which("valgrind"):
        warn("valgrind not installed: no profile")
        return {}
    demangle = shutil.which("swift-demangle") or (
        "/opt/swift/usr/bin/swift-demangle" if os.path.exists("/opt/swift/usr/bin/swift-demangle") else None)
    out = {}
    env = dict(os.environ)
    symbols = unstripped_copy(tmp)
    if symbols:
        env["LD_LIBRARY_PATH"] = str(symbols.parent)  # c_bench has a RUNPATH: LD_LIBRARY_PATH wins
        log(f"  symbols from {symbols.name} (same build-id as {LIB.name}, not stripped)")
    else:
        warn("no unstripped copy of the library with the same build-id: libsuprsend frames will be addresses")
    for name, n in (("c_single", n_single), ("c_bulk", n_bulk)):
        cmd, _, _ = sc.command(name, nginx.base, n)
        cg = tmp / f"callgrind.{name}.out"
        log(f"  callgrind {name} N={n} ...")
        # Only the timed part (bench_timed_single / bench_timed_bulk in c_bench.c): no start-up, no dlopen.
        toggle = "bench_timed_single" if name == "c_single" else "bench_timed_bulk"
        r = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={cg}", f"--toggle-collect={toggle}"] + cmd,
                           capture_output=True, text=True, timeout=1200, env=env)
        if not cg.exists():
            warn(f"callgrind {name} failed: {r.stderr[-500:]}")
            continue
        ann = run(["callgrind_annotate", "--inclusive=no", "--threshold=99", str(cg)]).stdout
        ann_inc = run(["callgrind_annotate", "--inclusive=yes", "--threshold=99", str(cg)]).stdout
        ann_tree = run(["callgrind_annotate", "--inclusive=no", "--tree=caller", "--threshold=90", str(cg)]).stdout
        if demangle:
            ann = subprocess.run([demangle, "--simplified"], input=ann, capture_output=True, text=True).stdout or ann
            ann_inc = subprocess.run([demangle, "--simplified"], input=ann_inc, capture_output=True, text=True).stdout or ann_inc
            ann_tree = subprocess.run([demangle, "--simplified"], input=ann_tree, capture_output=True, text=True).stdout or ann_tree
        if symbols:  # name the library by its place in dist/, not by the temporary copy
            ann, ann_inc, ann_tree = (x.replace(str(symbols.parent), str(LIB.parent)) for x in (ann, ann_inc, ann_tree))
        (RESULTS / f"profile_{name}.txt").write_text(f"# callgrind, {name}, N={n}: self (exclusive) cost\n{ann}\n\n"
                                                    f"# inclusive cost\n{ann_inc}\n\n# self cost with callers\n{ann_tree}")
        total, top = None, []
        for line in ann.splitlines():
            m = re.match(r"^\s*([\d,]+)\s+\(\s*([\d.]+)%[^)]*\)\s+(?:\([^)]*\)\s+)?(.*)$", line)
            if not m:
                continue
            ir, fn = int(m.group(1).replace(",", "")), m.group(3).strip()
            if fn.endswith("PROGRAM TOTALS"):
                total = ir
            elif total and len(top) < 25:
                top.append({"ir": ir, "percent": round(100.0 * ir / total, 2), "function": fn[:200]})
        out[name] = {"events": n, "total_ir": total, "ir_per_event": round(total / n) if total else None, "top": top,
                     "file": str((RESULTS / f"profile_{name}.txt").relative_to(ROOT))}
        log(f"  {name}: {total:,} instructions in the timed part, {out[name]['ir_per_event']:,} per event" if total else "")
        for t in top[:15]:
            log(f"    {t['percent']:6.2f}%  {t['function']}")
    return out


# ------------------------------------------------------------------------------------------
# Background delivery scenarios: c_enqueue, c_enqueue_queued, py_enqueue
# ------------------------------------------------------------------------------------------
#
# c_enqueue / py_enqueue: N events enqueued on one thread, then flush; every event must be
# delivered (flush OK, stats DELIVERED == N), else the client reports them failed. Their
# events/s and CPU µs/event are end to end (first enqueue .. flush returned, whole process);
# the enqueuing thread's own CPU (CLOCK_THREAD_CPUTIME_ID) around the enqueue loop is
# caller_cpu_us_per_enqueue. c_enqueue_queued: N events enqueued for a hub that refuses
# connections (c_bench holds a bound, non-listening port): peak RSS with all N waiting; its
# events/s and CPU are those of the enqueue loop only.

def enqueue_command(t, name, base, n):
    if name == "c_enqueue":
        return [t["c_bench"], base, KEY, SECRET, "enqueue", str(n)], None, "lib"
    if name == "c_enqueue_queued":  # base is not used: c_bench makes its own refusing port
        return [t["c_bench"], "-", KEY, SECRET, "queued", str(n)], None, "lib"
    if name in ("py_enqueue", "py_enqueue_cb"):
        return ([sys.executable, str(BENCH / "py_client.py"), "--base-url", base, "--key", KEY, "--secret", SECRET,
                 "--n", str(n), "--impl", "native", "--mode", "enqueue"] + (["--on-delivery"] if name == "py_enqueue_cb" else []),
                binding_env(), "binding")
    raise KeyError(name)


# ------------------------------------------------------------------------------------------
# Durable outbox scenarios: c_enqueue_outbox[_8t], c_enqueue_outbox_power_safe[_8t],
# c_enqueue_outbox_waiting, py_enqueue_outbox[_8t]
# ------------------------------------------------------------------------------------------
#
# As c_enqueue / py_enqueue, with suprsend_options_set_outbox_path (outbox=) pointing at a fresh
# file in Scenarios.outbox_dir (a directory on the repository's disk, not tmpfs): N events
# enqueued from 1 or 8 threads, then flush; ok = N only when flush returned OK, DELIVERED == N
# and N "delivered" fates were reported. The figures of interest: enqueue_events_per_s (the
# enqueue calls alone), caller_cpu_us_per_enqueue (the enqueuing threads' own CPU, summed, / N)
# and cpu_us_per_event (whole process until flush returned). _power_safe: synchronous=FULL.
# c_enqueue_outbox_waiting: N events committed while the hub refuses connections; ok = N only
# when SUPRSEND_STAT_QUEUED == N; peak RSS and SUPRSEND_STAT_OUTBOX_BYTES with all N in the
# file, then a close of 100 ms (the events stay in the file). Clients remove the file at the end.

def outbox_dir_for(tmp):
    """A directory for the outbox files on the same disk as the repository and not on tmpfs:
    the run's temporary directory when it qualifies, else one under bench/results/."""
    def fs_type(path):
        best, kind = "", "unknown"
        try:
            for line in open("/proc/mounts"):
                parts = line.split()
                mnt = parts[1].replace("\\040", " ")
                if str(path).startswith(mnt.rstrip("/") + "/") or str(path) == mnt:
                    if len(mnt) >= len(best):
                        best, kind = mnt, parts[2]
        except OSError:
            pass
        return kind
    d = tmp / "outbox"
    d.mkdir(exist_ok=True)
    if os.stat(d).st_dev != os.stat(ROOT).st_dev or fs_type(d.resolve()) in ("tmpfs", "ramfs"):
        d = Path(tempfile.mkdtemp(prefix="outbox-", dir=RESULTS))
    return d, fs_type(d.resolve())


def outbox_command(t, name, base, n, outbox_dir):
    path = str((outbox_dir or Path("/nonexistent")) / f"{name}.db")
    power_safe = "1" if "power_safe" in name else "0"
    threads = "8" if name.endswith("_8t") else "1"
    if name == "outbox_floor":  # no library, no hub: SQLite alone
        return [t.get("outbox_floor", "outbox_floor-not-built"), path, str(n), power_safe], None, "floor"
    if name == "c_enqueue_outbox_waiting":  # base is not used: c_bench makes its own refusing port
        return [t["c_bench"], "-", KEY, SECRET, "outbox_waiting", str(n), "1", path, "0"], None, "lib"
    if name.startswith("c_enqueue_outbox"):
        return [t["c_bench"], base, KEY, SECRET, "outbox", str(n), threads, path, power_safe], None, "lib"
    if name.startswith("py_enqueue_outbox"):
        return ([sys.executable, str(BENCH / "py_client.py"), "--base-url", base, "--key", KEY, "--secret", SECRET,
                 "--n", str(n), "--impl", "native", "--mode", "enqueue", "--outbox", path, "--threads", threads]
                + (["--power-safe"] if power_safe == "1" else []), binding_env(), "binding")
    raise KeyError(name)


def outbox_figures(res):
    if not res.get("outbox"):
        return {}
    ev = res["events"]
    f = {"threads": res.get("threads", 1)}
    if res.get("outbox_bytes_enqueued") is not None and res["outbox_bytes_enqueued"] >= 0:
        f["outbox_mb_enqueued"] = res["outbox_bytes_enqueued"] / 1e6
        f["outbox_bytes_per_event"] = res["outbox_bytes_enqueued"] / ev
    if res.get("outbox_bytes") is not None:
        f["outbox_mb"] = res["outbox_bytes"] / 1e6
    return f


def outbox_ratios_and_targets(g, paired, t, ratios, targets):
    ratios.update({
        "c_enqueue_outbox_over_c_enqueue_cpu": paired("c_enqueue_outbox", "c_enqueue", "cpu_us_per_event"),
        "c_enqueue_outbox_8t_over_c_enqueue_outbox_enqueue_events_per_s":
            paired("c_enqueue_outbox_8t", "c_enqueue_outbox", "enqueue_events_per_s"),
        "c_enqueue_outbox_over_power_safe_enqueue_events_per_s":
            paired("c_enqueue_outbox", "c_enqueue_outbox_power_safe", "enqueue_events_per_s"),
        "c_enqueue_outbox_power_safe_8t_over_power_safe_enqueue_events_per_s":
            paired("c_enqueue_outbox_power_safe_8t", "c_enqueue_outbox_power_safe", "enqueue_events_per_s"),
        "py_enqueue_outbox_over_py_enqueue_cpu": paired("py_enqueue_outbox", "py_enqueue", "cpu_us_per_event"),
        "c_enqueue_outbox_over_outbox_floor_caller_cpu": paired("c_enqueue_outbox", "outbox_floor",
                                                                "caller_cpu_us_per_enqueue"),
        "outbox_floor_over_c_enqueue_outbox_enqueue_events_per_s": paired("outbox_floor", "c_enqueue_outbox",
                                                                          "enqueue_events_per_s"),
    })
    lim = TARGETS["outbox_enqueue_events_per_s_min"]
    targets.update({
        "outbox_c_ge_50k_enqueues_per_s_1_thread": t(g("c_enqueue_outbox", "enqueue_events_per_s"), lim, "min"),
        "outbox_py_ge_50k_enqueues_per_s_1_thread": t(g("py_enqueue_outbox", "enqueue_events_per_s"), lim, "min"),
        "outbox_c_cpu_per_event_le_25us": t(g("c_enqueue_outbox", "cpu_us_per_event"), TARGETS["outbox_c_cpu_us_max"], "max"),
        "outbox_c_8t_cpu_per_event_le_25us": t(g("c_enqueue_outbox_8t", "cpu_us_per_event"), TARGETS["outbox_c_cpu_us_max"], "max"),
        "outbox_200k_waiting_peak_rss_lt_64mb": t(g("c_enqueue_outbox_waiting", "peak_rss_mb"),
                                                  TARGETS["outbox_waiting_peak_rss_mb_max"], "max"),
    })


def print_outbox(scen):
    rows = [s for s in scen if s["name"] in OUTBOX_SCENARIOS]
    if not rows:
        return
    log()
    log("Durable outbox (SQLite file on the repository's disk; medians)")
    log(f"  {'scenario':<30} {'events':>7} {'thr':>3} {'enqueue ev/s':>13} {'caller µs/enq':>14} "
        f"{'process µs/ev':>14} {'end-to-end ev/s':>16} {'peak RSS MB':>12} {'file MB':>8} {'B/event':>8}")
    for s in rows:
        waiting = s["name"] == "c_enqueue_outbox_waiting"
        enq = s.get("enqueue_events_per_s", s["events_per_s"] if waiting else float("nan"))
        log(f"  {s['name']:<30} {s['events']:>7} {int(s.get('threads', 1)):>3} {enq:>13,.0f} "
            f"{s['caller_cpu_us_per_enqueue']:>14.2f} "
            + (f"{'(not sent)':>14} {'(not sent)':>16}" if waiting else f"{s['cpu_us_per_event']:>14.2f} {s['events_per_s']:>16,.0f}")
            + f" {s['peak_rss_mb']:>12.1f} {s.get('outbox_mb', s.get('outbox_mb_enqueued', float('nan'))):>8.1f}"
            f" {s.get('outbox_bytes_per_event', float('nan')):>8.0f}")
    log("  enqueue ev/s: N / wall time of the enqueue calls (all threads); caller: the enqueuing threads' own CPU,")
    log("  summed, / N; process: all threads, first enqueue .. flush returned; file MB: SUPRSEND_STAT_OUTBOX_BYTES")
    log("  after the last enqueue; _power_safe: synchronous=FULL (an fsync per commit); _waiting: hub refusing")
    log("  connections, all N in the file (SUPRSEND_STAT_QUEUED == N), then closed after 100 ms.")


def enqueue_figures(res):
    """Per-run figures of an enqueue scenario (none for the others)."""
    if res.get("mode") not in ("enqueue", "queued"):
        return {}
    ev = res["events"]
    f = {"caller_cpu_us_per_enqueue": res["enqueue_thread_cpu_s"] / ev * 1e6}
    if res.get("event_creation_thread_cpu_s") is not None:
        f["event_creation_cpu_us_per_event"] = res["event_creation_thread_cpu_s"] / ev * 1e6
        f["enqueue_call_cpu_us_per_event"] = f["caller_cpu_us_per_enqueue"] - f["event_creation_cpu_us_per_event"]
    if res.get("enqueue_wall_s"):
        f["enqueue_events_per_s"] = ev / res["enqueue_wall_s"]
        f["enqueue_process_cpu_us_per_event"] = res["enqueue_process_cpu_s"] / ev * 1e6
    if res["mode"] == "queued":
        f["rss_before_mb"] = res["rss_before_kb"] / 1024.0
        f["queued_bytes_per_event"] = (res["peak_rss_kb"] - res["rss_before_kb"]) * 1024.0 / ev
        f["close_ms"] = res["close_s"] * 1000
    return f


def enqueue_ratios_and_targets(g, paired, t, ratios, targets):
    ratios.update({
        "official_py_single_over_py_enqueue_cpu": paired("official_py_single", "py_enqueue", "cpu_us_per_event"),
        "py_enqueue_over_official_py_single_events_per_s": paired("py_enqueue", "official_py_single", "events_per_s"),
        "c_enqueue_over_c_bulk_cpu": paired("c_enqueue", "c_bulk", "cpu_us_per_event"),
        "py_enqueue_over_c_enqueue_cpu": paired("py_enqueue", "c_enqueue", "cpu_us_per_event"),
        "official_py_single_over_py_enqueue_cb_cpu": paired("official_py_single", "py_enqueue_cb", "cpu_us_per_event"),
    })
    targets.update({
        "c_enqueue_cpu_per_event_le_8us": t(g("c_enqueue", "cpu_us_per_event"), TARGETS["c_enqueue_cpu_us_max"], "max"),
        "c_enqueue_caller_cpu_per_enqueue_le_2us": t(g("c_enqueue", "caller_cpu_us_per_enqueue"),
                                                     TARGETS["c_enqueue_caller_cpu_us_max"], "max"),
        "c_enqueue_ge_100k_events_per_s": t(g("c_enqueue", "events_per_s"), TARGETS["c_enqueue_events_per_s_min"], "min"),
        "py_enqueue_cpu_per_event_le_25us": t(g("py_enqueue", "cpu_us_per_event"), TARGETS["py_enqueue_cpu_us_max"], "max"),
        "py_enqueue_cb_cpu_per_event_le_25us": t(g("py_enqueue_cb", "cpu_us_per_event"), TARGETS["py_enqueue_cpu_us_max"], "max"),
        "queued_100k_peak_rss_lt_64mb": t(g("c_enqueue_queued", "peak_rss_mb"), TARGETS["queued_100k_peak_rss_mb_max"], "max"),
    })


def enqueue_notes(s):
    if "caller_cpu_us_per_enqueue" not in s:
        return []
    if s["name"] == "c_enqueue_queued":
        return [f"all waiting: {s['queued_bytes_per_event']:.0f} B/event over {s['rss_before_mb']:.1f} MB; "
                f"close {s['close_ms']:.0f} ms"]
    if s["name"] == "c_enqueue_outbox_waiting":
        return [f"all waiting in the file ({s.get('outbox_mb', float('nan')):.1f} MB): RSS +{s['queued_bytes_per_event']:.0f} B/event "
                f"over {s['rss_before_mb']:.1f} MB; close {s['close_ms']:.0f} ms"]
    if s["name"] in OUTBOX_SCENARIOS:
        return [f"enqueue {s.get('enqueue_events_per_s', float('nan')):,.0f} ev/s, caller {s['caller_cpu_us_per_enqueue']:.2f} µs/enqueue; end to end"]
    return [f"caller {s['caller_cpu_us_per_enqueue']:.2f} µs/enqueue; end to end"]


def print_background(scen):
    rows = [s for s in scen if "caller_cpu_us_per_enqueue" in s]
    if not rows:
        return
    log()
    log("Background delivery (suprsend_enqueue, then suprsend_flush; medians)")
    log(f"  {'scenario':<30} {'events':>7} {'caller µs/enqueue':>18} {'(create':>8} {'+ enqueue)':>10} "
        f"{'process µs/event':>17} {'end-to-end ev/s':>16} {'peak RSS MB':>12}")
    for s in rows:
        queued = s["name"] in ("c_enqueue_queued", "c_enqueue_outbox_waiting")
        log(f"  {s['name']:<30} {s['events']:>7} {s['caller_cpu_us_per_enqueue']:>18.2f} "
            f"{s.get('event_creation_cpu_us_per_event', float('nan')):>8.2f} {s.get('enqueue_call_cpu_us_per_event', float('nan')):>10.2f} "
            + (f"{'(not sent)':>17} {'(not sent)':>16}" if queued else f"{s['cpu_us_per_event']:>17.2f} {s['events_per_s']:>16,.0f}")
            + f" {s['peak_rss_mb']:>12.1f}")
    log("  caller: CPU of the enqueuing thread around the loop (create event, enqueue, free); create: the")
    log("  same events created and freed without enqueueing; process: all threads, first enqueue .. flush end;")
    log("  c_enqueue_queued, c_enqueue_outbox_waiting: the hub refuses connections, peak RSS with every event waiting.")
    log("  (targets and the ratio to official_py_single: under Ratios and Targets)")


# ------------------------------------------------------------------------------------------
# Swift library product scenarios: swift_track, swift_enqueue
# ------------------------------------------------------------------------------------------
#
# bench/swift/Sources/swift-bench/main.swift prints c_bench's JSON line (enqueue: with the same
# enqueue_* fields as c_enqueue, so the background table shows it too). CPU is the whole process
# (getrusage RUSAGE_SELF) around the timed part: swift_track from the first call until every
# task's last call returned, swift_enqueue from the first enqueue until flush returned.

SWIFT_CORRECTNESS = (("swift_track", 50), ("swift_enqueue", 150))


def swift_command(t, name, base, n):
    exe = t.get("swift_bench", "swift-bench-not-built")
    if name == "swift_track":
        return [exe, "track", base, KEY, SECRET, str(n), str(SWIFT_TRACK_CONCURRENCY)], None, "swift"
    if name == "swift_enqueue":
        return [exe, "enqueue", base, KEY, SECRET, str(n)], None, "swift"
    raise KeyError(name)


def swift_prepare(tools, only, smoke):
    """Builds bench/swift (release) when a swift_* scenario is wanted: tools["swift_bench"] is
    the executable, or tools["swift_bench_missing"] says why there is none."""
    wanted = [n for n in SWIFT_SCENARIOS if n in only]
    tools["swift_wanted"] = tuple(wanted)
    if not wanted:
        tools["swift_bench_missing"] = "not asked for" + (" (--smoke builds no Swift bench: --only swift_track,... does)"
                                                          if smoke else "")
        return
    swift = shutil.which("swift") or ("/opt/swift/usr/bin/swift" if os.access("/opt/swift/usr/bin/swift", os.X_OK) else None)
    if not swift:
        tools["swift_bench_missing"] = "swift not found (PATH, /opt/swift/usr/bin)"
        return
    log(f"building {SWIFT_PACKAGE.relative_to(ROOT)} (swift build -c release; the first build takes minutes) ...")
    t0 = time.time()
    build = [swift, "build", "-c", "release", "--package-path", str(SWIFT_PACKAGE)]
    try:
        r = run(build + ["--product", "swift-bench"], timeout=3600)
        if r.returncode != 0:
            # Once more from nothing: SwiftPM can keep the repository package's old list of
            # source files in bench/swift/.build after a file was added or removed ("cannot find
            # ... in scope", "missing inputs"); `reset` removes that build directory.
            log("  swift build failed; once more after swift package reset ...")
            run([swift, "package", "--package-path", str(SWIFT_PACKAGE), "reset"], timeout=600)
            r = run(build + ["--product", "swift-bench"], timeout=3600)
    except subprocess.TimeoutExpired:
        tools["swift_bench_missing"] = "swift build timed out"
        return
    if r.returncode != 0:
        tools["swift_bench_missing"] = "swift build failed: " + (r.stderr.strip() or r.stdout.strip())[-400:]
        return
    exe = Path(run(build + ["--show-bin-path"]).stdout.strip()) / "swift-bench"
    if not os.access(exe, os.X_OK):
        tools["swift_bench_missing"] = f"swift build left no {exe}"
        return
    tools["swift_bench"] = str(exe)
    log(f"  built in {time.time() - t0:.0f} s: {exe}")


def swift_ratios_and_targets(g, paired, t, ratios, targets):
    ratios.update({
        "swift_track_over_c_async_cpu": paired("swift_track", "c_async", "cpu_us_per_event"),
        "swift_track_over_c_single_cpu": paired("swift_track", "c_single", "cpu_us_per_event"),
        "swift_track_over_c_async_events_per_s": paired("swift_track", "c_async", "events_per_s"),
        "swift_enqueue_over_c_enqueue_cpu": paired("swift_enqueue", "c_enqueue", "cpu_us_per_event"),
        "swift_enqueue_over_c_enqueue_caller_cpu": paired("swift_enqueue", "c_enqueue", "caller_cpu_us_per_enqueue"),
    })
    targets.update({
        "swift_track_cpu_le_1.2x_c_async": t(ratios["swift_track_over_c_async_cpu"],
                                             TARGETS["swift_track_cpu_over_c_async_max"], "max"),
        "swift_enqueue_cpu_le_1.2x_c_enqueue": t(ratios["swift_enqueue_over_c_enqueue_cpu"],
                                                 TARGETS["swift_enqueue_cpu_over_c_enqueue_max"], "max"),
    })


def swift_notes(s):
    if s["name"] == "swift_track":
        return [f"{SWIFT_TRACK_CONCURRENCY} tasks awaiting track (like c_async)"]
    return []


# Go binding scenarios: go_single, go_bulk, go_enqueue
# ------------------------------------------------------------------------------------------
#
# bindings/go/internal/benchclient, built once per run with go build (cgo over dist/ through
# pkg-config, an rpath to dist/lib), prints the JSON line of c_bench.c: go_single is c_single
# (TrackEvent from one goroutine, no retries), go_bulk is c_bulk (Append N, Trigger; append and
# trigger timed apart), go_enqueue is c_enqueue (Enqueue N from one goroutine locked to its
# thread, a delivery callback counting fates, Flush; ok = N only when Flush returned nil, Stats
# Delivered == N and N "delivered" fates were reported). CPU is getrusage(RUSAGE_SELF): the
# whole Go process, garbage collector and library threads included.

def build_go_client(tmp):
    """{"go_client": path}, or {"go_client_error": why} when go is missing or the build fails."""
    go = shutil.which("go")
    if not go:
        return {"go_client_error": "go not installed"}
    out = tmp / "go_client"
    env = dict(os.environ)
    env["PKG_CONFIG_PATH"] = str(PKGCONFIG_DIR) + (os.pathsep + env["PKG_CONFIG_PATH"] if env.get("PKG_CONFIG_PATH") else "")
    env["CGO_ENABLED"] = "1"
    env["CGO_LDFLAGS"] = (env.get("CGO_LDFLAGS", "") + f" -Wl,-rpath,{LIB.parent} -Wl,--enable-new-dtags").strip()
    t0 = time.time()
    r = run([go, "build", "-tags", "suprsend_bench", "-o", str(out), "./internal/benchclient"], cwd=GO_DIR, env=env)
    if r.returncode != 0:
        warn(f"go build of the Go bench client failed: {r.stderr.strip()[-800:]}")
        return {"go_client_error": "go build failed: " + r.stderr.strip()[-200:]}
    log(f"built the Go bench client in {time.time() - t0:.1f} s")
    return {"go_client": str(out)}


def go_missing(tools):
    if not shutil.which("go"):
        return "go not installed"
    if "go_client" not in tools:
        return tools.get("go_client_error") or "library not built"
    return None


def go_ratios_and_targets(g, paired, t, ratios, targets):
    ratios.update({
        "go_single_over_c_single_cpu": paired("go_single", "c_single", "cpu_us_per_event"),
        "go_bulk_over_c_bulk_cpu": paired("go_bulk", "c_bulk", "cpu_us_per_event"),
        "go_enqueue_over_c_enqueue_cpu": paired("go_enqueue", "c_enqueue", "cpu_us_per_event"),
        "go_single_over_c_single_events_per_s": paired("go_single", "c_single", "events_per_s"),
        "go_bulk_over_c_bulk_events_per_s": paired("go_bulk", "c_bulk", "events_per_s"),
        "go_enqueue_over_c_enqueue_events_per_s": paired("go_enqueue", "c_enqueue", "events_per_s"),
        "go_single_gomaxprocs2_over_c_single_cpu": paired("go_single_gomaxprocs2", "c_single", "cpu_us_per_event"),
        # The lowest go_*_over_c_*_cpu a binding of map-based events can show: C's CPU per event
        # plus Go's building and writing of the event (go_floor), over C's.
        "c_enqueue_plus_go_floor_over_c_enqueue_cpu": paired("c_enqueue", "go_floor", "cpu_us_per_event",
                                                             lambda c, f: (c + f) / c),
        "c_bulk_plus_go_floor_over_c_bulk_cpu": paired("c_bulk", "go_floor", "cpu_us_per_event", lambda c, f: (c + f) / c),
    })
    # What the binding and Go's runtime add beyond that (medians): Go's CPU per event over C's plus go_floor.
    for go_name, c_name in (("go_bulk", "c_bulk"), ("go_enqueue", "c_enqueue")):
        go_cpu, c_cpu, floor_cpu = g(go_name, "cpu_us_per_event"), g(c_name, "cpu_us_per_event"), g("go_floor", "cpu_us_per_event")
        ratios[f"{go_name}_over_{c_name}_plus_go_floor_cpu"] = (
            round(go_cpu / (c_cpu + floor_cpu), 3) if None not in (go_cpu, c_cpu, floor_cpu) else None)
    targets.update({
        "go_single_cpu_le_1.5x_c_single": t(ratios["go_single_over_c_single_cpu"],
                                            TARGETS["go_single_cpu_over_c_single_max"], "max"),
        "go_bulk_cpu_le_1.3x_c_bulk": t(ratios["go_bulk_over_c_bulk_cpu"], TARGETS["go_bulk_cpu_over_c_bulk_max"], "max"),
        "go_enqueue_cpu_le_1.3x_c_enqueue": t(ratios["go_enqueue_over_c_enqueue_cpu"],
                                              TARGETS["go_enqueue_cpu_over_c_enqueue_max"], "max"),
    })


# ------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------

ORDER = ["floor", "floor_bulk", "c_single", "c_single_8t", "c_async", "c_bulk", "c_enqueue", "c_enqueue_queued",
         "outbox_floor", "c_enqueue_outbox", "c_enqueue_outbox_8t", "c_enqueue_outbox_power_safe", "c_enqueue_outbox_power_safe_8t",
         "c_enqueue_outbox_waiting",
         "py_single", "py_async", "py_bulk", "py_enqueue", "py_enqueue_cb", "py_enqueue_outbox", "py_enqueue_outbox_8t",
         "official_py_single", "official_py_bulk", "node_single", "node_bulk", "node_enqueue"]
ORDER += [n for n in NODE_SCENARIOS if n not in ORDER]  # node_enqueue_nocb
ORDER += [n for n in SWIFT_SCENARIOS if n not in ORDER]
ORDER += GO_SCENARIOS


def ratios_and_targets(by, per_run):
    """Ratios between scenarios are paired: run r of a over run r of b (they ran back to back,
    under the same machine conditions), median over runs. The machine's speed drifts between
    runs far more than within one, so this is steadier than a ratio of medians."""
    def g(n, k):
        return by.get(n, {}).get(k)

    def paired(a, b, k, op=lambda x, y: x / y):
        ra, rb = per_run.get(a) or [], per_run.get(b) or []
        if not ra or not rb:
            return None
        if len(ra) == len(rb):
            vals = [op(x[k], y[k]) for x, y in zip(ra, rb) if y[k]]
            return round(statistics.median(vals), 3) if vals else None
        return round(op(g(a, k), g(b, k)), 3) if g(b, k) else None

    ratios = {
        "c_single_over_floor_cpu": paired("c_single", "floor", "cpu_us_per_event"),
        "c_single_over_floor_cpu_user": paired("c_single", "floor", "cpu_user_us_per_event"),
        "c_single_8t_over_c_single_events_per_s": paired("c_single_8t", "c_single", "events_per_s"),
        "py_single_over_official_py_single_events_per_s": paired("py_single", "official_py_single", "events_per_s"),
        "py_bulk_over_official_py_bulk_events_per_s": paired("py_bulk", "official_py_bulk", "events_per_s"),
        "c_bulk_over_floor_bulk_cpu": paired("c_bulk", "floor_bulk", "cpu_us_per_event"),
        "py_single_over_c_single_cpu": paired("py_single", "c_single", "cpu_us_per_event"),
        "c_async_over_c_single_events_per_s": paired("c_async", "c_single", "events_per_s"),
        "c_async_over_c_single_cpu": paired("c_async", "c_single", "cpu_us_per_event"),
        "py_async_over_c_async_cpu": paired("py_async", "c_async", "cpu_us_per_event"),
        "py_async_over_py_single_events_per_s": paired("py_async", "py_single", "events_per_s"),
        "py_async_over_py_single_cpu": paired("py_async", "py_single", "cpu_us_per_event"),
        "py_bulk_over_c_bulk_cpu": paired("py_bulk", "c_bulk", "cpu_us_per_event"),
    }
    ser = paired("c_bulk", "floor_bulk", "cpu_us_per_event", op=lambda x, y: x - y)
    ratios["c_bulk_serialize_validate_sign_us_per_event"] = ser
    ratios["floor_cpu_us_per_request"] = g("floor", "cpu_us_per_request")
    ratios["floor_bulk_cpu_us_per_request"] = g("floor_bulk", "cpu_us_per_request")

    def t(value, limit, kind):
        if value is None:
            return {"value": None, "target": limit, "met": None}
        return {"value": value, "target": limit, "met": value <= limit if kind == "max" else value >= limit}

    targets = {
        "c_single_cpu_le_1.5x_floor": t(ratios["c_single_over_floor_cpu"], TARGETS["c_single_cpu_over_floor_max"], "max"),
        "c_bulk_serialize_validate_sign_le_5us": t(ser, TARGETS["c_bulk_serialize_sign_us_max"], "max"),
        "c_bulk_cpu_per_event_le_5us_gross": t(g("c_bulk", "cpu_us_per_event"), TARGETS["c_bulk_serialize_sign_us_max"], "max"),
        "py_single_ge_10x_official": t(ratios["py_single_over_official_py_single_events_per_s"], TARGETS["py_single_over_official_min"], "min"),
        "py_bulk_ge_5x_official": t(ratios["py_bulk_over_official_py_bulk_events_per_s"], TARGETS["py_bulk_over_official_min"], "min"),
        "c_bulk_peak_rss_lt_64mb": t(g("c_bulk", "peak_rss_mb"), TARGETS["c_bulk_peak_rss_mb_max"], "max"),
        "py_single_cpu_le_1.4x_c_single": t(ratios["py_single_over_c_single_cpu"],
                                            TARGETS["py_single_cpu_over_c_single_max"], "max"),
        "py_bulk_cpu_le_2x_c_bulk": t(ratios["py_bulk_over_c_bulk_cpu"], TARGETS["py_bulk_cpu_over_c_bulk_max"], "max"),
        "c_async_cpu_le_1.2x_c_single": t(ratios["c_async_over_c_single_cpu"], TARGETS["c_async_cpu_over_c_single_max"], "max"),
        "c_async_ge_5x_c_single_events_per_s": t(ratios["c_async_over_c_single_events_per_s"],
                                                 TARGETS["c_async_events_per_s_over_c_single_min"], "min"),
        "py_async_cpu_le_2x_c_async": t(ratios["py_async_over_c_async_cpu"], TARGETS["py_async_cpu_over_c_async_max"], "max"),
    }
    enqueue_ratios_and_targets(g, paired, t, ratios, targets)
    swift_ratios_and_targets(g, paired, t, ratios, targets)
    slow_ratios_and_targets(g, paired, t, ratios, targets)
    outbox_ratios_and_targets(g, paired, t, ratios, targets)
    node_ratios_and_targets(g, paired, t, ratios, targets)
    go_ratios_and_targets(g, paired, t, ratios, targets)
    return ratios, targets


def print_report(scen, ratios, targets, lib, norec, skipped, machine=None):
    log()
    if machine and machine.get("steal_percent_during_runs") is not None:
        log(f"CPU steal (hypervisor) during the runs: {machine['steal_percent_during_runs']}% of all CPU time")
    w = max([20] + [len(s["name"]) for s in scen] + [len(n) for n in skipped])
    log(f"{'scenario':<{w}} {'events':>8} {'events/s':>11} {'CPU µs/event':>13} {'(user':>7} {'sys)':>7} {'peak RSS MB':>12} {'conns':>6}  notes")
    log("-" * (86 + w))
    for s in scen:
        notes = []
        if "cpu_us_per_request" in s:
            notes.append(f"{s['cpu_us_per_request']:.1f} µs CPU/request")
        if "append_cpu_us_per_event" in s:
            notes.append(f"append {s['append_cpu_us_per_event']:.2f} + trigger {s['trigger_cpu_us_per_event']:.2f} µs")
        if s["name"] == "py_async":
            notes.append(f"asyncio, {PY_ASYNC_CONCURRENCY} calls in flight")
        if s["name"] == "c_async":
            notes.append(f"{C_ASYNC_CONCURRENCY} calls in flight; caller {s.get('caller_cpu_us_per_call', float('nan')):.1f} µs/call")
        notes += enqueue_notes(s)
        notes += swift_notes(s)
        notes += slow_notes(s)
        if s.get("failed"):
            notes.append(f"FAILED {s['failed']}: {s.get('first_error', '')[:80]}")
        conns = s.get("connections_per_run")
        log(f"{s['name']:<{w}} {s['events']:>8} {s['events_per_s']:>11,.0f} {s['cpu_us_per_event']:>13.2f} "
            f"{s['cpu_user_us_per_event']:>7.2f} {s['cpu_sys_us_per_event']:>7.2f} "
            f"{s['peak_rss_mb']:>12.1f} {'' if conns is None else int(conns):>6}  {'; '.join(notes)}")
    for name, why in skipped.items():
        log(f"{name:<{w}} {'skipped':>8}  {why}")
    print_background(scen)
    print_outbox(scen)
    log()
    log("Ratios")
    for k, v in ratios.items():
        log(f"  {k:<50} {'-' if v is None else v}")
    log("  (paired: run r of one scenario against run r of the other, median over runs)")
    log("Targets")
    for k, v in targets.items():
        met = {True: "met", False: "NOT met", None: "not measured"}[v["met"]]
        log(f"  {k:<50} {'-' if v['value'] is None else v['value']:>10}  (target {v['target']})  {met}")
    if lib:
        log("Library")
        log(f"  {lib['path']}: {lib['size_bytes_unstripped']:,} bytes, stripped {lib['size_bytes'] or 0:,} bytes "
            f"({lib['size_mb']} MB); Swift runtime it loads: {lib['swift_runtime_bytes']:,} bytes")
        log(f"  dlopen (RTLD_NOW, fresh process, median of {lib['dlopen_runs']}): {lib['dlopen_ms']} ms"
            + (f" (libcurl alone: {lib['dlopen_ms_libcurl_alone']} ms)" if lib.get("dlopen_ms_libcurl_alone") else "")
            + (f"  ERROR {lib['dlopen_error']}" if lib.get("dlopen_error") else ""))
    if norec:
        log(f"Bulk chunk answered 202 {{\"status\":\"success\"}} without records: {json.dumps(norec)}")


# ------------------------------------------------------------------------------------------
# Slow hub scenarios: c_single_slow, floor_slow, py_single_slow
# ------------------------------------------------------------------------------------------
#
# Does a request's CPU depend on how long the hub takes to answer? c_single, floor and
# py_single again, against bench/slow_hub.py (asyncio, stdlib only), which answers each event
# request as nginx does but SLOW_HUB_DELAY_MS after it came. The client's CPU is its own
# (getrusage(RUSAGE_SELF) in c_bench.c, floor.c, py_client.py), so the server's is not counted.
# Target: c_single_slow's CPU per event within 1.2x c_single's (paired runs). floor_slow, raw
# libcurl against the same slow hub, is the control: what any client that blocks for the
# answer pays on this machine for the wait (a wake-up after 20 ms idle, caches gone cold).
# c_single_paused is the other control: c_single against nginx (answers at once), the client
# sleeping SLOW_HUB_DELAY_MS after each call itself (c_bench.c single ... PAUSE_US), so that
# its thread sleeps as long per event but not inside the library: c_single_slow over it says
# whether the library's wait costs more than any 20 ms pause.
# Fewer events: each takes SLOW_HUB_DELAY_MS of wall time.

SLOW_SCENARIOS = ("c_single_slow", "floor_slow", "py_single_slow")  # against the slow hub
PAUSED_SCENARIOS = ("c_single_paused",)  # against nginx
SLOW_HUB = BENCH / "slow_hub.py"
SLOW_HUB_DELAY_MS = 20
FULL.update({"c_single_slow": 1000, "floor_slow": 300, "py_single_slow": 300, "c_single_paused": 500})
SMOKE.update({"c_single_slow": 10, "floor_slow": 10, "py_single_slow": 10, "c_single_paused": 10})
TARGETS.update({"c_single_slow_cpu_over_c_single_max": 1.2})
# Each right after its twin that the hub answers at once, so that the pair runs back to back.
for _slow in SLOW_SCENARIOS + PAUSED_SCENARIOS:
    if _slow not in ORDER:
        ORDER.insert(ORDER.index(_slow.rsplit("_", 1)[0]) + 1, _slow)


class SlowHub:
    """bench/slow_hub.py on a free port, on the server's CPU when the runs are pinned."""

    def __init__(self, tmp, cpu=None, delay_ms=SLOW_HUB_DELAY_MS):
        port_file = tmp / "slow_hub.port"
        pre = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None  # noqa: E731
        self.proc, self.port = start_server([sys.executable, str(SLOW_HUB), "--delay-ms", str(delay_ms),
                                             "--port-file", str(port_file)], port_file, tmp / "slow_hub.stderr",
                                            "bench/slow_hub.py", preexec_fn=pre)
        self.base = f"http://127.0.0.1:{self.port}/"

    def accepts(self):
        """Connections accepted so far (counting the one used to ask), as Nginx.accepts."""
        st, data = http_json(self.port, "GET", "/_status")
        nums = data.decode().splitlines()[2].split()
        return int(nums[0]), int(nums[2])

    def close(self):
        stop(self.proc)


def slow_command(sc, name, base, n):
    """The command of the scenario's twin (c_single, floor, py_single); base is the slow hub's,
    or nginx's for c_single_paused, whose client pauses after each call."""
    cmd, env, need = sc.command(name.rsplit("_", 1)[0], base, n)
    if name in PAUSED_SCENARIOS:
        cmd = cmd + [str(SLOW_HUB_DELAY_MS * 1000)]  # c_bench single N THREADS PAUSE_US
    return cmd, env, need


def slow_ratios_and_targets(g, paired, t, ratios, targets):
    ratios.update({
        "c_single_slow_over_c_single_cpu": paired("c_single_slow", "c_single", "cpu_us_per_event"),
        "floor_slow_over_floor_cpu": paired("floor_slow", "floor", "cpu_us_per_event"),
        "py_single_slow_over_py_single_cpu": paired("py_single_slow", "py_single", "cpu_us_per_event"),
        "c_single_slow_minus_c_single_cpu_us": paired("c_single_slow", "c_single", "cpu_us_per_event", op=lambda x, y: x - y),
        "floor_slow_minus_floor_cpu_us": paired("floor_slow", "floor", "cpu_us_per_event", op=lambda x, y: x - y),
        "py_single_slow_minus_py_single_cpu_us": paired("py_single_slow", "py_single", "cpu_us_per_event",
                                                        op=lambda x, y: x - y),
        "c_single_paused_over_c_single_cpu": paired("c_single_paused", "c_single", "cpu_us_per_event"),
        "c_single_slow_over_c_single_paused_cpu": paired("c_single_slow", "c_single_paused", "cpu_us_per_event"),
    })
    targets.update({
        "c_single_slow_cpu_le_1.2x_c_single": t(ratios["c_single_slow_over_c_single_cpu"],
                                                TARGETS["c_single_slow_cpu_over_c_single_max"], "max"),
    })


def slow_notes(s):
    if s["name"] in PAUSED_SCENARIOS:
        return [f"hub answers at once; the client sleeps {SLOW_HUB_DELAY_MS} ms after each call"]
    return [f"hub answers after {SLOW_HUB_DELAY_MS} ms (bench/slow_hub.py)"] if s["name"] in SLOW_SCENARIOS else []


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="a few events each, one run; writes results/smoke.json")
    ap.add_argument("--runs", type=int, help="runs per scenario (median taken)")
    ap.add_argument("--only", help="comma-separated scenarios to run (default all)")
    ap.add_argument("--n", action="append", default=[], metavar="SCENARIO=N", help="events for a scenario, e.g. c_bulk=50000")
    ap.add_argument("--pin", choices=("same", "split", "none"), default="same",
                    help="CPU placement for the timed runs: client and nginx on the same CPU (default; see "
                         "README: cross-CPU wake-ups on a VM cost more than the client itself), on two CPUs, or free")
    ap.add_argument("--skip-correctness", action="store_true", help="skip the pass through the hub")
    ap.add_argument("--profile", action="store_true", help="also run c_single and c_bulk under callgrind")
    ap.add_argument("--profile-n", default="2000,10000", help="events for the profile: single,bulk (default 2000,10000)")
    ap.add_argument("--output", help="where to write the JSON (default results/latest.json or results/smoke.json)")
    a = ap.parse_args()
    if a.smoke and a.skip_correctness:
        ap.error("--smoke checks every client's sample through the hub; --skip-correctness cannot go with it")

    cfg = dict(SMOKE if a.smoke else FULL)
    if a.runs:
        cfg["runs"] = a.runs
    for spec in a.n:
        k, _, v = spec.partition("=")
        if k not in cfg:
            ap.error(f"--n: unknown scenario {k}")
        cfg[k] = int(v)
    for k in ("floor_bulk", "c_bulk", "py_bulk", "official_py_bulk", "node_bulk"):
        cfg[k] = max(BULK_CHUNK, -(-cfg[k] // BULK_CHUNK) * BULK_CHUNK)  # whole chunks: nginx's fixed bulk answer
    cfg["go_bulk"] = max(BULK_CHUNK, -(-cfg["go_bulk"] // BULK_CHUNK) * BULK_CHUNK)
    only = set(a.only.split(",")) if a.only else set(ORDER)
    if a.smoke and not a.only:
        only -= set(SWIFT_SCENARIOS)  # minutes of swift build: not in make test (see SWIFT_SCENARIOS)
    out_path = Path(a.output) if a.output else RESULTS / ("smoke.json" if a.smoke else "latest.json")
    RESULTS.mkdir(parents=True, exist_ok=True)

    t_start = time.time()
    machine = machine_info()
    log(f"bench: {machine['cpu_model']}, {machine['cores']} cores, {machine['kernel']}, load {machine['loadavg_start']}")
    tmp = Path(tempfile.mkdtemp(prefix="suprsend-bench-"))
    nginx = None
    slow_hub = None
    sc = None
    exit_code = 0
    try:
        tools = {"floor": build_c(tmp, "floor", BENCH / "floor.c", ["-lcurl", "-lcrypto"]),
                 "outbox_floor": build_c(tmp, "outbox_floor", BENCH / "outbox_floor.c", sqlite_flags()),
                 "dlopen": build_c(tmp, "dlopen_time", BENCH / "dlopen_time.c", ["-ldl"])}
        have_lib = LIB.exists()
        if have_lib:
            try:
                tools["c_bench"] = build_c(tmp, "c_bench", BENCH / "c_bench.c", pkg_config_flags())
            except RuntimeError as e:
                warn(str(e))
                have_lib = False
        else:
            warn(f"{LIB.relative_to(ROOT)} not built yet (run `make`): library scenarios skipped")
        tools.update(build_go_client(tmp) if have_lib else {})
        have_binding = (BINDING_SRC / "suprsend_native").is_dir()
        if not have_binding:
            warn(f"{BINDING_SRC.relative_to(ROOT)}/suprsend_native missing: Python binding scenarios skipped")
        have_official = ensure_official_sdk()
        swift_prepare(tools, only, a.smoke)
        sc = Scenarios(tools, have_lib, have_binding, have_official)
        sc.outbox_dir, outbox_fs = outbox_dir_for(tmp)
        cfg["outbox_dir_fs"] = outbox_fs

        correctness = None
        if not a.skip_correctness:
            good, rows = correctness_pass(tmp, sc, strict=a.smoke)
            correctness = {"ok": good, "clients": rows}
            if not good:
                exit_code = 1
                warn("correctness pass FAILED: see above")

        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        client_cpu = server_cpu = None
        if a.pin == "same" and cpus:
            client_cpu = server_cpu = cpus[0]
        elif a.pin == "split" and len(cpus) >= 2:
            client_cpu, server_cpu = cpus[0], cpus[1]
        cfg["pin"] = a.pin
        cfg["client_cpu"], cfg["server_cpu"] = client_cpu, server_cpu
        nginx = Nginx(tmp, server_cpu)
        sc.client_cpu = client_cpu
        log(f"\nnginx on {nginx.base} ({machine['nginx']}); runs per scenario: {cfg['runs']}; "
            f"pinning: {a.pin} (client CPU {client_cpu}, nginx CPU {server_cpu})")
        names = [n for n in ORDER if n in only]
        skipped = {n: sc.missing(n) for n in names if not sc.available(n)}
        if skipped and a.smoke:
            exit_code = exit_code or 1
            warn("smoke: scenarios that cannot run: " + ", ".join(f"{n} ({w})" for n, w in skipped.items()))
        names = [n for n in names if n not in skipped]
        if any(n in SLOW_SCENARIOS for n in names):
            slow_hub = SlowHub(tmp, server_cpu)
            log(f"slow hub on {slow_hub.base} (bench/slow_hub.py, answers after {SLOW_HUB_DELAY_MS} ms; CPU {server_cpu})")
        results = {n: [] for n in names}
        c0 = cpu_times()
        for r in range(cfg["runs"]):
            for n in names:  # interleaved: run r of every scenario, then run r+1
                srv = slow_hub if n in SLOW_SCENARIOS else nginx
                before = srv.accepts()[0]
                try:
                    res = sc.run_one(n, srv.base, cfg[n])
                except Exception as e:  # noqa: BLE001
                    warn(str(e))
                    exit_code = exit_code or 2
                    continue
                res["_connections"] = srv.accepts()[0] - before - 1  # minus the connection that asked
                results[n].append(res)
                if a.smoke and (res.get("failed") or res.get("ok") != res["events"]):
                    exit_code = exit_code or 1
                    warn(f"smoke: {n} reported {res.get('failed')} failed of {res['events']} events: "
                         f"{res.get('error', '')[:300]}")
                f = per_run_figures(res)
                log(f"  run {r + 1}/{cfg['runs']} {n:<20} {res['events']:>7} ev  {f['events_per_s']:>10,.0f} ev/s  "
                    f"{f['cpu_us_per_event']:>8.2f} µs CPU/ev  {f['peak_rss_mb']:>6.1f} MB  conns {res['_connections']}"
                    + (f"  FAILED {res['failed']}: {res.get('error', '')[:100]}" if res.get("failed") else ""))
        c1 = cpu_times()
        if c0 and c1 and c1[0] > c0[0]:
            machine["steal_percent_during_runs"] = round(100.0 * (c1[1] - c0[1]) / (c1[0] - c0[0]), 2)
        scen = [summarize(n, results[n]) for n in names if results[n]]
        by = {s["name"]: s for s in scen}
        per_run = {n: [per_run_figures(r) for r in results[n]] for n in names}
        ratios, targets = ratios_and_targets(by, per_run)

        lib = library_figures(tmp, tools["dlopen"], cfg["dlopen_runs"]) if have_lib else None
        norec = bulk_without_records(sc, nginx) if have_lib else None
        prof = None
        if a.profile and have_lib:
            log("\nProfile (valgrind --tool=callgrind, against nginx)")
            ps, pb = (int(x) for x in a.profile_n.split(","))
            prof = profile(tmp, sc, nginx, ps, pb)

        print_report(scen, ratios, targets, lib, norec, skipped, machine)
        machine["loadavg_end"] = os.getloadavg()
        doc = {"mode": "smoke" if a.smoke else "full", "machine": machine, "config": cfg,
               "scenarios": scen, "skipped": skipped, "ratios": ratios, "targets": targets,
               "library": lib or {"size_bytes": None, "dlopen_ms": None, "note": "library not built"},
               "bulk_answer_without_records": norec, "correctness": correctness,
               "profile": prof, "duration_s": round(time.time() - t_start, 1)}
        out_path.write_text(json.dumps(doc, indent=2) + "\n")
        log(f"\nwrote {out_path.relative_to(ROOT) if out_path.is_relative_to(ROOT) else out_path} "
            f"in {doc['duration_s']} s")
    except RuntimeError as e:
        print(f"bench: {e}", file=sys.stderr)
        exit_code = 2
    finally:
        if nginx:
            nginx.close()
        if slow_hub:
            slow_hub.close()
        shutil.rmtree(tmp, ignore_errors=True)
        if sc is not None and sc.outbox_dir and sc.outbox_dir.parent == RESULTS:
            shutil.rmtree(sc.outbox_dir, ignore_errors=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
