"""Edits through every flavour that has them, against the emulator over a real socket, with the
inputs streamed out of real blobs in Azurite (`open_sources`' `BlobInput`s, as the generating
activity opens them).

The emulator draws an edit from what it received and writes into the image which inputs those
were — by sha256, in order, and the mask's (`devstack.emulator.read_meta`). So each test checks
that exactly the staged inputs reached the service, through whichever body (multipart, JSON with
base64 references) and on whichever route the flavour uses: a wrong route, key header or field
would have been refused or answered with a plain generation, which carries no such record.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from PIL import Image

from devstack.emulator import read_meta
from shared.imaging import (
    Auth,
    Deployment,
    ErrorCode,
    Family,
    Flavour,
    GenerationParams,
    ImageApiError,
    OperationStatus,
)
from shared.imaging.factory import client_for
from shared.imaging.types import EditInputs, EditSources, ImageApiClient
from shared.storage import naming
from shared.storage.inputs import open_sources
from shared.storage.policy import DownloadPolicy
from shared.storage.store import ImageStore
from tests.integration.blobs import read_blob
from tests.pictures import mask_png, noise_png
from tests.pictures import png as picture
from tests.unit.imaging.memory import generate

LOCAL = DownloadPolicy(allow_http_hosts=("127.0.0.1",))  # the emulator, Azurite
RED, GREEN, BLUE, GREY = (220, 20, 20), (20, 200, 20), (20, 20, 220), (120, 120, 120)
MAGENTA = (255, 0, 255)
API_VERSIONS = {Flavour.AZURE_DEPLOYMENT: "2025-04-01-preview"}
MULTIPART = [Flavour.AZURE_DEPLOYMENT, Flavour.AZURE_V1, Flavour.OPENAI]


# ---- inputs ------------------------------------------------------------------------------------


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def staged(store: ImageStore, images: list[bytes], mask: bytes | None = None) -> EditSources:
    """The inputs committed as an edit's staged inputs are, and opened as the activity opens
    them: `InputFile`s that stream each blob in ranged reads."""
    job_id, created = uuid.uuid4().hex, datetime.now(UTC)
    names = []
    for i, data in enumerate(images):
        ext = "jpg" if data.startswith(b"\xff\xd8") else "png"
        names.append(naming.input_blob_name(job_id, created, "t", i, ext))
        await store.save_bytes(names[-1], data, {"role": "edit-input"})
    mask_name = None
    if mask is not None:
        mask_name = naming.input_blob_name(job_id, created, "t", None, "png")
        await store.save_bytes(mask_name, mask, {"role": "edit-input"})
    return await open_sources(store, EditInputs(images=tuple(names), mask=mask_name))


# ---- clients and results -----------------------------------------------------------------------


def on_emulator(emulator: Any, flavour: Flavour, family: Family, **fields: Any) -> Deployment:
    """A deployment of `family` on the emulator (its deployments are named after their models)."""
    values: dict[str, Any] = {
        "name": family.model_id,
        "deployment": family.model_id,
        "family": family,
        "flavour": flavour,
        "endpoint": emulator.base_url,
        "api_version": API_VERSIONS.get(flavour),
    }
    values.update(fields)
    return Deployment(**values)


def client(emulator: Any, http: httpx.AsyncClient, dep: Deployment) -> ImageApiClient:
    header = "x-key" if dep.flavour is Flavour.BFL else "api-key"  # as shared/blueprints/deps.py
    return client_for(dep, http, Auth.from_key(emulator.api_key, header=header))


async def edit_b64(c: ImageApiClient, params: GenerationParams, sources: EditSources) -> bytes:
    [image] = await generate(c, params, sources)
    assert image.url is None
    return base64.b64decode(image.b64_json or "")


async def stored_from_url(store: ImageStore, http: httpx.AsyncClient, url: str) -> bytes:
    """Copy a URL result into Blob Storage as the app does, and read back what landed there."""
    name = f"results/{uuid.uuid4().hex}"
    record = await store.copy_from_url(url, name, {}, http, LOCAL)
    data, _, _ = await read_blob(store, record.blob)
    return data


async def poll_until_ready(c: ImageApiClient, url: str, deadline_s: float = 20.0) -> str:
    """Poll a BFL task until an end state (no fixed sleeps); the sample URL of a Ready one."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        state = await c.get_operation(url)
        if state.status is not OperationStatus.RUNNING:
            assert state.status is OperationStatus.SUCCEEDED, state
            [image] = state.images
            assert image.url is not None
            return image.url
        await asyncio.sleep(0.05)
    raise AssertionError(f"task still running after {deadline_s}s")


