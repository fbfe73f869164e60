#!/usr/bin/env python3
"""The Go binding's benchmarks (bindings/go/bench_test.go) against bench/run.py's nginx.

    python3 bench/go_bench.py                  # = make bench-go; writes bench/results/go.json
    python3 bench/go_bench.py --benchtime 2s --count 3

nginx answers every request at once (a fixed 202, the bulk answer with 100 records), as for the
C and Python scenarios of run.py, so what is measured is the client: the Go binding and the
library under it. Needs what run.py needs for nginx, Go 1.19 or newer, and dist/ (make).
"""
import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (bench/run.py: Nginx, machine_info, paths)

LINE = re.compile(r"^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+(.*)$")


def parse(output):
    results = {}
    for line in output.splitlines():
        m = LINE.match(line.strip())
        if not m:
            continue
        name, n, rest = m.group(1), int(m.group(2)), m.group(3)
        metrics = {unit: float(value) for value, unit in re.findall(r"([\d.]+) (\S+)", rest)}
        results.setdefault(name, []).append({"n": n, **metrics})
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--benchtime", default="3s", help="go test -benchtime for TrackEvent and Enqueue")
    ap.add_argument("--bulk-benchtime", default="3x", help="go test -benchtime for the 100k bulk")
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--output", default=str(run.RESULTS / "go.json"))
    args = ap.parse_args()

    env = dict(os.environ)
    env["PKG_CONFIG_PATH"] = str(run.PKGCONFIG_DIR) + (":" + env["PKG_CONFIG_PATH"] if env.get("PKG_CONFIG_PATH") else "")
    env["LD_LIBRARY_PATH"] = str(run.DIST / "lib") + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    go_dir = run.ROOT / "bindings" / "go"
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="suprsend-go-bench") as tmp:
        nginx = run.Nginx(Path(tmp))
        try:
            env["SUPRSEND_BENCH_BASE_URL"] = nginx.base
            output = ""
            for pattern, benchtime in (("^Benchmark(TrackEvent|TrackEventParallel8|Enqueue)$", args.benchtime),
                                       ("^BenchmarkBulk100k$", args.bulk_benchtime)):
                cmd = ["go", "test", "-run", "^$", "-bench", pattern, "-benchtime", benchtime,
                       "-count", str(args.count), "."]
                run.log("$ " + " ".join(cmd))
                r = subprocess.run(cmd, cwd=go_dir, env=env, capture_output=True, text=True)
                sys.stdout.write(r.stdout)
                if r.returncode != 0:
                    sys.stderr.write(r.stderr)
                    sys.exit(r.returncode)
                output += r.stdout
        finally:
            nginx.close()
    results = parse(output)
    go_version = subprocess.run(["go", "version"], capture_output=True, text=True).stdout.strip()
    doc = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "machine": run.machine_info(), "go": go_version, "server": "nginx (bench/run.py's config)",
           "load_before": load_before, "load_after": os.getloadavg(), "benchtime": args.benchtime, "bulk_benchtime": args.bulk_benchtime, "results": results}
    Path(args.output).write_text(json.dumps(doc, indent=2) + "\n")
    run.log(f"wrote {args.output}")
    print()
    print(f"{'benchmark':28} {'events/s':>12} {'us/event':>10} {'B/op':>10} {'allocs/op':>10}")
    for name, runs in results.items():
        for r in runs:
            per_op_events = 100000 if name == "BenchmarkBulk100k" else 1
            us = r.get("ns/op", 0) / 1000 / per_op_events
            print(f"{name:28} {r.get('events/s', 0):12.0f} {us:10.2f} {r.get('B/op', 0):10.0f} {r.get('allocs/op', 0):10.0f}")


if __name__ == "__main__":
    main()
