"""Every flavour against the emulator over a real socket, its images stored in a real Azurite.

The emulator draws each image as a pure function of (prompt, size, index, format), so the bytes
that land in Blob Storage can be compared with what it must have served.
"""

from __future__ import annotations

import asyncio
import base64
import time
from datetime import UTC, datetime

import pytest

from devstack.emulator.images import render
from shared.imaging import (
    ErrorCode,
    Flavour,
    GenerationParams,
    ImageApiError,
    OperationState,
    OperationStatus,
)
from shared.imaging.factory import client_for
from shared.storage import decode_metadata
from shared.storage.policy import DownloadPolicy
from tests.integration.blobs import read_blob
from tests.unit.imaging.memory import generate

LOCAL = DownloadPolicy(allow_http_hosts=("127.0.0.1",))  # the emulator, Azurite
END_STATES = {
    OperationStatus.SUCCEEDED,
    OperationStatus.FAILED,
    OperationStatus.CANCELED,
    OperationStatus.DELETED,
}


async def poll_until_done(client, url: str, deadline_s: float = 20.0) -> list[OperationState]:
    """Poll an operation until an end state; returns every state seen (no fixed sleeps)."""
    seen: list[OperationState] = []
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        state = await client.get_operation(url)
        seen.append(state)
        if state.status in END_STATES:
            return seen
        await asyncio.sleep(0.05)
    raise AssertionError(f"operation still {seen[-1].status} after {deadline_s}s")


async def store_all(store, http, images, job_id: str, meta: dict[str, str]):
    stored = []
    for i, image in enumerate(images):
        meta_i = {**meta, "revised_prompt": image.revised_prompt}
        if image.url:
            name = store.blob_name(job_id, datetime.now(UTC), i, "png")
            stored.append(await store.copy_from_url(image.url, name, meta_i, http, LOCAL))
        else:
            assert image.b64_json is not None
            data = base64.b64decode(image.b64_json)
            name = store.blob_name(job_id, datetime.now(UTC), i, "png")
            stored.append(await store.save_bytes(name, data, meta_i))
    return stored


@pytest.mark.parametrize(
    ("flavour", "model", "params", "expect_url"),
    [
        (Flavour.AZURE_DEPLOYMENT, "dall-e-3", {"size": "1024x1024", "quality": "hd"}, True),
        (Flavour.AZURE_DEPLOYMENT, "gpt-image-1", {"size": "1024x1024", "n": 2}, False),
        (Flavour.AZURE_DEPLOYMENT, "dall-e-2", {"size": "256x256", "n": 2}, True),
        (Flavour.AZURE_V1, "gpt-image-1", {"size": "1024x1024", "quality": "low"}, False),
        (Flavour.AZURE_V1, "dall-e-3", {"style": "natural"}, True),
        (Flavour.OPENAI, "gpt-image-1", {"size": "1024x1024", "background": "opaque"}, False),
        (Flavour.OPENAI, "dall-e-2", {"size": "512x512"}, True),
    ],
)
async def test_sync_flavour_generates_and_stores_exact_images(
    deployment, auth, http, store, flavour, model, params, expect_url
):
    dep = deployment(flavour, model)
    prompt = f"a badger wearing a tuxedo ({flavour.value} {model})"
    images = await generate(client_for(dep, http, auth), GenerationParams(prompt=prompt, **params))

    n = params.get("n", 1)
    assert len(images) == n
    assert all((im.url is not None) == expect_url for im in images)
    if model == "dall-e-3":
        assert images[0].revised_prompt
    stored = await store_all(store, http, images, "job-1", {"model": model, "prompt": prompt})

    width, height = (int(v) for v in params.get("size", "1024x1024").split("x"))
    for i, item in enumerate(stored):
        assert (item.width, item.height, item.content_type) == (width, height, "image/png")
        data, metadata, _ = await read_blob(store, item.blob)
        assert data == render(prompt, width, height, i, "png")
        assert item.bytes == len(data)
        assert decode_metadata(metadata)["prompt"] == prompt


async def test_gpt_image_jpeg_output_is_stored_as_jpeg(deployment, auth, http, store):
    dep = deployment(Flavour.AZURE_DEPLOYMENT, "gpt-image-1")
    params = GenerationParams(prompt="a jpeg badger", size="1024x1536", output_format="jpeg")
    [image] = await generate(client_for(dep, http, auth), params)
    data = base64.b64decode(image.b64_json or "")
    stored = await store.save_bytes(store.blob_name("j", datetime.now(UTC), 0, "jpg"), data, {})
    assert (stored.content_type, stored.width, stored.height) == ("image/jpeg", 1024, 1536)


