"""Rendered images, cached (LRU by bytes) and rendered at most once at a time per spec.

A burst of identical requests must cost one render, not a hundred: concurrent misses for the same
spec wait on the first render's future. Rendering runs in worker threads so the event loop keeps
answering (Pillow releases the GIL while encoding).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

from devstack.emulator.images import pad, render
from devstack.emulator.urls import RenderSpec


def render_spec(spec: RenderSpec) -> bytes:
    drawn = render(
        spec.prompt,
        spec.width,
        spec.height,
        spec.index,
        spec.fmt,
        spec.transparent,
        spec.compression,
        spec.seed,
    )
    return pad(drawn, spec.fmt, spec.min_bytes)


class RenderCache:
    def __init__(self, max_bytes: int = 256 * 1024 * 1024, workers: int = 2) -> None:
        self._max_bytes = max_bytes
        self._bytes = 0
        self._done: OrderedDict[RenderSpec, bytes] = OrderedDict()
        self._pending: dict[RenderSpec, asyncio.Future[bytes]] = {}
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="render")

    async def get(self, spec: RenderSpec) -> bytes:
        data = self._done.get(spec)
        if data is not None:
            self._done.move_to_end(spec)
            return data
        pending = self._pending.get(spec)
        if pending is None:
            loop = asyncio.get_running_loop()
            pending = asyncio.ensure_future(loop.run_in_executor(self._executor, render_spec, spec))
            self._pending[spec] = pending
            pending.add_done_callback(lambda f: self._finish(spec, f))
        # Shielded: a caller that goes away must not cancel the render others wait for.
        return await asyncio.shield(pending)

    def _finish(self, spec: RenderSpec, future: asyncio.Future[bytes]) -> None:
        self._pending.pop(spec, None)
        if not future.cancelled() and future.exception() is None:
            self._store(spec, future.result())

    def _store(self, spec: RenderSpec, data: bytes) -> None:
        self._done[spec] = data
        self._bytes += len(data)
        while self._bytes > self._max_bytes and len(self._done) > 1:
            _, old = self._done.popitem(last=False)
            self._bytes -= len(old)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
