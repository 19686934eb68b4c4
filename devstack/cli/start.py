"""``python -m devstack start``: the whole stack on the usual ports until Ctrl-C."""

from __future__ import annotations

import signal
import threading
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from types import FrameType

from devstack.host.keys import FUNCTION_KEY_SETTING
from devstack.host.settings import local_settings_values
from devstack.stack import (
    DEFAULT_AZURITE_PORTS,
    DEFAULT_EMULATOR_PORT,
    DEFAULT_HOST_PORT,
    REPO_ROOT,
    Stack,
)


def model_warnings_for(env: Mapping[str, str], today: date) -> list[str]:
    """The app's own lifecycle warnings for the models these settings configure: the same lines
    the host logs when it first reads its settings, shown in the banner where they are seen.
    Settings the app would refuse give none here: the host reports those itself."""
    from shared.lifecycle import model_warnings
    from shared.settings import SettingsError, load_settings

    try:
        settings = load_settings(env)
    except SettingsError:
        return []
    return model_warnings(settings.image_models, today)


def host_settings(stack: Stack) -> dict[str, str]:
    """The settings the app sees: local.settings(.sample).json under the host's environment."""
    return {**local_settings_values(stack.app_dir), **stack.host_env()}


def banner(stack: Stack, warnings: list[str] | None = None) -> str:
    assert stack.storage is not None
    emulator = (
        f"{stack.emulator_url} (Azure OpenAI emulator)"
        if stack.emulator_url
        else "not started: local settings name a real AZURE_OPENAI_ENDPOINT"
    )
    keyed = bool(host_settings(stack).get(FUNCTION_KEY_SETTING))
    # The key itself is never printed: the line names the setting it comes from.
    keys = f"enforced ({FUNCTION_KEY_SETTING})" if keyed else "not checked (as Core Tools)"
    key = f' -H "x-functions-key: ${FUNCTION_KEY_SETTING}"' if keyed else ""
    return "\n".join(
        [
            "",
            "devstack is running",
            f"  API         {stack.api_url}",
            f"  playground  {stack.api_url}/ui   (open it in a browser)",
            f"  emulator    {emulator}",
            f"  storage     Azurite, blobs at {stack.storage.blob_url}",
            f"  data        {stack.data_dir}",
            f"  keys        {keys}",
            "",
            "try:",
            f"  curl -i -X POST {stack.api_url}/images{key} -H 'Content-Type: application/json' \\",
            '       -d \'{"prompt": "a badger wearing a tuxedo"}\'',
            "  curl -i '<Location from the answer>'   # a signed link: no key needed",
            f"  curl -i '{stack.api_url}/images?top=5'{key}",
            '  python -m devstack generate "a badger wearing a tuxedo"',
            "",
            "Ctrl-C stops everything.",
            "",
            *[f"warning: {line}" for line in warnings or []],
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
        warnings = model_warnings_for(host_settings(stack), datetime.now(UTC).date())
        print(banner(stack, warnings), flush=True)
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
