"""``python -m devstack.host --app-dir . --port 7071 --data-dir .devstack-data``.

Prints exactly ``host listening on http://127.0.0.1:PORT`` once it serves (``--port 0`` picks a
free port) and stops cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from devstack.host import logs
from devstack.host.server import HostServer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m devstack.host", description=__doc__)
    p.add_argument("--app-dir", type=Path, default=Path("."))
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7071)
    p.add_argument("--data-dir", type=Path, default=Path(".devstack-data"))
    p.add_argument("--module", default="function_app", help="the app module (default: %(default)s)")
    p.add_argument("--log-level", default="INFO")
    return p.parse_args(argv)


async def _main(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = HostServer(
        args.app_dir,
        data_dir=args.data_dir,
        host=args.host,
        port=args.port,
        module_name=args.module,
    )
    await server.serve_until(stop)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logs.configure(args.log_level)
    try:
        asyncio.run(_main(args))
    except Exception:
        # Through logging, so the traceback is scrubbed of secrets like every other line.
        logging.getLogger("devstack.host").exception("the host failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