def meta_of(data: bytes) -> dict[str, Any]:
    meta = read_meta(data)
    assert meta is not None, "a plain generation, not an edit"
    return meta


def received(data: bytes) -> tuple[list[str], str | None]:
    """(the inputs' sha256 in order, the mask's) as the emulator received them."""
    meta = meta_of(data)
    assert meta["inputs"] == len(meta["input_sha256"])
    return meta["input_sha256"], meta["mask_sha256"]


def opened(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def near(pixel: Any, colour: tuple[int, int, int], tolerance: int = 16) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=False))


# ---- the multipart routes ----------------------------------------------------------------------


async def test_gpt_image_2_on_the_deployment_route_edits_one_image(emulator, http, store):
    first = picture((600, 400), RED)
    dep = on_emulator(emulator, Flavour.AZURE_DEPLOYMENT, Family.GPT_IMAGE_2)
    params = GenerationParams(prompt="add a hat", size="1536x1024", input_fidelity="high")

    data = await edit_b64(client(emulator, http, dep), params, await staged(store, [first]))

    assert received(data) == ([sha256(first)], None)
    assert meta_of(data)["prompt"] == "add a hat"
    assert opened(data).size == (1536, 1024)
    assert emulator.stats()["billed"]["edits"] == 1


@pytest.mark.parametrize("flavour", MULTIPART)
async def test_gpt_image_1_5_edits_several_images_in_order_with_a_mask(
    emulator, http, store, flavour
):
    # The second input is a JPEG: each part goes with its blob's own content type.
    images = [
        picture((512, 512), RED),
        picture((300, 200), GREEN, "JPEG"),
        picture((256, 256), BLUE),
    ]
    mask = mask_png((512, 512), (192, 192, 320, 320))
    dep = on_emulator(emulator, flavour, Family.GPT_IMAGE_1_5)
    params = GenerationParams(prompt=f"three into one ({flavour})", size="1024x1024")

    data = await edit_b64(client(emulator, http, dep), params, await staged(store, images, mask))

    assert received(data) == ([sha256(d) for d in images], sha256(mask))
    image = opened(data).convert("RGB")
    assert image.size == (1024, 1024)
    assert image.getpixel((512, 512)) == MAGENTA  # the mask's hole, scaled to the output
    assert near(image.getpixel((100, 500)), RED)  # the first input, stretched
    assert near(image.getpixel((100, 1000)), GREEN)  # then the others along the bottom, in order
    assert near(image.getpixel((500, 1000)), BLUE)


async def test_kontext_on_the_image_api_edits_one_image_and_answers_a_url(emulator, http, store):
    # `user` is not a field of this route: sending it would be a 400 naming it.
    first = picture((512, 512), GREY)
    dep = on_emulator(
        emulator, Flavour.AZURE_DEPLOYMENT, Family.FLUX_1_KONTEXT_PRO, api_version="preview"
    )
    params = GenerationParams(prompt="p", size="1024x768", user="u")

    [image] = await client(emulator, http, dep).generate_streamed(
        params, _no_sink, await staged(store, [first])
    )

    assert image.url is not None
    data = await stored_from_url(store, http, image.url)
    assert received(data) == ([sha256(first)], None)
    assert opened(data).size == (1024, 768)


async def _no_sink(ordinal: int) -> Any:
    raise AssertionError("a URL reply opens no sink")


# ---- the BFL routes ----------------------------------------------------------------------------


async def test_flux_2_pro_on_foundrys_bfl_route_takes_three_references_in_order(
    emulator, http, store
):
    refs = [picture((640, 480), RED), picture((320, 320), GREEN), picture((200, 400), BLUE)]
    dep = on_emulator(emulator, Flavour.BFL_FOUNDRY, Family.FLUX_2_PRO)

    data = await edit_b64(
        client(emulator, http, dep), GenerationParams(prompt="p"), await staged(store, refs)
    )

    assert received(data) == ([sha256(d) for d in refs], None)
    # no size sent: the service follows the first reference's
    assert (opened(data).format, opened(data).size) == ("PNG", (640, 480))


