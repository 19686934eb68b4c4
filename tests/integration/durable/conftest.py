"""The engine served by aiohttp on a free port, driven by the real DurableOrchestrationClient."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import azure.durable_functions as df
import pytest

from devstack.durable import DurableEngine

from .dfapp_invoker import DFAppInvoker
from .sample_app import app as sample_app
from .serving import serve


@dataclass
class Durable:
    engine: DurableEngine
    client: df.DurableOrchestrationClient
    base_url: str

    async def wait_for(self, instance_id: str, *statuses: str, limit: float = 30) -> Any:
        """Poll the status through the client until it is one of ``statuses``."""
        deadline = time.monotonic() + limit
        while True:
            status = await self.client.get_status(instance_id)
            if status and status.runtime_status and status.runtime_status.value in statuses:
                return status
            if time.monotonic() > deadline:
                state = status.runtime_status if status else None
                raise AssertionError(f"{instance_id} is {state}, never reached {statuses}")
            await asyncio.sleep(0.02)

    async def done(self, instance_id: str, limit: float = 30) -> Any:
        await self.engine.wait_for_completion(instance_id, limit)
        return await self.client.get_status(
            instance_id, show_history=True, show_history_output=True, show_input=True
        )


@pytest.fixture(scope="session")
def invoker() -> DFAppInvoker:
    return DFAppInvoker(sample_app)


@pytest.fixture
async def durable(tmp_path, invoker) -> AsyncIterator[Durable]:
    engine = DurableEngine(tmp_path / "durable.sqlite3", invoker, task_hub="DurableTests")
    await engine.start()
    runner, base_url = await serve(engine)
    client = df.DurableOrchestrationClient(engine.client_binding_json(base_url))
    try:
        yield Durable(engine, client, base_url)
    finally:
        await runner.cleanup()
        await engine.stop()
