"""Azurite, the Storage emulator, started from the npm package pinned in package.json.

Loopback only, ``--skipApiVersionCheck`` (the Python SDK is often newer than Azurite), ports
chosen by the OS unless given. With a data folder it persists there (``make start``); without one it
keeps everything in memory (tests). Stop it with SIGTERM: a SIGKILL loses its last writes.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from devstack.procs import ManagedProcess

REPO_ROOT = Path(__file__).resolve().parent.parent

# The documented, public development-storage account of Azurite (not a secret).
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

_LISTENING = re.compile(r"Azurite (Blob|Queue|Table) service is successfully listening at (\S+)")


@dataclass(frozen=True)
class AzuriteEndpoints:
    blob_port: int
    queue_port: int
    table_port: int
    host: str = "127.0.0.1"

    def url(self, port: int) -> str:
        return f"http://{self.host}:{port}/{ACCOUNT_NAME}"

    @property
    def blob_url(self) -> str:
        return self.url(self.blob_port)

    @property
    def queue_url(self) -> str:
        return self.url(self.queue_port)

    @property
    def table_url(self) -> str:
        return self.url(self.table_port)

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.blob_url};QueueEndpoint={self.queue_url};"
            f"TableEndpoint={self.table_url};"
        )


def azurite_binary() -> str:
    local = REPO_ROOT / "node_modules" / ".bin" / "azurite"
    if local.exists():
        return str(local)
    found = shutil.which("azurite")
    if found:
        return found
    raise FileNotFoundError("Azurite is not installed: run `npm ci` (or `make setup`) first.")


class Azurite:
    """One Azurite process with blob, queue and table services."""

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        blob_port: int = 0,
        queue_port: int = 0,
        table_port: int = 0,
        echo: bool = False,
    ) -> None:
        args = [
            azurite_binary(),
            "--silent",  # no access log: it floods the pipe and hides the lines we wait for
            "--skipApiVersionCheck",
            "--loose",
            "--blobHost",
            "127.0.0.1",
            "--queueHost",
            "127.0.0.1",
            "--tableHost",
            "127.0.0.1",
            "--blobPort",
            str(blob_port),
            "--queuePort",
            str(queue_port),
            "--tablePort",
            str(table_port),
        ]
        if data_dir is None:
            args.append("--inMemoryPersistence")
        else:
            data_dir.mkdir(parents=True, exist_ok=True)
            args += ["--location", str(data_dir)]
        self.process = ManagedProcess(
            args,
            re.compile(r"Azurite Table service is successfully listening"),
            name="azurite",
            echo=echo,
        )
        self.endpoints: AzuriteEndpoints | None = None

    def start(self, timeout: float = 60.0) -> AzuriteEndpoints:
        self.process.start(timeout)
        try:
            ports: dict[str, int] = {}
            for m in _LISTENING.finditer(self.process.output_tail):
                ports[m.group(1)] = int(m.group(2).rsplit(":", 1)[1])
            self.endpoints = AzuriteEndpoints(ports["Blob"], ports["Queue"], ports["Table"])
        except BaseException:  # a listening line we could not read: do not leave it running
            self.stop()
            raise
        return self.endpoints

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then wait until all three services report closed.

        After serving requests, Azurite closes its services on SIGTERM but its node process may not
        exit; once every service said "successfully closed" its data is flushed, so the leftover
        process can be killed instead of waiting out the whole timeout.
        """
        proc = self.process.proc
        if proc is None or proc.poll() is not None:
            self.process.stop()
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            if self.process.output_tail.count("service successfully closed") >= 3:
                break
            time.sleep(0.05)
        self.process.stop(timeout=1.0)

    def __enter__(self) -> AzuriteEndpoints:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
