"""A callback receiver on loopback (a real aiohttp server on a free port), scriptable per test."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Received:
    headers: dict[str, str]
    body: Any


@dataclass
class CallbackServer:
    """Answers each POST with the next scripted status (then 200), recording what it got."""

    statuses: list[int] = field(default_factory=list)
    extra_headers: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None
    _event: asyncio.Event = field(default_factory=asyncio.Event)

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        self.received.append(Received(dict(request.headers), body))
        self._event.set()
        status = self.statuses.pop(0) if self.statuses else 200
        headers = self.extra_headers if status != 200 else {}
        if status in (301, 302, 307):
            headers = {"Location": "http://127.0.0.1:1/elsewhere"}
        return web.Response(status=status, headers=headers, text="ok")

    async def start(self) -> CallbackServer:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/hooks/job-done?sig=RECEIVER-SECRET"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_for(self, count: int, within_s: float = 30.0) -> list[Received]:
        """Until ``count`` requests arrived (polling with a deadline, not sleeping blindly)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        while len(self.received) < count:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"callback got {len(self.received)} of {count} requests")
            self._event.clear()
            try:
                await asyncio.wait_for(self._event.wait(), remaining)
            except TimeoutError:
                continue
        return self.received
