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
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

from devstack.emulator.images import pad, render
from devstack.emulator.urls import Rendered, RenderSpec

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


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


class _BytesLru(Generic[K]):
    """Bytes by key; over ``max_bytes``, the least recently used go first (never the newest)."""

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._bytes = 0
        self._items: OrderedDict[K, bytes] = OrderedDict()

    def get(self, key: K) -> bytes | None:
        data = self._items.get(key)
        if data is not None:
            self._items.move_to_end(key)
        return data

    def put(self, key: K, data: bytes) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self._bytes -= len(old)
        self._items[key] = data
        self._bytes += len(data)
        while self._bytes > self._max_bytes and len(self._items) > 1:
            _, dropped = self._items.popitem(last=False)
            self._bytes -= len(dropped)


class RenderCache:
    def __init__(
        self,
        max_bytes: int = 256 * 1024 * 1024,
        workers: int = 2,
        kept_max_bytes: int = 256 * 1024 * 1024,
    ) -> None:
        self._done = _BytesLru[RenderSpec](max_bytes)
        self._kept = _BytesLru[str](kept_max_bytes)
        self._pending: dict[RenderSpec, asyncio.Future[bytes]] = {}
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="render")

    async def get(self, spec: RenderSpec) -> bytes:
        data = self._done.get(spec)
        if data is not None:
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
            self._done.put(spec, future.result())

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn(*args)`` on the render threads (decoding and drawing edits, too)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def keep(self, data: bytes, fmt: str) -> Rendered:
        """Keep an image that has no spec to re-render it from; its handle for URLs and samples."""
        image = Rendered(hashlib.sha256(data).hexdigest()[:32], fmt)
        self._kept.put(image.digest, data)
        return image

    def kept(self, image: Rendered) -> bytes | None:
        return self._kept.get(image.digest)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
