"""Rendered images, cached (LRU by bytes) and rendered at most once at a time per spec.

A burst of identical requests must cost one render, not a hundred: concurrent misses for the same
spec wait on the first render's future. Rendering runs in worker threads so the event loop keeps
answering (Pillow releases the GIL while encoding).

Edited images cannot be re-rendered from a small spec (their inputs are the request's files), so
the ones handed out as URLs are kept by their bytes (`keep`), in a second LRU of bounded size: an
evicted one answers 404 like a deleted blob.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from devstack.emulator.images import pad, render
from devstack.emulator.urls import Rendered, RenderSpec

T = TypeVar("T")


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
    def __init__(
        self,
        max_bytes: int = 256 * 1024 * 1024,
        workers: int = 2,
        kept_max_bytes: int = 256 * 1024 * 1024,
    ) -> None:
        self._max_bytes = max_bytes
        self._bytes = 0
        self._kept_max_bytes = kept_max_bytes
        self._kept_bytes = 0
        self._kept: OrderedDict[str, bytes] = OrderedDict()
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

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn(*args)`` on the render threads (decoding and drawing edits, too)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def keep(self, data: bytes, fmt: str) -> Rendered:
        """Keep an image that has no spec to re-render it from; its handle for URLs and samples."""
        image = Rendered(hashlib.sha256(data).hexdigest()[:32], fmt)
        old = self._kept.pop(image.digest, None)
        if old is not None:
            self._kept_bytes -= len(old)
        self._kept[image.digest] = data
        self._kept_bytes += len(data)
        while self._kept_bytes > self._kept_max_bytes and len(self._kept) > 1:
            _, dropped = self._kept.popitem(last=False)
            self._kept_bytes -= len(dropped)
        return image

    def kept(self, image: Rendered) -> bytes | None:
        data = self._kept.get(image.digest)
        if data is not None:
            self._kept.move_to_end(image.digest)
        return data

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
