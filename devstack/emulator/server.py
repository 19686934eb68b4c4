"""Run the emulator as a process: free port, one ready line, clean exit on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from aiohttp import web

from devstack.emulator.app import create_app
from devstack.emulator.config import ConfigError, EmulatorConfig, config_from_sources


async def serve(config: EmulatorConfig, host: str, port: int) -> None:
    app = create_app(config)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024, reuse_address=True)
    await site.start()
    bound = runner.addresses[0]
    url_host = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    # The one line ManagedProcess (and people) wait for; printed only once requests are accepted.
    print(f"emulator listening on http://{url_host}:{bound[1]}", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s: %(message)s")
    try:
        args, config = config_from_sources(argv)
    except ConfigError as exc:
        print(f"emulator: invalid configuration: {exc}", file=sys.stderr, flush=True)
        return 2
    asyncio.run(serve(config, args.host, args.port))
    return 0
