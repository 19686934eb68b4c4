"""``python -m devstack start``: the whole stack on the usual ports until Ctrl-C."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

from devstack.stack import (
    DEFAULT_AZURITE_PORTS,
    DEFAULT_EMULATOR_PORT,
    DEFAULT_HOST_PORT,
    REPO_ROOT,
    Stack,
)


def banner(stack: Stack) -> str:
    assert stack.storage is not None
    emulator = (
        f"{stack.emulator_url} (Azure OpenAI emulator)"
        if stack.emulator_url
        else "not started: local settings name a real AZURE_OPENAI_ENDPOINT"
    )
    return "\n".join(
        [
            "",
            "devstack is running",
            f"  API         {stack.api_url}",
            f"  emulator    {emulator}",
            f"  storage     Azurite, blobs at {stack.storage.blob_url}",
            f"  data        {stack.data_dir}",
            "",
            "try:",
            f"  curl -i -X POST {stack.api_url}/images -H 'Content-Type: application/json' \\",
            '       -d \'{"prompt": "a badger wearing a tuxedo"}\'',
            f"  curl -i {stack.api_url}/images/<id from the answer>",
            '  python -m devstack generate "a badger wearing a tuxedo"',
            "",
            "Ctrl-C stops everything.",
            "",
        ]
    )


def run(
    *,
    app_dir: Path = REPO_ROOT,
    data_dir: Path = Path(".devstack-data"),
    port: int = DEFAULT_HOST_PORT,
    emulator_port: int = DEFAULT_EMULATOR_PORT,
    azurite_ports: tuple[int, int, int] = DEFAULT_AZURITE_PORTS,
    quiet: bool = False,
) -> int:
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    stack = Stack(
        data_dir,
        app_dir=app_dir,
        persist_storage=True,
        host_port=port,
        emulator_port=emulator_port,
        azurite_ports=azurite_ports,
        echo=not quiet,
    )
    try:
        stack.start()
        print(banner(stack), flush=True)
        while not stopping.wait(1.0):
            if not stack.host_process.running:
                print("the host exited; stopping the stack", flush=True)
                return 1
        print("stopping…", flush=True)
        return 0
    finally:
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
