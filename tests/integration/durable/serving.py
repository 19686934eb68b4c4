"""The engine's HTTP API on a free loopback port: what the fixtures and the crash child serve."""

from __future__ import annotations

from aiohttp import web

from devstack.durable import DurableEngine


async def serve(engine: DurableEngine) -> tuple[web.AppRunner, str]:
    """Serve ``engine``'s routes on 127.0.0.1 and a port the OS picks; (runner, base URL)."""
    webapp = web.Application()
    engine.add_routes(webapp)
    runner = web.AppRunner(webapp)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"
