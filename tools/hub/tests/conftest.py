"""Fixtures for the hub tests (helpers live in hubtest_support.py)."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from hubtest_support import HubProcess, KEY, KEY2, SECRET, SECRET2  # noqa: E402


@pytest.fixture(scope="session")
def hub_proc(tmp_path_factory):
    h = HubProcess(tmp_path_factory.mktemp("hub"), "--workspace", f"{KEY}:{SECRET}",
                   "--workspace", f"{KEY2}:{SECRET2}")
    yield h
    h.stop()


@pytest.fixture
def hub(hub_proc):
    """The shared hub, reset before each test."""
    hub_proc.reset()
    return hub_proc


@pytest.fixture
def start_hub(tmp_path):
    """Start a dedicated hub with extra arguments: start_hub('--max-event-bytes', '500')."""
    started = []

    def start(*args):
        h = HubProcess(tmp_path, *args)
        started.append(h)
        return h
    yield start
    for h in started:
        h.stop()
