"""One devstack per benchmark: Azurite + the emulator + the Functions host, on free ports.

Prefers the project's ``devstack.stack.Stack`` when it offers what a benchmark needs; otherwise it
starts the three processes itself with the same helpers (``ManagedProcess``, ``Azurite``), so a
benchmark always measures the real host process (its PID is what the memory benchmark samples)
and can read the engine's database in the host's data directory.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.engine_db import EngineDb
from devstack.azurite import Azurite
from devstack.procs import ManagedProcess

REPO_ROOT = Path(__file__).resolve().parent.parent
EMULATOR_KEY = "bench-emulator-key"
_EMULATOR_READY = re.compile(r"^emulator listening on (http://\S+)$", re.MULTILINE)
_HOST_READY = re.compile(r"host listening on (http://\S+)")


def host_env(storage: str, emulator_url: str, api_key: str, **extra: str) -> dict[str, str]:
    """The app settings a local host needs to reach Azurite and the emulator."""
    env = dict(os.environ)
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "AzureWebJobsStorage": storage,
            "IMAGES_STORAGE_CONNECTION": storage,
            "AZURE_OPENAI_ENDPOINT": emulator_url,
            "AZURE_OPENAI_API_KEY": api_key,
            "IMAGE_SOURCE_ALLOW_HTTP_HOSTS": "127.0.0.1,localhost",
        }
    )
    env.update(extra)
    return env


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
    front: Callable[[str], AbstractAsyncContextManager[str]] | None = None,
    **settings: str,
) -> AsyncIterator[BenchStack]:
    """Start Azurite, the emulator and the host; stop all three (SIGTERM) on exit.

    ``front``, if given, wraps the emulator's URL in something the app talks to instead (a
    bench-only proxy); ``settings`` are extra app settings for the host.
    """
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        azurite = Azurite(echo=echo)
        endpoints = azurite.start()
        emulator = ManagedProcess(
            [
                sys.executable,
                "-m",
                "devstack.emulator",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--api-key",
                EMULATOR_KEY,
            ],
            _EMULATOR_READY,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            cwd=REPO_ROOT,
            name="emulator",
            echo=echo,
        )
        host: ManagedProcess | None = None
        fronts = AsyncExitStack()
        try:
            emulator_url = emulator.start(timeout=60).group(1)
            app_endpoint = emulator_url
            if front is not None:
                app_endpoint = await fronts.enter_async_context(front(emulator_url))
            data_dir = Path(tmp) / "host-data"
            host = ManagedProcess(
                [
                    sys.executable,
                    "-m",
                    "devstack.host",
                    "--app-dir",
                    str(REPO_ROOT),
                    "--port",
                    "0",
                    "--data-dir",
                    str(data_dir),
                    "--log-level",
                    "WARNING",
                ],
                _HOST_READY,
                env=host_env(endpoints.connection_string, app_endpoint, EMULATOR_KEY, **settings),
                cwd=REPO_ROOT,
                name="host",
                echo=echo,
            )
            api_url = host.start(timeout=120).group(1)
            stack = BenchStack(
                api_url=api_url,
                emulator_url=emulator_url,
                emulator_key=EMULATOR_KEY,
                storage=endpoints.connection_string,
                data_dir=data_dir,
                host=host,
                http=httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=200)),
            )
            try:
                yield stack
            finally:
                await stack.http.aclose()
        finally:
            if host is not None:
                host.stop()
            await fronts.aclose()
            emulator.stop()
            azurite.stop()
