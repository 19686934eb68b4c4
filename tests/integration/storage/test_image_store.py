"""ImageStore against a real Azurite: what lands in the container, and what never does."""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from aiohttp import web
from PIL import Image

from shared.imaging.types import ErrorCode, ImageApiError
from shared.storage import decode_metadata
from shared.storage.policy import DownloadPolicy
from shared.storage.store import ImageStore
from tests.integration.blobs import blob_exists, read_blob

LOCAL = DownloadPolicy(allow_http_hosts=("127.0.0.1",))  # the emulator, Azurite
META = {
    "model": "dall-e-3",
    "size": "1024x1024",
    "job_id": "job-42",
    "prompt": "a badger wearing a tuxedo, café 🦡",
    "revised_prompt": "A dapper badger in a black tuxedo",
}


def image(fmt: str = "PNG", size: tuple[int, int] = (64, 48), noise: bool = False) -> bytes:
    """A real image; `noise` makes it incompressible (about w*h*3 bytes)."""
    if noise:
        img = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    else:
        img = Image.new("RGB", size, (10, 120, 200))
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


async def blob_names(store: ImageStore) -> list[str]:
    await store.ensure_container()
    container = store.service.get_container_client(store.container)
    return [b.name async for b in container.list_blobs()]


@pytest.mark.parametrize(
    ("fmt", "content_type"), [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")]
)
async def test_save_bytes_stores_exact_bytes_type_and_metadata(store, fmt, content_type):
    data = image(fmt, (40, 30))
    name = store.blob_name("job-42", datetime(2026, 5, 4, tzinfo=UTC), 0, fmt.lower())
    stored = await store.save_bytes(name, data, META)

    assert stored.blob == f"2026/05/04/job-42/0.{fmt.lower()}"
    assert (stored.content_type, stored.bytes, stored.width, stored.height) == (
        content_type,
        len(data),
        40,
        30,
    )
    body, metadata, ctype = await read_blob(store, name)
    assert body == data
    assert ctype == content_type
    assert decode_metadata(metadata) == META
    # What the activity hands to history must survive a JSON round trip.
    assert type(stored).model_validate_json(stored.model_dump_json()) == stored


async def test_save_bytes_twice_overwrites_harmlessly(store):
    name = "2026/01/01/j/0.png"
    await store.save_bytes(name, image(size=(10, 10)), META)
    second = image(size=(20, 20))
    stored = await store.save_bytes(name, second, META)
    assert stored.width == 20
    assert (await read_blob(store, name))[0] == second
    assert await blob_names(store) == [name]


async def test_save_bytes_refuses_what_is_not_an_image(store):
    with pytest.raises(ImageApiError) as info:
        await store.save_bytes("x/0.png", b"<html>nope</html>", META)
    assert info.value.code is ErrorCode.IMAGE_DOWNLOAD_FAILED
    assert await blob_names(store) == []


async def test_copy_from_url_streams_exact_bytes_in_many_blocks(store, sources, http):
    data = image(size=(300, 200), noise=True)  # ~180 KB: several 64 KB blocks
    url = await sources.put(data, "image/png")
    stored = await store.copy_from_url(url, "2026/01/01/j/0.png", META, http, LOCAL)

    assert (stored.bytes, stored.width, stored.height) == (len(data), 300, 200)
    assert stored.content_type == "image/png"
    body, metadata, ctype = await read_blob(store, "2026/01/01/j/0.png")
    assert body == data
    assert ctype == "image/png"
    assert decode_metadata(metadata) == META


async def test_content_type_comes_from_the_bytes_not_the_source_header(store, sources, http):
    data = image("JPEG", (16, 16))
    url = await sources.put(data, "application/octet-stream")
    stored = await store.copy_from_url(url, "a/0.jpg", META, http, LOCAL)
    assert stored.content_type == "image/jpeg"
    assert (await read_blob(store, "a/0.jpg"))[2] == "image/jpeg"


async def refused(store, http, url, policy=LOCAL) -> ImageApiError:
    with pytest.raises(ImageApiError) as info:
        await store.copy_from_url(url, "x/0.png", META, http, policy)
    assert "sig=" not in info.value.message
    assert not await blob_exists(store, "x/0.png")
    assert await blob_names(store) == []
    return info.value


async def test_expired_source_url_is_refused(store, sources, http):
    url = await sources.put(image(), expires_in=-timedelta(minutes=5))
    err = await refused(store, http, url)
    assert err.code is ErrorCode.IMAGE_DOWNLOAD_FAILED
    assert err.status == 403
    assert "expired" in err.message


async def test_non_image_with_image_content_type_is_refused(store, sources, http):
    url = await sources.put(b"<Error><Code>AuthenticationFailed</Code></Error>" * 10, "image/png")
    err = await refused(store, http, url)
    assert err.code is ErrorCode.IMAGE_DOWNLOAD_FAILED
    assert "not a PNG" in err.message


async def test_html_content_type_is_refused(store, sources, http):
    url = await sources.put(b"<html>login</html>", "text/html")
    err = await refused(store, http, url)
    assert err.code is ErrorCode.IMAGE_DOWNLOAD_FAILED
    assert "text/html" in err.message


async def test_oversize_image_is_refused(store, sources, http):
    data = image(size=(300, 200), noise=True)
    url = await sources.put(data)
    small = DownloadPolicy(allow_http_hosts=("127.0.0.1",), max_bytes=len(data) - 1)
    err = await refused(store, http, url, small)
    assert err.code is ErrorCode.IMAGE_DOWNLOAD_FAILED
    assert "larger than" in err.message


async def test_disallowed_host_is_refused_before_any_request(store, http):
    seen: list[str] = []
    http.event_hooks["request"].append(lambda request: seen.append(str(request.url)))
    err = await refused(store, http, "https://attacker.example.com/a.png?sig=SECRET")
    assert err.code is ErrorCode.IMAGE_DOWNLOAD_FAILED
    assert "SECRET" not in err.message
    assert seen == []


async def test_plain_http_is_refused_without_an_explicit_allowance(store, sources, http):
    url = await sources.put(image())
    err = await refused(store, http, url, DownloadPolicy())
    assert err.code is ErrorCode.IMAGE_DOWNLOAD_FAILED


async def test_unreachable_source_is_retryable(store, http):
    # Port 9 on loopback: nothing listens (discard service is never enabled in CI containers).
    err = await refused(store, http, "http://127.0.0.1:9/a.png")
    assert err.code is ErrorCode.UNAVAILABLE


async def test_sas_url_reads_back_with_plain_http_and_is_read_only(store):
    data = image()
    await store.save_bytes("s/0.png", data, META)
    url = await store.sas_url("s/0.png", timedelta(minutes=10))
    assert "sig=" in url
    async with httpx.AsyncClient() as client:
        got = await client.get(url)
        assert got.status_code == 200
        assert got.content == data
        assert got.headers["content-type"] == "image/png"
        write = await client.put(url, content=b"x", headers={"x-ms-blob-type": "BlockBlob"})
        assert write.status_code == 403
    assert (await read_blob(store, "s/0.png"))[0] == data


async def test_container_is_created_when_missing(azurite):
    import uuid

    name = f"fresh-{uuid.uuid4().hex[:8]}"
    async with ImageStore.from_connection_string(azurite.connection_string, name) as s:
        await s.save_bytes("a/0.png", image(), META)
        assert await blob_exists(s, "a/0.png")
    # A second store on the same (now existing) container works too.
    async with ImageStore.from_connection_string(azurite.connection_string, name) as s:
        await s.save_bytes("a/1.png", image(), META)
        assert await blob_exists(s, "a/1.png")


async def test_two_writers_of_one_blob_never_commit_a_mix(store):
    """Durable may run one activity twice at once (a redelivered task): both stage blocks for the
    same blob name. Whatever commits, the blob is one writer's image, whole."""
    first, second = image(noise=True, size=(300, 200)), image(noise=True, size=(320, 200))
    a = await store.open_staged(lambda fmt: "race/0.png", max_bytes=10_000_000)
    b = await store.open_staged(lambda fmt: "race/0.png", max_bytes=10_000_000)
    step = store.block_size
    for offset in range(0, max(len(first), len(second)), step):  # interleaved, block by block
        await a.write(first[offset : offset + step])
        await b.write(second[offset : offset + step])
    await a.commit({})
    assert (await read_blob(store, "race/0.png"))[0] == first
    # Committing a block list discards the blob's other uncommitted blocks: the late writer
    # either commits its own whole image or fails, never commits a mix.
    try:
        await b.commit({})
    except ImageApiError:
        assert (await read_blob(store, "race/0.png"))[0] == first
    else:
        assert (await read_blob(store, "race/0.png"))[0] == second


# ------------------------------------------------------------------ redirect chains on loopback


@dataclass
class ImageHost:
    """A real HTTP server on 127.0.0.1: ``routes`` maps a path to its answer (a Location to
    redirect to, or image bytes); ``hits`` is every path it was asked for, in order."""

    routes: dict[str, str | bytes] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)
    port: int = 0

    def url(self, path: str, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    async def handle(self, request: web.Request) -> web.Response:
        self.hits.append(request.path)
        answer = self.routes.get(request.path)
        if isinstance(answer, bytes):
            return web.Response(body=answer, content_type="image/png")
        if isinstance(answer, str):
            return web.Response(status=302, headers={"Location": answer})
        return web.Response(status=404)


@pytest.fixture
async def image_hosts() -> AsyncIterator[Callable[[], Awaitable[ImageHost]]]:
    """``await image_hosts()`` starts one more image host, each on its own free port."""
    runners: list[web.AppRunner] = []

    async def start() -> ImageHost:
        host = ImageHost()
        app = web.Application()
        app.router.add_get("/{tail:.*}", host.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        runners.append(runner)
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host.port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
        return host

    yield start
    for runner in runners:
        await runner.cleanup()


async def test_a_redirect_within_the_origin_is_followed(store, http, image_hosts):
    data = image()
    host = await image_hosts()
    host.routes = {"/a.png": "/moved/a.png", "/moved/a.png": host.url("/b.png"), "/b.png": data}
    stored = await store.copy_from_url(host.url("/a.png"), "r/0.png", META, http, LOCAL)
    assert stored.bytes == len(data)
    assert (await read_blob(store, "r/0.png"))[0] == data
    assert host.hits == ["/a.png", "/moved/a.png", "/b.png"]


async def test_a_redirect_to_another_port_is_refused_before_calling_it(store, http, image_hosts):
    """Both ports are on an allowed host (127.0.0.1): the old same-host rule followed this."""
    first, other = await image_hosts(), await image_hosts()
    other.routes = {"/b.png": image()}
    first.routes = {"/a.png": other.url("/b.png")}
    err = await refused(store, http, first.url("/a.png"))
    assert err.code is ErrorCode.IMAGE_DOWNLOAD_FAILED
    assert err.message == "The image URL redirected to another port."
    assert other.hits == []


async def test_a_chain_cannot_walk_to_another_origin_hop_by_hop(store, http, image_hosts):
    """Each hop is compared with the FIRST URL, not only with the hop before it."""
    first, other = await image_hosts(), await image_hosts()
    other.routes = {"/c.png": image()}
    first.routes = {"/a.png": "/b.png", "/b.png": other.url("/c.png")}
    err = await refused(store, http, first.url("/a.png"))
    assert "another port" in err.message
    assert first.hits == ["/a.png", "/b.png"]
    assert other.hits == []


async def test_a_redirect_to_another_scheme_is_refused(store, http, image_hosts):
    """http -> https on the same host and port (a TLS-less test can only go this way; the
    https -> http downgrade is the same comparison, test_download_policy.py)."""
    host = await image_hosts()
    host.routes = {"/a.png": host.url("/b.png", scheme="https"), "/b.png": image()}
    err = await refused(store, http, host.url("/a.png"))
    assert err.message == "The image URL redirected from http to https."
    assert host.hits == ["/a.png"]


async def test_a_redirect_location_is_judged_as_written(store, http, image_hosts):
    """A backslash Location (`\\\\host:port/...`, which browsers read as `//host:port/...`) is
    refused as it is written, not after httpx has escaped it into a path."""
    first, other = await image_hosts(), await image_hosts()
    other.routes = {"/b.png": image()}
    first.routes = {"/a.png": f"\\\\127.0.0.1:{other.port}/b.png"}
    err = await refused(store, http, first.url("/a.png"))
    assert "backslash" in err.message
    assert first.hits == ["/a.png"]
    assert other.hits == []
