"""One devstack per benchmark: Azurite + the emulator + the Functions host, on free ports.

Started with the devstack's own launchers (``Azurite``, ``devstack.launch``) rather than a
``Stack``, because a benchmark needs the host's process (its PID is what the memory benchmark
samples), quiet host logs, and the engine's database in the host's data directory.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.engine_db import EngineDb
from devstack.azurite import Azurite
from devstack.launch import (
    REPO_ROOT,
    LocalHost,
    app_env,
    devstack_model_settings,
    emulator_process,
)
from devstack.procs import ManagedProcess

EMULATOR_KEY = "bench-emulator-key"


@dataclass
class BenchStack:
    """Handles a benchmark uses: URLs, the emulator's control API, the host process, the engine."""

    api_url: str
    emulator_url: str
    emulator_key: str
    storage: str
    data_dir: Path
    host: ManagedProcess
    http: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(timeout=60))
    engine: EngineDb = field(init=False)

    def __post_init__(self) -> None:
        self.engine = EngineDb(self.data_dir)

    @property
    def host_pid(self) -> int:
        assert self.host.proc is not None
        return self.host.proc.pid

    async def emulator_reset(self) -> None:
        (await self.http.post(f"{self.emulator_url}/_emulator/reset")).raise_for_status()

    async def emulator_config(self, **patch: Any) -> dict[str, Any]:
        r = await self.http.patch(f"{self.emulator_url}/_emulator/config", json=patch)
        if r.status_code >= 400:
            raise RuntimeError(f"emulator refused config {patch}: {r.status_code} {r.text}")
        return dict(r.json()) if r.content else {}

    async def emulator_current_config(self) -> dict[str, Any]:
        r = await self.http.get(f"{self.emulator_url}/_emulator/config")
        r.raise_for_status()
        return dict(r.json())

    async def emulator_stats(self) -> dict[str, Any]:
        r = await self.http.get(f"{self.emulator_url}/_emulator/stats")
        r.raise_for_status()
        return dict(r.json())


@asynccontextmanager
async def open_stack(
    *,
    echo: bool = False,
    all_models: bool = False,
    **settings: str,
) -> AsyncIterator[BenchStack]:
    """Start Azurite, the emulator and the host; stop all three (SIGTERM) on exit.

    ``all_models``: configure every family the emulator serves, FLUX and BFL's own API included,
    as ``make start`` does (devstack.launch.devstack_models); otherwise the app's defaults, so
    the older scenarios' figures stay comparable. ``settings`` are extra app settings.
    """
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        azurite = Azurite(echo=echo)
        endpoints = azurite.start()
        emulator = emulator_process(EMULATOR_KEY, echo=echo)
        host = LocalHost(REPO_ROOT, Path(tmp) / "host-data", log_level="WARNING", echo=echo)
        try:
            emulator_url = emulator.start(timeout=60).group(1)
            env = app_env(
                endpoints.connection_string,
                emulator_url,
                EMULATOR_KEY,
                IMAGES_STORAGE_CONNECTION=endpoints.connection_string,
            )
            if all_models:
                env.update(devstack_model_settings(emulator_url, EMULATOR_KEY))
            host.env = {**env, **settings}  # the benchmark's own app settings win
            api_url = host.start(timeout=120)
            assert host.process is not None
            stack = BenchStack(
                api_url=api_url,
                emulator_url=emulator_url,
                emulator_key=EMULATOR_KEY,
                storage=endpoints.connection_string,
                data_dir=host.data_dir,
                host=host.process,
                http=httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=200)),
            )
            try:
                yield stack
            finally:
                await stack.http.aclose()
        finally:
            host.stop()
            emulator.stop()
            azurite.stop()
