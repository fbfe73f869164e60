"""Tests of the suprsend-events command-line tool (cli/) against the local hub (tools/hub).

Run through tests/cli/run.sh, which builds the tool and sets SUPRSEND_CLI to it:

    tests/cli/run.sh            (or: SUPRSEND_CLI=dist/bin/suprsend-events python3 -m pytest -q tests/cli)

The hub records every event it accepted (GET /_hub/events), can refuse records and slow requests
down (/_hub/faults); the tests compare what the tool printed and returned with what the hub got.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tools", "hub"))
from hub_process import HubProcess  # noqa: E402
CLI = os.environ.get("SUPRSEND_CLI", os.path.join(REPO, "dist", "bin", "suprsend-events"))

KEY = "cli_test_key_0123456789"
SECRET = "cli_test_secret_abcdef"


class Hub(HubProcess):
    def __init__(self, work: str) -> None:
        super().__init__(work, [(KEY, SECRET)])
        self.url = self.base_url

    def faults(self, spec: Dict[str, Any]) -> None:
        self.call("POST", "_hub/faults", spec)


@pytest.fixture(scope="session")
def hub_process(tmp_path_factory: pytest.TempPathFactory):
    if not os.access(CLI, os.X_OK):
        pytest.fail(f"the suprsend-events tool is missing ({CLI}); build it with cli/build.sh", pytrace=False)
    h = Hub(str(tmp_path_factory.mktemp("hub")))
    yield h
    h.stop()


@pytest.fixture
def hub(hub_process: Hub):
    hub_process.call("POST", "_hub/reset", {})
    yield hub_process
    hub_process.faults({"script": []})


def env_for(hub: Optional[Hub], **extra: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPRSEND_")}
    env.update(SUPRSEND_WORKSPACE_KEY=KEY, SUPRSEND_WORKSPACE_SECRET=SECRET)
    if hub:
        env["SUPRSEND_BASE_URL"] = hub.url
    env.update(extra)
    return env


def run(args: List[str], hub: Optional[Hub], stdin: Optional[str] = None, timeout: float = 300,
        env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
    return subprocess.run([CLI] + args, input=stdin, capture_output=True, text=True, timeout=timeout,
                          env=env if env is not None else env_for(hub))


def user_props(event: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in event["properties"].items() if not k.startswith("$")}


def write_lines(path, objects) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for o in objects:
            f.write(o if isinstance(o, str) else json.dumps(o))
            f.write("\n")


def read_jsonl(path) -> List[Dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def unused_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def library_version() -> str:
    lib = ctypes.CDLL(os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(CLI))), "lib", "libsuprsend.so"))
    lib.suprsend_version.restype = ctypes.c_char_p
    return lib.suprsend_version().decode()


# ---- help, version, setup ------------------------------------------------------------------

def test_help_and_version():
    for args, words in ((["--help"], ["track", "import", "SUPRSEND_WORKSPACE_KEY", "Exit status"]),
                        (["track", "--help"], ["--distinct-id", "--event", "--properties", "--idempotency-key",
                                               "--tenant-id", "--brand-id", "--attach", "message id", "Exit status"]),
                        (["import", "--help"], ["--failed", "--background", "--batch-size", "\"error\"",
                                                "ignored", "Exit status"])):
        r = run(args, None)
        assert r.returncode == 0, r.stderr
        for w in words:
            assert w in r.stdout, (args, w)
    r = run(["--version"], None)
    assert r.returncode == 0
    assert library_version() in r.stdout


@pytest.mark.parametrize("args", [["track", "--distinct-id", "u", "--event", "ev_x"], ["import", "-"]])
def test_missing_credentials_exit_2(hub, args):
    env = env_for(hub)
    del env["SUPRSEND_WORKSPACE_SECRET"]
    r = run(args, hub, stdin="", env=env)
    assert r.returncode == 2
    assert "SUPRSEND_WORKSPACE_KEY" in r.stderr and "SUPRSEND_WORKSPACE_SECRET" in r.stderr
    assert hub.stats()["requests"] == 0


@pytest.mark.parametrize("args, message", [
    (["track", "--event", "e1"], "missing --distinct-id ID"),
    (["track", "--distinct-id", "u1"], "missing --event NAME"),
    (["track", "--distinct-id", "u1", "--event", "e1", "--properties", "[1, 2]"], "--properties: not a JSON object"),
    (["track", "--distinct-id", "u1", "--event", "e1", "--properties", '{"a" 1}'], "at column 6"),
    (["track", "--distinct-id", "u1", "--event", "e1", "--bogus"], "unknown option '--bogus'"),
    (["track", "--distinct-id", "u1", "--event"], "--event needs a value"),
    (["track", "--distinct-id", "u1", "--event", "e1", "--attach", "/nonexistent/file.pdf"], "--attach"),
    (["track", "--distinct-id", "u1", "--event", "e1", "--base-url", "ftp://x/"], "--base-url"),
    (["import"], "missing FILE"),
    (["import", "/nonexistent/events.jsonl"], "cannot open /nonexistent/events.jsonl"),
    (["import", "--batch-size", "0", "-"], "--batch-size"),
    (["import", "--jobs", "x", "-"], "--jobs"),
    (["nosuchcommand"], "unknown command"),
])
def test_usage_errors_exit_2(hub, args, message):
    r = run(args, hub, stdin="")
    assert r.returncode == 2, r.stderr
    assert message in r.stderr
    assert hub.stats()["requests"] == 0


# ---- track ---------------------------------------------------------------------------------

def test_track_accepted_prints_message_id(hub, tmp_path):
    attachment = tmp_path / "invoice.txt"
    attachment.write_text("total: 10\n")
    r = run(["track", "--distinct-id", "user_\u00e9", "--event", "product_purchased",
             "--properties", '{"amount": 49.5, "name": "caf\\u00e9 \\ud83d\\ude00", "tags": ["a"]}',
             "--idempotency-key", "order-1", "--tenant-id", "tenant_1", "--brand-id", "brand_1",
             "--attach", str(attachment)], hub)
    assert r.returncode == 0, r.stderr
    events = hub.events()
    assert len(events) == 1
    e = events[0]
    assert r.stdout.strip() == e["_hub"]["message_id"]
    assert e["distinct_id"] == "user_\u00e9" and e["event"] == "product_purchased"
    assert user_props(e) == {"amount": 49.5, "name": "caf\u00e9 \U0001F600", "tags": ["a"]}
    assert e["$idempotency_key"] == "order-1" and e["tenant_id"] == "tenant_1"
    assert e["brand_id"] == "brand_1"
    assert e["properties"]["$attachments"][0]["filename"] == "invoice.txt"


def test_track_base_url_option_wins_over_environment(hub):
    env = env_for(hub, SUPRSEND_BASE_URL=f"http://127.0.0.1:{unused_port()}/")
    r = run(["--base-url", hub.url, "track", "--distinct-id", "u1", "--event", "ev_one"], hub, env=env)
    assert r.returncode == 0, r.stderr
    assert len(hub.events()) == 1


def test_track_refused_by_hub_exit_1(hub):
    hub.faults({"script": [{"refuse_records": [0]}]})
    r = run(["track", "--distinct-id", "u1", "--event", "ev_one"], hub)
    assert r.returncode == 1
    assert r.stdout == ""
    assert "HTTP 400" in r.stderr and "injected fault: record refused" in r.stderr
    assert hub.events() == []


def test_track_rule_broken_is_not_sent_exit_1(hub):
    r = run(["track", "--distinct-id", "u1", "--event", "$reserved"], hub)
    assert r.returncode == 1
    assert "must not start with '$'" in r.stderr
    assert hub.stats()["requests"] == 0


def test_track_no_answer_exit_1(hub):
    r = run(["track", "--base-url", f"http://127.0.0.1:{unused_port()}/", "--distinct-id", "u1", "--event", "ev_one"],
            hub)
    assert r.returncode == 1
    assert "check --base-url" in r.stderr


# ---- import --------------------------------------------------------------------------------

SUMMARY = re.compile(r"suprsend-events import: ([\d,]+) lines read: ([\d,]+) accepted, (\d+) refused.*; ([\d.]+) s, ([\d,]+) events/s")


def summary(stderr: str):
    m = SUMMARY.search(stderr)
    assert m, stderr
    return tuple(float(g.replace(",", "")) for g in m.groups())


def test_import_100000_lines_all_accepted(hub, tmp_path):
    path = tmp_path / "100k.jsonl"
    write_lines(path, ({"distinct_id": f"user_{i % 997}", "event": "order_placed",
                        "properties": {"n": i, "city": "M\u00fcnchen", "items": [1, {"sku": "x"}]}}
                       for i in range(100000)))
    started = time.monotonic()
    r = run(["import", "--failed", str(tmp_path / "failed.jsonl"), str(path)], hub, timeout=600)
    elapsed = time.monotonic() - started
    assert r.returncode == 0, r.stderr[-2000:]
    lines, accepted, refused, seconds, rate = summary(r.stderr)
    assert (lines, accepted, refused) == (100000, 100000, 0)
    assert os.path.getsize(tmp_path / "failed.jsonl") == 0
    stats = hub.stats()
    assert stats["accepted"] == 100000 and stats["duplicates"] == 0 and stats["rejected"] == 0
    events = hub.events()
    assert sorted(e["properties"]["n"] for e in events) == list(range(100000))
    assert all(e["properties"]["city"] == "M\u00fcnchen" for e in events)
    assert elapsed < 300, f"100,000 events took {elapsed:.1f} s"
    with open(os.environ.get("SUPRSEND_CLI_REPORT", os.devnull), "a") as report:
        report.write(f"import of 100,000 lines: {elapsed:.2f} s wall, the tool said {seconds:.2f} s, "
                     f"{rate:,.0f} events/s\n")


def test_import_background_100000(hub, tmp_path):
    path = tmp_path / "bg.jsonl"
    write_lines(path, ({"distinct_id": f"u{i}", "event": "signed_up", "properties": {"n": i}} for i in range(100000)))
    started = time.monotonic()
    r = run(["import", "--background", str(path)], hub, timeout=600)
    elapsed = time.monotonic() - started
    assert r.returncode == 0, r.stderr[-2000:]
    assert summary(r.stderr)[:3] == (100000, 100000, 0)
    assert hub.stats()["accepted"] == 100000
    assert sorted(e["properties"]["n"] for e in hub.events()) == list(range(100000))
    with open(os.environ.get("SUPRSEND_CLI_REPORT", os.devnull), "a") as report:
        report.write(f"import --background of 100,000 lines: {elapsed:.2f} s wall, "
                     f"{100000 / elapsed:,.0f} events/s\n")


MIXED = [
    '{"distinct_id":"u1","event":"ok_one","properties":{"a":1}}',                          # 1 accepted
    "not json at all",                                                                      # 2 bad
    "",                                                                                     # 3 blank, skipped
    '{"distinct_id":"u2","event":"$reserved"}',                                             # 4 rule broken
    '{"distinct_id":"u3"}',                                                                 # 5 bad: no event
    '{"distinct_id":"caf\\u00e9","event":"smile_\\ud83d\\ude00","properties":{"s":"\\ud83d\\ude00"}}',  # 6 accepted
    '{"distinct_id":"u5","event":"x\\ud800"}',                                              # 7 bad: lone surrogate
    '{"distinct_id":5,"event":"num_id"}',                                                   # 8 bad: number
    '{"distinct_id":"u7","event":"refused_by_hub","idempotency_key":"k7"}',                 # 9 refused by the hub
    '{"distinct_id":"u8","event":"props_array","properties":[1]}',                          # 10 bad: properties
    '{"distinct_id":"u9","event":"trailing_comma",}',                                       # 11 bad: syntax
    '{"distinct_id":"u10","event":"ok_tenant","tenant_id":"t_1","brand_id":"b_1","properties":null}',  # 12 accepted
]


def test_import_brand_id_checked_like_tenant_id(hub, tmp_path):
    path = tmp_path / "brands.jsonl"
    path.write_text('{"distinct_id":"u1","event":"branded","brand_id":"acme_brand"}\n'
                    '{"distinct_id":"u2","event":"branded","brand_id":"not a brand!"}\n'
                    '{"distinct_id":"u3","event":"branded","brand_id":7}\n')
    failed = tmp_path / "failed.jsonl"
    r = run(["import", "--failed", str(failed), str(path)], hub)
    assert r.returncode == 1, r.stderr
    assert [e["brand_id"] for e in hub.events()] == ["acme_brand"]
    by_line = {rec["error"]["line"]: rec for rec in read_jsonl(failed)}
    assert set(by_line) == {2, 3}
    assert by_line[2]["error"]["message"].startswith("brand_id: ")
    assert "\"brand_id\" must be a string" in by_line[3]["error"]["message"]


@pytest.mark.parametrize("mode", [[], ["--background"]])
def test_import_bad_lines_failed_file_and_reimport(hub, tmp_path, mode):
    path = tmp_path / "mixed.jsonl"
    write_lines(path, MIXED)
    # the valid events reach the hub in one request: u1, café, u7, u10; refuse u7 (index 2)
    hub.faults({"script": [{"refuse_records": [2]}]})
    failed = tmp_path / "failed.jsonl"
    r = run(["import", "--failed", str(failed)] + mode + [str(path)], hub)
    assert r.returncode == 1, r.stderr
    lines, accepted, refused, _, _ = summary(r.stderr)
    assert (lines, accepted, refused) == (11, 3, 2)
    assert "6 bad lines" in r.stderr
    columns = {2: 1, 7: MIXED[6].index("\\ud800") + 1, 8: MIXED[7].index(":5") + 2,
               10: MIXED[9].index("[1]") + 1, 11: len(MIXED[10])}
    for n, col in columns.items():
        assert f"line {n}, column {col}:" in r.stderr, (n, col, r.stderr)
    assert "line 5: missing \"event\"" in r.stderr
    assert "line 4: refused before sending" in r.stderr
    assert "line 9: refused by the hub" in r.stderr

    got = {e["distinct_id"]: e for e in hub.events()}
    assert set(got) == {"u1", "caf\u00e9", "u10"}
    assert got["caf\u00e9"]["event"] == "smile_\U0001F600" and user_props(got["caf\u00e9"]) == {"s": "\U0001F600"}
    assert got["u10"]["tenant_id"] == "t_1" and got["u10"]["brand_id"] == "b_1"

    records = read_jsonl(failed)
    by_line = {rec["error"]["line"]: rec for rec in records}
    assert sorted(by_line) == [2, 4, 5, 7, 8, 9, 10, 11]
    assert by_line[2]["raw"] == "not json at all"
    assert by_line[9]["error"]["status"] == "SUPRSEND_E_HTTP" and by_line[9]["error"]["code"] == 400
    assert by_line[9]["idempotency_key"] == "k7" and by_line[9]["event"] == "refused_by_hub"
    assert by_line[4]["error"]["status"] == "SUPRSEND_E_VALIDATION"
    assert by_line[7]["error"]["column"] == columns[7] and "lone surrogate" in by_line[7]["error"]["message"]
    assert by_line[5]["distinct_id"] == "u3"  # a well-formed object is kept whole

    # Fix what can be fixed, leave the "error" members in place, import the file again.
    fixed = []
    for rec in records:
        if "raw" in rec:
            rec = {"distinct_id": f"raw_{rec['error']['line']}", "event": "fixed_raw", "error": rec["error"]}
        else:
            rec["distinct_id"] = str(rec["distinct_id"])
            if rec.get("event", "$").startswith("$") or "event" not in rec:
                rec["event"] = "fixed_name"
            if not isinstance(rec.get("properties", {}), dict):
                rec["properties"] = {"was": rec["properties"]}
        fixed.append(rec)
    write_lines(failed, fixed)
    hub.call("POST", "_hub/reset", {})
    again = tmp_path / "failed-again.jsonl"
    r = run(["import", "--failed", str(again)] + mode + [str(failed)], hub)
    assert r.returncode == 0, r.stderr
    assert summary(r.stderr)[:3] == (8, 8, 0)
    assert os.path.getsize(again) == 0
    got = {e["distinct_id"]: e for e in hub.events()}
    assert set(got) == {"raw_2", "u2", "u3", "raw_7", "5", "u7", "u8", "raw_11"}
    assert got["u7"]["$idempotency_key"] == "k7"
    assert user_props(got["u8"]) == {"was": [1]}
    assert all("error" not in e["properties"] for e in got.values())


def test_import_stdin_and_periodic_lines_when_not_a_terminal(hub):
    # slow requests (50 ms each, 100 events a request) so that the import lasts a few seconds
    hub.faults({"rate": {"delay": 1.0}, "delay_ms": 50})
    text = "".join(json.dumps({"distinct_id": f"u{i}", "event": "piped", "properties": {"i": i}}) + "\n"
                   for i in range(6000))
    r = run(["import", "--jobs", "1", "--batch-size", "500", "--progress-interval", "0.5", "-"], hub, stdin=text)
    assert r.returncode == 0, r.stderr
    periodic = re.findall(r"^suprsend-events import: (\d+) lines, (\d+) accepted, (\d+) failed, (\d+) events/s", r.stderr, re.M)
    assert len(periodic) >= 2, r.stderr
    counts = [int(p[1]) for p in periodic]
    assert counts == sorted(counts) and 0 < counts[-1] <= 6000
    assert "\r" not in r.stderr and "\033[" not in r.stderr  # no terminal codes in a log
    assert summary(r.stderr)[:3] == (6000, 6000, 0)
    assert hub.stats()["accepted"] == 6000


def test_import_hub_unreachable_rest_goes_to_failed(hub, tmp_path):
    path = tmp_path / "e.jsonl"
    write_lines(path, ({"distinct_id": f"u{i}", "event": "ev_one"} for i in range(2500)))
    failed = tmp_path / "failed.jsonl"
    r = run(["import", "--base-url", f"http://127.0.0.1:{unused_port()}/", "--failed", str(failed), str(path)], hub,
            timeout=120)
    assert r.returncode == 1
    assert "did not answer" in r.stderr and "2500 not delivered" in r.stderr
    records = read_jsonl(failed)
    assert sorted(rec["error"]["line"] for rec in records) == list(range(1, 2501))
    assert all(rec["error"]["status"] == "SUPRSEND_E_NETWORK" for rec in records)


def test_import_reports_the_status_the_library_gives(hub, tmp_path):
    """A request the hub answered 500 (every try) is a refusal by the hub (SUPRSEND_E_HTTP, code
    500), not a failure to reach it; an event refused before sending is SUPRSEND_E_VALIDATION."""
    path = tmp_path / "e.jsonl"
    write_lines(path, [{"distinct_id": "u1", "event": "ev_one"}, {"distinct_id": "u2", "event": "$bad"},
                       {"distinct_id": "u3", "event": "ev_one"}])
    failed = tmp_path / "failed.jsonl"
    hub.faults({"rate": {"status_500": 1.0}})
    try:
        r = run(["import", "--failed", str(failed), str(path)], hub, timeout=120)
    finally:
        hub.faults({})
    assert r.returncode == 1
    records = {rec["distinct_id"]: rec["error"] for rec in read_jsonl(failed)}
    assert records["u1"]["status"] == "SUPRSEND_E_HTTP" and records["u1"]["code"] == 500, records
    assert records["u3"]["status"] == "SUPRSEND_E_HTTP" and records["u3"]["code"] == 500, records
    assert records["u2"]["status"] == "SUPRSEND_E_VALIDATION", records
    assert "did not answer" not in r.stderr


# ---- the progress bar in a real terminal (tmux) -----------------------------------------------

BAR = re.compile(r"(\d+)% \[[#-]+\] ([\d,]+)/20,000 events\s+([\d,]+) events/s\s+ETA (\d+:\d\d)")
STDIN_BAR = re.compile(r"([\d,]+) events\s+([\d,]+) events/s\s+(\d+:\d\d) elapsed")


def _tmux_import(hub: Hub, tmp_path, command: str, pattern: re.Pattern, name: str):
    if not shutil.which("tmux"):
        pytest.fail("tmux is missing (scripts/install-deps.sh installs it)", pytrace=False)
    socket_name = f"suprsend-cli-test-{os.getpid()}-{name}"
    done = tmp_path / f"{name}.status"
    script = tmp_path / f"{name}.sh"
    script.write_text(
        "#!/bin/sh\n"
        f"export SUPRSEND_WORKSPACE_KEY='{KEY}' SUPRSEND_WORKSPACE_SECRET='{SECRET}' SUPRSEND_BASE_URL='{hub.url}'\n"
        f"{command}\n"
        f"echo $? > '{done}.tmp'; mv '{done}.tmp' '{done}'\n"
        "sleep 60\n")
    script.chmod(0o755)
    tmux = ["tmux", "-L", socket_name, "-f", "/dev/null"]
    subprocess.run(tmux + ["new-session", "-d", "-x", "120", "-y", "30", str(script)], check=True)
    seen = []
    screens = []
    try:
        deadline = time.monotonic() + 120
        while not done.exists() and time.monotonic() < deadline:
            screen = subprocess.run(tmux + ["capture-pane", "-p"], capture_output=True, text=True).stdout
            seen += [m for m in pattern.finditer(screen)]
            screens.append(screen)
            time.sleep(0.1)
        assert done.exists(), "the import in tmux did not finish"
        final = subprocess.run(tmux + ["capture-pane", "-p"], capture_output=True, text=True).stdout
    finally:
        subprocess.run(tmux + ["kill-server"], capture_output=True)
    return int(done.read_text()), seen, final, screens


def test_progress_bar_in_a_terminal(hub, tmp_path):
    path = tmp_path / "20k.jsonl"
    write_lines(path, ({"distinct_id": f"u{i}", "event": "bar_test"} for i in range(20000)))
    hub.faults({"rate": {"delay": 1.0}, "delay_ms": 30})  # 200 requests of 30 ms: several seconds
    status, seen, final, _ = _tmux_import(hub, tmp_path, f"'{CLI}' import --jobs 1 '{path}'", BAR, "file")
    assert status == 0, final
    assert len(seen) >= 3, final
    percents = [int(m.group(1)) for m in seen]
    counts = [int(m.group(2).replace(",", "")) for m in seen]
    assert percents == sorted(percents) and counts == sorted(counts)
    assert any(0 < p < 100 for p in percents), percents
    assert any(int(m.group(3).replace(",", "")) > 0 for m in seen)
    # the bar is gone at the end, the summary is there
    assert "ETA" not in final and "%" not in final
    assert "20,000 lines read: 20,000 accepted, 0 refused" in final
    assert hub.stats()["accepted"] == 20000


def test_progress_bar_from_stdin_has_no_eta(hub, tmp_path):
    path = tmp_path / "5k.jsonl"
    write_lines(path, ({"distinct_id": f"u{i}", "event": "bar_test"} for i in range(5000)))
    hub.faults({"rate": {"delay": 1.0}, "delay_ms": 40})
    status, seen, final, screens = _tmux_import(
        hub, tmp_path, f"cat '{path}' | '{CLI}' import --jobs 1 --batch-size 200 -", STDIN_BAR, "stdin")
    assert status == 0, final
    assert len(seen) >= 2, final
    assert not any("ETA" in screen or "%" in screen for screen in screens)  # the total is unknown
    assert "ETA" not in final and "5,000 lines read: 5,000 accepted" in final
