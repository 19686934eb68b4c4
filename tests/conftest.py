"""Session-wide real services: Azurite (npm, pinned) and the Azure OpenAI emulator, on free ports.

Both are started once per test session as child processes and stopped with SIGTERM at the end.
Tests that change the emulator's configuration must restore it (see the ``emulator`` fixture's
``reset``), so that test order never matters.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from devstack import launch
from devstack.azurite import Azurite, AzuriteEndpoints
from devstack.procs import ManagedProcess

EMULATOR_API_KEY = "test-emulator-key"


@dataclass
class EmulatorHandle:
    """How tests reach the running emulator."""

    base_url: str
    api_key: str
    process: ManagedProcess

    def reset(self) -> None:
        """Back to start-up configuration, with stats cleared."""
        r = httpx.post(f"{self.base_url}/_emulator/reset", timeout=10)
        r.raise_for_status()

    def configure(self, **patch: Any) -> None:
        """Change its configuration at run time (``PATCH /_emulator/config``)."""
        r = httpx.patch(f"{self.base_url}/_emulator/config", json=patch, timeout=10)
        if r.status_code >= 300:
            raise AssertionError(f"emulator refused {patch}: {r.status_code} {r.text}")

    def stats(self) -> dict[str, Any]:
        """What it served and billed since the last reset."""
        r = httpx.get(f"{self.base_url}/_emulator/stats", timeout=10)
        r.raise_for_status()
        return dict(r.json())


def pytest_configure(config: pytest.Config) -> None:
    """SIGTERM (a CI time limit, `timeout`) ends the run like Ctrl-C does, so fixtures tear down
    and no Azurite, emulator or host outlives it."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


@pytest.fixture(scope="session")
def azurite() -> Iterator[AzuriteEndpoints]:
    server = Azurite()
    endpoints = server.start()
    try:
        yield endpoints
    finally:
        server.stop()


@pytest.fixture(scope="session")
def emulator_process() -> Iterator[EmulatorHandle]:
    proc = launch.emulator_process(EMULATOR_API_KEY)
    match = proc.start(timeout=60)
    try:
        yield EmulatorHandle(base_url=match.group(1), api_key=EMULATOR_API_KEY, process=proc)
    finally:
        proc.stop()


@pytest.fixture
def emulator(emulator_process: EmulatorHandle) -> Iterator[EmulatorHandle]:
    """The session's emulator, reset before and after each test that uses it."""
    emulator_process.reset()
    yield emulator_process
    emulator_process.reset()
