"""A base64 reply decoded into Blob Storage as it streams in: a reply that breaks off midway, or
whose data is not an image, leaves no blob. The faulty service is a tiny server on a real socket
(the emulator always finishes its replies)."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest
from aiohttp import web

from devstack.emulator.images import render
from shared.imaging import Auth, Deployment, Family, Flavour, GenerationParams, ImageApiError
from shared.imaging.factory import client_for
from shared.storage import ImageFormat
from shared.storage.store import ImageStore, StagedImage
from tests.integration.blobs import read_blob

IMAGE = render("a streamed badger", 1024, 1024, 0, "png")


def reply_body(image: bytes = IMAGE) -> bytes:
    data = [{"b64_json": base64.b64encode(image).decode(), "revised_prompt": "a badger"}]
    return json.dumps({"created": 1, "data": data}).replace("/", "\\/").encode()


@pytest.fixture
async def service() -> AsyncIterator[Callable[[bytes, bool], str]]:
    """`service(body, cut)`: an OpenAI-style endpoint answering `body`; with `cut` it declares
    the full length, sends half and closes the connection."""
    runners: list[web.AppRunner] = []

    async def start(body: bytes, cut: bool) -> str:
        async def generations(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            response.content_length = len(body)
            await response.prepare(request)
            await response.write(body[: len(body) // 2] if cut else body)
            if cut:
                assert request.transport is not None
                request.transport.close()
            return response

        app = web.Application()
        app.router.add_post("/v1/images/generations", generations)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}/v1"

    yield start  # type: ignore[misc]
    for runner in runners:
        await runner.cleanup()


async def generate_into(store: ImageStore, http, endpoint: str) -> tuple[list, list[StagedImage]]:
    deployment = Deployment(
        name="gpt-image-1",
        deployment="gpt-image-1",
        family=Family.GPT_IMAGE,
        flavour=Flavour.OPENAI,
        endpoint=endpoint,
    )
    client = client_for(deployment, http, Auth.from_key("k"))
    staged: list[StagedImage] = []

    async def open_sink(ordinal: int) -> StagedImage:
        def name_for(fmt: ImageFormat) -> str:
            return store.blob_name("job", datetime.now(UTC), ordinal, fmt.ext)

        staged.append(await store.open_staged(name_for, 32 * 1024 * 1024))
        return staged[-1]

    images = await client.generate_streamed(GenerationParams(prompt="a badger"), open_sink)
    return images, staged


async def blob_names(store: ImageStore) -> list[str]:
    container = store.service.get_container_client(store.container)
    return [b.name async for b in container.list_blobs()]


async def test_a_whole_reply_is_stored_byte_exact_once_committed(store, http, service):
    images, staged = await generate_into(store, http, await service(reply_body(), False))

    assert [i.streamed for i in images] == [0]
    assert images[0].revised_prompt == "a badger"
    assert await blob_names(store) == []  # staged, not committed
    record = await staged[0].commit({"job_id": "job"})
    data, _, content_type = await read_blob(store, record.blob)
    assert data == IMAGE
    assert content_type == "image/png"
    assert (record.width, record.height) == (1024, 1024)


async def test_a_reply_cut_midway_is_a_retryable_fault_and_leaves_no_blob(store, http, service):
    with pytest.raises(ImageApiError) as err:
        await asyncio.wait_for(generate_into(store, http, await service(reply_body(), True)), 30)

    assert err.value.retryable
    assert await blob_names(store) == []


async def test_data_that_is_not_an_image_is_refused_and_leaves_no_blob(store, http, service):
    with pytest.raises(ImageApiError) as err:
        await generate_into(store, http, await service(reply_body(b"GIF89a" + bytes(100)), False))

    assert err.value.code == "image_download_failed"
    assert await blob_names(store) == []
