"""The Durable engine: the Durable extension + DTFx for one machine, persisted in SQLite.

This is the entry point the host and tests use. ``DurableEngine`` is the client API
(``client.py``) plus, between ``start()`` and ``stop()``, the dispatchers (``dispatch.py``) that
run orchestration episodes (``episode.py``, recorded by ``commit.py``), activities and timers on
the caller's event loop. Their queues live in SQLite (``store.py``), so a restart after
``kill -9`` carries on where the database says. The HTTP API and the durableClient binding JSON
belong to ``http_api.py``; the methods here only mount and describe it.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp.web

from devstack.durable import http_api
from devstack.durable.client import InstanceClient
from devstack.durable.dispatch import Dispatcher
from devstack.durable.invoker import FunctionInvoker
from devstack.durable.signals import Signals
from devstack.durable.store import Store


class DurableEngine(InstanceClient):
    """A Durable Functions backend persisted in one SQLite file. See docs/durable-engine.md."""

    def __init__(
        self,
        db_path: Path,
        invoker: FunctionInvoker,
        *,
        task_hub: str = "TestHubName",
        max_concurrent_activities: int = 10,
        max_concurrent_orchestrations: int = 10,
    ) -> None:
        super().__init__(invoker, Signals())
        self.db_path = Path(db_path)
        self.task_hub = task_hub
        self.max_concurrent_activities = max(1, max_concurrent_activities)
        self.max_concurrent_orchestrations = max(1, max_concurrent_orchestrations)
        self.route_prefix = http_api.DEFAULT_PREFIX
        self._dispatcher: Dispatcher | None = None

    async def start(self) -> None:
        """Open the database and resume every unfinished instance from its queues."""
        if self._store is not None:
            return
        self._store = Store(self.db_path)
        self._dispatcher = Dispatcher(
            self._store,
            self.invoker,
            self.signals,
            max_concurrent_activities=self.max_concurrent_activities,
            max_concurrent_orchestrations=self.max_concurrent_orchestrations,
        )
        self._dispatcher.start()

    async def stop(self) -> None:
        if self._dispatcher is not None:
            await self._dispatcher.stop()
            self._dispatcher = None
        if self._store is not None:
            self._store.close()
            self._store = None

    def add_routes(
        self, app: aiohttp.web.Application, prefix: str = http_api.DEFAULT_PREFIX
    ) -> None:
        """Serve the Durable HTTP API (what the client SDK calls) under ``prefix``."""
        self.route_prefix = prefix.rstrip("/")
        http_api.add_routes(self, app, self.route_prefix)

    def client_binding_json(self, base_url: str) -> str:
        """The durableClient binding value the host passes (by keyword) to client functions."""
        return http_api.client_binding_json(base_url, self.route_prefix, self.task_hub)