async def test_kontext_on_foundrys_bfl_route_gets_the_size_as_an_aspect_ratio(
    emulator, http, store
):
    first = picture((512, 512), GREY)
    dep = on_emulator(emulator, Flavour.BFL_FOUNDRY, Family.FLUX_1_KONTEXT_PRO)
    params = GenerationParams(prompt="wider", size="1536x1024")

    data = await edit_b64(client(emulator, http, dep), params, await staged(store, [first]))

    assert received(data) == ([sha256(first)], None)
    # 3:2 at about 1 MP in multiples of 32. 1536x1024 itself is over Kontext's 1 MP (refused);
    # no size at all would have followed the square input.
    assert opened(data).size == (1248, 832)


@pytest.mark.parametrize(
    ("family", "count", "size", "expected"),
    [
        (Family.FLUX_2_PRO, 2, "1024x768", (1024, 768)),
        (Family.FLUX_1_KONTEXT_PRO, 1, "1024x768", (1152, 864)),  # as aspect_ratio 4:3
    ],
)
async def test_bfls_own_api_submits_the_references_and_the_sample_derives_from_them(
    emulator, http, store, configure, family, count, size, expected
):
    await configure(latency_seconds=0.2)
    refs = [picture((400, 300), RED), picture((300, 300), BLUE)][:count]
    dep = on_emulator(emulator, Flavour.BFL, family)
    c = client(emulator, http, dep)

    url = await c.submit(GenerationParams(prompt="p", size=size), await staged(store, refs))
    assert url.startswith(f"{emulator.base_url}/v1/get_result?id=")
    sample = await poll_until_ready(c, url)

    data = await stored_from_url(store, http, sample)
    assert received(data) == ([sha256(d) for d in refs], None)
    assert (opened(data).format, opened(data).size) == ("JPEG", expected)  # BFL's default format


# ---- the request on the wire -------------------------------------------------------------------


@pytest.fixture
async def watched() -> AsyncIterator[tuple[httpx.AsyncClient, list[httpx.Request]]]:
    """An httpx client that keeps every request it sends: the headers h11 frames the body by."""
    sent: list[httpx.Request] = []

    async def keep(request: httpx.Request) -> None:
        sent.append(request)

    async with httpx.AsyncClient(event_hooks={"request": [keep]}) as http:
        yield http, sent


@pytest.mark.parametrize(
    ("flavour", "family"),
    [
        (Flavour.OPENAI, Family.GPT_IMAGE_1_5),
        (Flavour.BFL_FOUNDRY, Family.FLUX_2_PRO),
        (Flavour.BFL, Family.FLUX_2_PRO),
    ],
)
async def test_an_edit_goes_out_with_a_content_length_not_chunked(
    emulator, store, watched, flavour, family
):
    # An input of more than one ranged read (1 MiB): the body is produced while it is sent.
    # h11 refuses to send more or fewer bytes than the Content-Length states, so a reply naming
    # the exact input shows the stated length was the real one.
    http, sent = watched
    big = noise_png((700, 700))
    c = client(emulator, http, on_emulator(emulator, flavour, family))
    sources = await staged(store, [big])
    params = GenerationParams(prompt="big", size="1024x1024")

    if flavour is Flavour.BFL:
        data = await stored_from_url(
            store, http, await poll_until_ready(c, await c.submit(params, sources))
        )
    else:
        data = await edit_b64(c, params, sources)

    assert received(data) == ([sha256(big)], None)
    [post] = [r for r in sent if r.method == "POST"]
    assert "transfer-encoding" not in post.headers
    assert int(post.headers["content-length"]) > len(big)


