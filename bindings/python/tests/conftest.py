"""Fixtures: the local SuprSend hub (tools/hub/suprsend-hub) as a subprocess, and clients for it.

Run from the repository root:

    PYTHONPATH=bindings/python/src SUPRSEND_LIBRARY=dist/lib/libsuprsend.so python3 -m pytest -q bindings/python/tests
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Dict, Iterator, List, Union

import pytest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
BINDING_DIR = os.path.dirname(TESTS_DIR)
REPO_ROOT = os.path.dirname(os.path.dirname(BINDING_DIR))

# Make `import suprsend_native` work without PYTHONPATH too; hub_process is tools/hub's.
_SRC = os.path.join(BINDING_DIR, "src")
if _SRC not in sys.path:
    sys.path.insert(0, _SRC)
sys.path.insert(0, os.path.join(REPO_ROOT, "tools", "hub"))

from hub_process import HUB_SCRIPT, HubProcess  # noqa: E402

KEY = "demo_key"
SECRET = "demo_secret"
# A second workspace whose key is long enough for the official SDK's schema (it refuses keys
# as short as "demo_key" before sending), for the tests that run it beside suprsend_native.
DROPIN_KEY = "dropin_workspace_key_0001"
DROPIN_SECRET = "dropin_workspace_secret"


class Hub(HubProcess):
    """A running suprsend-hub with both test workspaces, and helpers for its /_hub control API."""

    def __init__(self, tmp_dir: str) -> None:
        super().__init__(tmp_dir, [(KEY, SECRET), (DROPIN_KEY, DROPIN_SECRET)], quiet=False)

    def reset(self) -> None:
        self.call("POST", "/_hub/reset", {})

    def faults(self, script: Union[List[Dict[str, Any]], Dict[str, Any]]) -> None:
        """Installs faults: a script (a list, one entry per request) or a whole configuration
        (a dict such as ``{"rate": {"delay": 1.0}, "delay_ms": 200}``)."""
        self.call("POST", "/_hub/faults", script if isinstance(script, dict) else {"script": script})

    def release(self, drop: bool = True) -> int:
        """Ends the delays in progress now (dropped by default: nothing is recorded)."""
        return self.call("POST", "/_hub/release", {"drop": drop})["released"]

    def wait_idle(self, timeout: float) -> int:
        """Waits until no event API request is in progress at the hub; returns how many still are."""
        deadline = time.monotonic() + timeout
        while True:
            active = self.call("GET", "/_hub/inflight")["active"]
            if active == 0 or time.monotonic() >= deadline:
                return active
            time.sleep(0.01)


@pytest.fixture(scope="session")
def hub_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    if not os.path.exists(HUB_SCRIPT):
        pytest.fail(f"the local hub is missing ({HUB_SCRIPT}); these tests need it", pytrace=False)
    h = Hub(str(tmp_path_factory.mktemp("hub")))
    try:
        yield h
    finally:
        h.stop()


@pytest.fixture
def hub(hub_process: Hub) -> Iterator[Hub]:
    """The hub, reset (no events, no faults) for this test.

    A test must not leave a request at the hub when it ends: one that the hub answers later
    would be recorded after the next test's reset and counted there. Such a test fails here
    (its delayed requests are dropped first, so that the next test starts clean); a test that
    holds a request on purpose releases it itself (`hub.release()`)."""
    hub_process.reset()
    hub_process.faults([])
    yield hub_process
    hub_process.faults([])
    left = hub_process.wait_idle(timeout=1.0)
    if left:
        hub_process.release(drop=True)
        hub_process.wait_idle(timeout=5.0)
        pytest.fail(f"the test left {left} request(s) in progress at the hub; "
                    "release them (hub.release()) or wait for them before it ends", pytrace=False)


@pytest.fixture
def client(hub: Hub) -> Iterator[Any]:
    """A client of the hub, without retries unless a test asks for them."""
    from suprsend_native import Suprsend

    with Suprsend(KEY, SECRET, base_url=hub.base_url, max_retries=0, timeout=20) as c:
        yield c


def invalid_event(distinct_id: Any, event_name: Any, properties: Any = None) -> Any:
    """An Event that breaks a rule (an empty or reserved name, a wrong type, ...). Event() stores
    what it is given, as the official SDK's: the rule is checked when it is sent or appended."""
    from suprsend_native import Event

    return Event(distinct_id, event_name, properties)


def user_properties(event: Dict[str, Any]) -> Dict[str, Any]:
    """The properties the caller set (without those the library adds, such as $ss_sdk_version)."""
    return {k: v for k, v in event["properties"].items() if not k.startswith("$")}


@pytest.fixture
def unused_port() -> int:
    """A loopback port with nothing listening on it."""
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
