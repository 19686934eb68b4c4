"""Fixtures of the emulator tests: `emu`, a client of the session's emulator with latency 0."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.emulator.support import Emu


@pytest.fixture
def emu(emulator: Any) -> Iterator[Emu]:
    client = Emu(emulator.base_url, emulator.api_key)
    client.configure(latency_seconds=0.0, latency_jitter_seconds=0.0)
    try:
        yield client
    finally:
        client.close()
