"""The whole stack — Azurite, the emulator, the Functions host running function_app.py — once per
session, on free ports, with Azurite in memory and the host's Durable store in a temp dir."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from devstack.stack import Stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(tmp_path_factory.mktemp("devstack-data"))
    s.start(timeout=120)
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def emulator_config(stack: Stack) -> Iterator[Callable[[dict[str, Any]], None]]:
    """Change the stack's emulator at run time; it is reset to start-up config afterwards."""
    assert stack.emulator_url is not None

    def put(changes: dict[str, Any]) -> None:
        httpx.put(
            f"{stack.emulator_url}/_emulator/config", json=changes, timeout=10
        ).raise_for_status()

    yield put
    httpx.post(f"{stack.emulator_url}/_emulator/reset", timeout=10).raise_for_status()


def wait_for_result(
    client: httpx.Client, status_url: str, *, timeout: float = 60.0
) -> httpx.Response:
    """Follow a job's status URL until it is no longer 202, or fail with the last answer."""
    deadline = time.monotonic() + timeout
    last: httpx.Response | None = None
    while time.monotonic() < deadline:
        last = client.get(status_url)
        if last.status_code != 202:
            return last
        time.sleep(0.2)
    raise AssertionError(f"{status_url} still running after {timeout}s: {last and last.text}")
