from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration.entrypoints.callback_server import CallbackServer


@pytest.fixture
async def callback_server() -> AsyncIterator[CallbackServer]:
    server = await CallbackServer().start()
    try:
        yield server
    finally:
        await server.stop()
