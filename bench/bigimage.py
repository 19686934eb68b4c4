"""A bench-only proxy in front of the emulator that makes every image ~20 MB.

The memory benchmark needs a 20 MB image, and the emulator draws ~30-300 KB pictures. Until the
emulator has a size knob, this proxy forwards every request to it unchanged and only enlarges the
images: a base64 reply is decoded, grown, re-encoded; a URL reply is rewritten to a proxy URL that
serves the emulator's image, grown. "Grown" means a private ancillary PNG chunk (``pdDg``) of
incompressible bytes inserted before ``IEND``: still a valid PNG of the same picture, which any
decoder skips, so the app stores exactly these bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import struct
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from aiohttp import web

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PAD_CHUNK = b"pdDg"
_HOP = {"content-length", "transfer-encoding", "connection", "content-encoding", "host"}


def pad_png(data: bytes, target_bytes: int) -> bytes:
    """``data`` with a padding chunk so the file is ``target_bytes`` long (if it was shorter)."""
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG")
    extra = target_bytes - len(data) - 12  # chunk length + type + CRC
    if extra <= 0:
        return data
    iend = data.rfind(b"IEND") - 4
    filler = random.Random(len(data)).randbytes(extra)
    chunk = (
        struct.pack(">I", extra)
        + PAD_CHUNK
        + filler
        + struct.pack(">I", zlib.crc32(PAD_CHUNK + filler) & 0xFFFFFFFF)
    )
    return data[:iend] + chunk + data[iend:]


class BigImageProxy:
    def __init__(self, upstream: str, target_bytes: int) -> None:
        self.upstream = upstream.rstrip("/")
        self.target = target_bytes
        self.base_url = ""
        self.http = httpx.AsyncClient(timeout=120)
        self._cache: dict[str, bytes] = {}
        self.served_bytes: list[int] = []

    def _grow(self, data: bytes) -> bytes:
        key = hashlib.sha256(data).hexdigest()
        if key not in self._cache:
            self._cache.clear()  # one image at a time is all the benchmark needs
            self._cache[key] = pad_png(data, self.target)
        return self._cache[key]

    async def big(self, request: web.Request) -> web.Response:
        """``/_big/<emulator path>?<query>``: the emulator's image, grown."""
        path = request.match_info["rest"]
        r = await self.http.get(f"{self.upstream}/{path}", params=dict(request.query))
        if r.status_code != 200:
            return web.Response(status=r.status_code, body=r.content)
        body = self._grow(r.content)
        self.served_bytes.append(len(body))
        return web.Response(body=body, content_type="image/png")

    async def forward(self, request: web.Request) -> web.Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        r = await self.http.request(
            request.method,
            f"{self.upstream}{request.path}",
            params=list(request.query.items()),
            headers=headers,
            content=await request.read(),
        )
        out_headers = {k: v for k, v in r.headers.items() if k.lower() not in _HOP}
        body = r.content
        if "json" in r.headers.get("content-type", "") and r.status_code == 200:
            data = r.json()
            items = data.get("data") or (data.get("result") or {}).get("data") or []
            for item in items:
                if item.get("b64_json"):
                    grown = self._grow(base64.b64decode(item["b64_json"]))
                    self.served_bytes.append(len(grown))
                    item["b64_json"] = base64.b64encode(grown).decode()
                elif item.get("url"):
                    emu = httpx.URL(item["url"])
                    q = emu.query.decode()
                    item["url"] = f"{self.base_url}/_big{emu.path}" + (f"?{q}" if q else "")
            body = json.dumps(data).encode()
        return web.Response(status=r.status_code, body=body, headers=out_headers)


def _bound_port(runner: web.AppRunner) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple):
            return int(address[1])
    raise RuntimeError("the proxy is not listening")


@asynccontextmanager
async def big_image_proxy(upstream: str, target_bytes: int) -> AsyncIterator[BigImageProxy]:
    proxy = BigImageProxy(upstream, target_bytes)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_get("/_big/{rest:.*}", proxy.big)
    app.router.add_route("*", "/{tail:.*}", proxy.forward)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = _bound_port(runner)
    proxy.base_url = f"http://127.0.0.1:{port}"
    try:
        yield proxy
    finally:
        await proxy.http.aclose()
        await runner.cleanup()