async def test_dalle2_async_walks_every_status_to_success_and_delete(
    deployment, auth, http, store, configure
):
    await configure(latency_seconds=0.6)
    client = client_for(deployment(Flavour.AZURE_DALLE2_ASYNC, "dall-e-2"), http, auth)
    prompt = "an async badger"
    url = await client.submit(GenerationParams(prompt=prompt, n=2, size="256x256"))
    assert url.startswith(client.deployment.endpoint + "/openai/operations/images/")

    seen = await poll_until_done(client, url)
    statuses = [s.status for s in seen]
    assert statuses[-1] is OperationStatus.SUCCEEDED
    assert set(statuses[:-1]) <= {OperationStatus.NOT_RUNNING, OperationStatus.RUNNING}
    assert OperationStatus.RUNNING in statuses or OperationStatus.NOT_RUNNING in statuses
    assert all(s.retry_after_s is not None for s in seen[:-1])
    done = seen[-1]
    assert len(done.images) == 2

    stored = await store_all(store, http, done.images, "job-async", {"prompt": prompt})
    for i, item in enumerate(stored):
        assert (await read_blob(store, item.blob))[0] == render(prompt, 256, 256, i, "png")

    await client.delete_operation(url)
    assert (await client.get_operation(url)).status is OperationStatus.DELETED
    await client.delete_operation(url)  # twice is harmless


async def test_dalle2_async_reports_the_service_pacing_hint(deployment, auth, http, configure):
    await configure(latency_seconds=60, async_retry_after_seconds=7)
    client = client_for(deployment(Flavour.AZURE_DALLE2_ASYNC, "dall-e-2"), http, auth)
    url = await client.submit(GenerationParams(prompt="slow"))
    state = await client.get_operation(url)
    assert state.status is OperationStatus.NOT_RUNNING
    assert state.retry_after_s == 7
    with pytest.raises(ImageApiError) as info:  # not finished yet: the service says 409
        await client.delete_operation(url)
    assert info.value.retryable


async def test_dalle2_async_image_filtered(deployment, auth, http, configure):
    await configure(image_filter_rate=1.0)
    client = client_for(deployment(Flavour.AZURE_DALLE2_ASYNC, "dall-e-2"), http, auth)
    url = await client.submit(GenerationParams(prompt="harmless"))
    state = (await poll_until_done(client, url))[-1]
    assert state.status is OperationStatus.FAILED
    assert state.error is not None
    assert state.error.code is ErrorCode.CONTENT_FILTER
    assert not state.images


async def test_dalle2_async_canceled_when_it_times_out(deployment, auth, http, configure):
    await configure(latency_seconds=5, operation_timeout_seconds=0.3)
    client = client_for(deployment(Flavour.AZURE_DALLE2_ASYNC, "dall-e-2"), http, auth)
    url = await client.submit(GenerationParams(prompt="too slow"))
    state = (await poll_until_done(client, url))[-1]
    assert state.status is OperationStatus.CANCELED
    assert state.error is not None
    assert state.error.code is ErrorCode.OPERATION_FAILED


async def test_unknown_operation_is_an_operation_failure(deployment, auth, http, emulator):
    client = client_for(deployment(Flavour.AZURE_DALLE2_ASYNC, "dall-e-2"), http, auth)
    url = f"{emulator.base_url}/openai/operations/images/nope?api-version=2023-06-01-preview"
    with pytest.raises(ImageApiError) as info:
        await client.get_operation(url)
    assert info.value.code is ErrorCode.OPERATION_FAILED


async def test_relative_operation_url_is_resolved_on_the_endpoint(deployment, auth, http):
    client = client_for(deployment(Flavour.AZURE_DALLE2_ASYNC, "dall-e-2"), http, auth)
    absolute = await client.submit(GenerationParams(prompt="relative"))
    relative = absolute.split("://", 1)[1].split("/", 1)[1]
    state = (await poll_until_done(client, "/" + relative))[-1]
    assert state.status is OperationStatus.SUCCEEDED


async def test_sync_only_flavours_have_no_operations(deployment, auth, http):
    client = client_for(deployment(Flavour.AZURE_V1, "dall-e-3"), http, auth)
    with pytest.raises(NotImplementedError):
        await client.submit(GenerationParams(prompt="x"))
    async_client = client_for(deployment(Flavour.AZURE_DALLE2_ASYNC, "dall-e-2"), http, auth)
    with pytest.raises(NotImplementedError):
        await generate(async_client, GenerationParams(prompt="x"))