# ---- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", [Flavour.AZURE_DEPLOYMENT, Flavour.OPENAI])
async def test_a_mask_of_the_wrong_size_is_an_invalid_request_naming_the_mask(
    emulator, http, store, flavour
):
    sources = await staged(
        store, [picture((512, 512), RED)], mask_png((256, 256), (0, 0, 128, 128))
    )
    c = client(emulator, http, on_emulator(emulator, flavour, Family.GPT_IMAGE_1_5))
    with pytest.raises(ImageApiError) as info:
        await generate(c, GenerationParams(prompt="p"), sources)
    assert info.value.code is ErrorCode.INVALID_REQUEST
    assert not info.value.retryable
    assert info.value.status == 400
    assert "mask" in info.value.message
    assert emulator.stats()["billed"]["generations"] == 0


async def edit_call(c: ImageApiClient, sources: EditSources, prompt: str = "a hat") -> object:
    params = GenerationParams(prompt=prompt)
    if c.deployment.flavour is Flavour.BFL:
        return await c.submit(params, sources)
    return await generate(c, params, sources)


EDITORS = [
    (Flavour.AZURE_DEPLOYMENT, Family.GPT_IMAGE_1_5),
    (Flavour.AZURE_V1, Family.GPT_IMAGE_1_5),
    (Flavour.OPENAI, Family.GPT_IMAGE_1_5),
    (Flavour.BFL_FOUNDRY, Family.FLUX_2_PRO),
    (Flavour.BFL, Family.FLUX_2_PRO),
]


@pytest.mark.parametrize(("flavour", "family"), EDITORS)
async def test_a_throttled_edit_is_throttled_with_the_services_wait(
    emulator, http, store, configure, flavour, family
):
    await configure(error_rate_429=1.0, error_429_retry_after_seconds=7)
    c = client(emulator, http, on_emulator(emulator, flavour, family))
    with pytest.raises(ImageApiError) as info:
        await edit_call(c, await staged(store, [picture((256, 256), RED)]))
    assert info.value.code is ErrorCode.THROTTLED
    assert info.value.retryable
    assert info.value.retry_after_s == 7


async def test_an_edit_over_the_deployments_quota_is_throttled(emulator, http, store, configure):
    await configure(rpm_per_deployment={"gpt-image-1.5": 1})
    c = client(emulator, http, on_emulator(emulator, Flavour.AZURE_V1, Family.GPT_IMAGE_1_5))
    first = picture((256, 256), RED)
    await edit_call(c, await staged(store, [first]))
    with pytest.raises(ImageApiError) as info:
        await edit_call(c, await staged(store, [first]))
    assert info.value.code is ErrorCode.THROTTLED
    assert info.value.retry_after_s is not None
    assert 0 < info.value.retry_after_s <= 60


@pytest.mark.parametrize(("flavour", "family"), EDITORS)
async def test_a_server_error_on_an_edit_is_retryable(
    emulator, http, store, configure, flavour, family
):
    await configure(error_rate_503=1.0)
    c = client(emulator, http, on_emulator(emulator, flavour, family))
    with pytest.raises(ImageApiError) as info:
        await edit_call(c, await staged(store, [picture((256, 256), RED)]))
    assert info.value.code is ErrorCode.UNAVAILABLE
    assert info.value.retryable


@pytest.mark.parametrize("flavour", MULTIPART)
async def test_a_filtered_edit_prompt_is_a_content_filter_refusal(
    emulator, http, store, configure, flavour
):
    await configure(content_filter_words=["forbidden"])
    c = client(emulator, http, on_emulator(emulator, flavour, Family.GPT_IMAGE_1_5))
    with pytest.raises(ImageApiError) as info:
        await edit_call(c, await staged(store, [picture((256, 256), RED)]), "a forbidden hat")
    assert info.value.code is ErrorCode.CONTENT_FILTER
    assert not info.value.retryable


async def test_dalle2_async_refuses_an_edit_before_sending_anything(emulator, http, store):
    dep = on_emulator(
        emulator, Flavour.AZURE_DALLE2_ASYNC, Family.DALLE2, api_version="2023-06-01-preview"
    )
    sources = await staged(store, [picture((256, 256), RED)])
    with pytest.raises(ImageApiError) as info:
        await client(emulator, http, dep).submit(GenerationParams(prompt="p"), sources)
    assert info.value.code is ErrorCode.INVALID_REQUEST
    assert emulator.stats()["served"]["by_status"] == {}
