"""A suprsend-hub started as a subprocess, for the test suites that talk to it (the Python
binding's, bindings/python/tests, and the command-line tool's, tests/cli).

    hub = HubProcess(work_dir, [("key", "secret")])
    hub.base_url            # http://127.0.0.1:PORT/
    hub.call("POST", "_hub/reset", {})
    hub.events(); hub.stats()
    hub.stop()

The hub picks a free port and writes it to WORK_DIR/hub.port; its output goes to WORK_DIR/hub.log.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from typing import Any, Dict, List, Optional, Sequence, Tuple

HUB_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "suprsend-hub")


class HubProcess:
    def __init__(self, work_dir: str, workspaces: Sequence[Tuple[str, str]], quiet: bool = True,
                 start_timeout: float = 15.0) -> None:
        self.port_file = os.path.join(work_dir, "hub.port")
        self.log_path = os.path.join(work_dir, "hub.log")
        self._log = open(self.log_path, "w+")
        command = [sys.executable, HUB_SCRIPT, "--host", "127.0.0.1", "--port", "0", "--port-file", self.port_file]
        for key, secret in workspaces:
            command += ["--workspace", f"{key}:{secret}"]
        if quiet:
            command.append("--quiet")
        self.proc = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.time() + start_timeout
        while not (os.path.exists(self.port_file) and open(self.port_file).read().strip()):
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                raise RuntimeError("the hub did not start:\n" + open(self.log_path).read())
            time.sleep(0.02)
        self.port = int(open(self.port_file).read().strip())
        self.base_url = f"http://127.0.0.1:{self.port}/"

    def call(self, method: str, path: str, body: Optional[Any] = None) -> Any:
        """A request to the hub (its control API is under /_hub/); the answer's JSON."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path.lstrip("/"), data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read().decode("utf-8"))

    def events(self) -> List[Dict[str, Any]]:
        return self.call("GET", "_hub/events")

    def stats(self) -> Dict[str, Any]:
        return self.call("GET", "_hub/stats")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
