"""The engine and the sample app in their own process, for the kill -9 test.

Run as ``python -m tests.integration.durable.crash_child --db PATH`` from the repository root;
prints ``durable engine listening on <url>`` once it accepts requests.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

from devstack.durable import DurableEngine

from .dfapp_invoker import DFAppInvoker
from .sample_app import app as sample_app
from .serving import serve


async def main(db: Path) -> None:
    engine = DurableEngine(db, DFAppInvoker(sample_app), task_hub="CrashTests")
    await engine.start()
    runner, base_url = await serve(engine)
    print(f"durable engine listening on {base_url}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runner.cleanup()
    await engine.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", type=Path, required=True)
    asyncio.run(main(parser.parse_args().db))
