"""The whole local stack as child processes: Azurite, the Azure OpenAI emulator, the host.

``make start`` runs it on fixed ports with Azurite persisted under the data dir; tests run it on
free ports with Azurite in memory. The Stack wires the app's environment the way Azure's app
settings would: storage → Azurite, Azure OpenAI → the emulator (unless local settings name a real
endpoint), plain-HTTP image downloads allowed from loopback, and — unless the environment or the
local settings choose IMAGE_MODELS — every model family the emulator serves, FLUX included
(`devstack.launch.devstack_models`). Everything stops with SIGTERM,
Azurite last so nothing loses its storage while still writing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from urllib.parse import urlparse

from devstack.azurite import Azurite, AzuriteEndpoints
from devstack.host.settings import local_settings_values
from devstack.launch import (
    REPO_ROOT,
    LocalHost,
    app_env,
    devstack_model_settings,
    emulator_process,
)
from devstack.procs import ManagedProcess

EMULATOR_KEY = "emulator-key"  # the emulator's documented default; not a secret
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}

# `make start` ports: the ones Core Tools, Azurite and local.settings.sample.json assume.
DEFAULT_HOST_PORT = 7071
DEFAULT_EMULATOR_PORT = 7072
DEFAULT_AZURITE_PORTS = (10000, 10001, 10002)


def is_real_endpoint(url: str | None) -> bool:
    """An Azure OpenAI endpoint that is not on this machine (so the emulator is not wanted)."""
    if not url:
        return False
    host = urlparse(url).hostname or ""
    return host not in LOOPBACK


class Stack:
    """Azurite + emulator + Functions host, started and stopped together."""

    def __init__(
        self,
        data_dir: Path,
        *,
        app_dir: Path = REPO_ROOT,
        persist_storage: bool = False,
        host_port: int = 0,
        emulator_port: int = 0,
        azurite_ports: tuple[int, int, int] = (0, 0, 0),
        env: Mapping[str, str] | None = None,
        echo: bool = False,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.app_dir = app_dir.resolve()
        self.persist_storage = persist_storage
        self.host_port = host_port
        self.emulator_port = emulator_port
        self.azurite_ports = azurite_ports
        self.base_env = dict(os.environ if env is None else env)
        self.echo = echo
        self.emulator_key = EMULATOR_KEY
        self._azurite: Azurite | None = None
        self._emulator: ManagedProcess | None = None
        self._host: LocalHost | None = None
        self.storage: AzuriteEndpoints | None = None
        self.emulator_url: str | None = None
        self.base_url = ""

    # -- addresses ------------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        """Where the app's HTTP API lives (``http://127.0.0.1:PORT/api``)."""
        return f"{self.base_url}/api"

    @property
    def host_data_dir(self) -> Path:
        return self.data_dir / "host"

    @property
    def host_process(self) -> ManagedProcess:
        if self._host is None or self._host.process is None:
            raise RuntimeError("the host has not been started")
        return self._host.process

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self, timeout: float = 90.0) -> Stack:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            azurite_dir = self.data_dir / "azurite" if self.persist_storage else None
            blob, queue, table = self.azurite_ports
            # Azurite logs every request: not echoed, even when the other services are.
            self._azurite = Azurite(azurite_dir, blob_port=blob, queue_port=queue, table_port=table)
            self.storage = self._azurite.start(timeout)
            if self.wants_emulator():
                self._start_emulator(timeout)
            self.start_host(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wants_emulator(self) -> bool:
        setting = self.base_env.get("AZURE_OPENAI_ENDPOINT")
        if setting is None:
            setting = local_settings_values(self.app_dir).get("AZURE_OPENAI_ENDPOINT")
        return not is_real_endpoint(setting)

    def _start_emulator(self, timeout: float) -> None:
        self._emulator = emulator_process(
            self.emulator_key, port=self.emulator_port, env=self.base_env, echo=self.echo
        )
        self.emulator_url = self._emulator.start(timeout).group(1)
        self.emulator_port = int(urlparse(self.emulator_url).port or 0)

    def host_env(self) -> dict[str, str]:
        """The host's environment: what Azure's app settings would be, pointing at local parts."""
        assert self.storage is not None
        conn = self.storage.connection_string
        # Settings that say "development storage" mean this Azurite, whatever its ports.
        base = dict(self.base_env)
        local = local_settings_values(self.app_dir)
        for name, value in {**local, **self.base_env}.items():
            if value.strip().lower().rstrip(";") == "usedevelopmentstorage=true":
                base[name] = conn
        extra: dict[str, str] = {}
        if self.emulator_url is not None and not (
            self.base_env.get("IMAGE_MODELS", "").strip() or local.get("IMAGE_MODELS", "").strip()
        ):
            # Nobody chose the models: offer every family, FLUX included, on the emulator.
            extra = devstack_model_settings(self.emulator_url, self.emulator_key)
        emulated = self.emulator_url is not None
        return app_env(
            conn, self.emulator_url, self.emulator_key if emulated else None, base=base, **extra
        )

    def start_host(self, timeout: float = 60.0) -> str:
        """Start (or start again) the host on its port and data dir; return its base URL."""
        self.host_data_dir.mkdir(parents=True, exist_ok=True)
        if self._host is None:
            self._host = LocalHost(self.app_dir, self.host_data_dir, echo=self.echo)
        self._host.env = self.host_env()
        self._host.port = self.host_port
        self.base_url = self._host.start(timeout)
        # Keep the port: a restarted host answers where clients already point.
        self.host_port = self._host.port
        return self.base_url

    def kill_host(self) -> None:
        """SIGKILL the host: a crash, mid-whatever."""
        if self._host is not None:
            self._host.kill()

    def stop_host(self) -> int | None:
        return self._host.stop() if self._host is not None else None

    def stop(self) -> None:
        self.stop_host()
        if self._emulator is not None:
            self._emulator.stop()
        if self._azurite is not None:
            self._azurite.stop()

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
