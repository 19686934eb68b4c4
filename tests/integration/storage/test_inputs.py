"""Staging an edit's inputs in a real Azurite: checked as they arrive, committed only all
together, and streamed back to a client in bounded ranged reads."""

from __future__ import annotations

import hashlib
import io
import os
import uuid
from datetime import UTC, datetime

import pytest
from azure.storage.blob.aio import ContainerClient
from PIL import Image

from shared.edit_requests import InputRef
from shared.imaging.types import EditInputs
from shared.storage.inputs import InputLimits, InputProblem, open_sources, stage_inputs
from shared.storage.policy import DownloadPolicy
from shared.storage.store import ImageStore

LOCAL = DownloadPolicy(allow_http_hosts=("127.0.0.1",))
LIMITS = InputLimits(
    model="gpt-image-2",
    formats=("png", "jpeg"),
    max_bytes=5_000_000,
    max_pixels=None,
    mask_max_bytes=400_000,
)
CREATED = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
BATCH = "b1"


def picture(size=(300, 200), mode="RGB", fmt="PNG", color=(10, 120, 200)) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color if mode == "RGB" else (*color, 255)).save(out, fmt)
    return out.getvalue()


def upload(data: bytes, i: int = 0) -> InputRef:
    return InputRef(field=f"images[{i}]", kind="upload", data=data)


async def no_jobs(job_id: str, index: int, field: str) -> str:
    raise InputProblem(f"{field}.job", "no such job")


async def committed(store: ImageStore, job_id: str) -> list[str]:
    container: ContainerClient = store.service.get_container_client(store.container)
    if not await container.exists():
        return []
    return [b.name async for b in container.list_blobs() if job_id in b.name]


async def stage(store, http, images, mask=None, limits=LIMITS, find=no_jobs):
    job_id = uuid.uuid4().hex
    records = await stage_inputs(
        store,
        job_id,
        CREATED,
        BATCH,
        images,
        mask,
        limits,
        http=http,
        policy=LOCAL,
        find_job_image=find,
    )
    return job_id, records


async def test_inputs_are_committed_under_the_jobs_folder_with_their_facts(store, http, sources):
    a = picture()
    b = picture((64, 64), fmt="JPEG")
    url = await sources.put(b, "image/jpeg")
    mask = picture((300, 200), mode="RGBA")
    job_id, records = await stage(
        store,
        http,
        [upload(a), InputRef("images[1]", "url", url=url)],
        InputRef("mask", "upload", data=mask),
    )
    folder = f"2026/12/01/{job_id}/inputs/{BATCH}"
    assert [r.blob for r in records] == [f"{folder}/0.png", f"{folder}/1.jpg", f"{folder}/mask.png"]
    assert sorted(await committed(store, job_id)) == sorted(r.blob for r in records)
    first, second, masked = records
    assert (first.width, first.height, first.bytes) == (300, 200, len(a))
    assert first.sha256 == hashlib.sha256(a).hexdigest()
    assert second.content_type == "image/jpeg"
    assert second.source == "url"
    assert second.ref is not None
    assert "?" not in second.ref
    assert masked.field == "mask"


async def test_a_bad_later_input_leaves_nothing_committed(store, http):
    big_first = picture((900, 900))  # bigger than the store's 64 KiB blocks: staged in blocks
    with pytest.raises(InputProblem) as refused:
        await stage(store, http, [upload(big_first), upload(b"GIF89a" + b"\0" * 40, 1)])
    assert refused.value.field == "images[1]"
    container = store.service.get_container_client(store.container)
    assert [b.name async for b in container.list_blobs()] == []


@pytest.mark.parametrize(
    ("images", "mask", "field", "words"),
    [
        ([picture(fmt="WEBP")], None, "images[0]", "takes png, jpeg"),
        ([picture()], picture((300, 200)), "mask", "alpha"),
        ([picture()], picture((30, 20), mode="RGBA"), "mask", "300x200"),
        ([picture()], picture((300, 200), mode="RGBA", fmt="WEBP"), "mask", "PNG"),
        ([b"\x89PNG\r\n\x1a\n" + b"\0" * 30], None, "images[0]", "cannot be read"),
    ],
)
async def test_each_broken_rule_names_its_field(store, http, images, mask, field, words):
    refs = [upload(data, i) for i, data in enumerate(images)]
    mask_ref = InputRef("mask", "upload", data=mask) if mask is not None else None
    with pytest.raises(InputProblem) as refused:
        await stage(store, http, refs, mask_ref)
    assert refused.value.field == field
    assert words in refused.value.message
    assert not refused.value.retryable


async def test_size_and_pixel_caps(store, http):
    data = picture((400, 400))
    small = InputLimits(
        "flux", ("png",), max_bytes=len(data) - 1, max_pixels=None, mask_max_bytes=1
    )
    with pytest.raises(InputProblem, match="bytes"):
        await stage(store, http, [upload(data)], limits=small)
    few = InputLimits("flux", ("png",), max_bytes=10**7, max_pixels=100_000, mask_max_bytes=1)
    with pytest.raises(InputProblem, match="160,000 pixels"):
        await stage(store, http, [upload(data)], limits=few)


async def test_blob_and_job_references_copy_the_source(store, http):
    data = picture((120, 80))
    source = await store.save_bytes("2026/11/30/earlier/0.png", data, {})

    async def find(job_id: str, index: int, field: str) -> str:
        assert (job_id, index) == ("earlier", 0)
        return source.blob

    _, records = await stage(
        store,
        http,
        [
            InputRef("images[0]", "blob", blob=source.blob),
            InputRef("images[1]", "job", job="earlier"),
        ],
        find=find,
    )
    assert [r.source for r in records] == ["blob", "job"]
    assert [r.ref for r in records] == [source.blob, "earlier/0"]
    assert {r.sha256 for r in records} == {hashlib.sha256(data).hexdigest()}


async def test_a_missing_blob_or_a_url_off_the_allow_list_is_named(store, http):
    with pytest.raises(InputProblem) as missing:
        await stage(store, http, [InputRef("images[0]", "blob", blob="no/such.png")])
    assert missing.value.field == "images[0].blob"
    with pytest.raises(InputProblem) as off_list:
        await stage(store, http, [InputRef("images[0]", "url", url="https://example.com/a.png")])
    assert off_list.value.field == "images[0].url"
    assert "allow-list" in off_list.value.message


async def test_staged_inputs_stream_back_in_bounded_chunks(store, http):
    noisy = io.BytesIO()  # random pixels do not compress: a PNG of about 2.4 MB
    Image.frombytes("RGB", (900, 900), os.urandom(900 * 900 * 3)).save(noisy, "PNG")
    data = noisy.getvalue()
    _job_id, records = await stage(store, http, [upload(data)])
    sources = await open_sources(store, EditInputs(images=(records[0].blob,)))
    [image] = sources.images
    assert (image.filename, image.content_type, image.size) == (
        "image-0.png",
        "image/png",
        len(data),
    )
    chunks = [chunk async for chunk in image.chunks()]
    assert b"".join(chunks) == data
    assert max(len(c) for c in chunks) <= 1024 * 1024


@pytest.mark.parametrize(
    ("blob", "words"),
    [
        ("2026/12/01/job/receipts/0.png", "receipt"),
        ("2026/12/01/job/receipts/0.json", "receipt"),
        ("../images/0.png", "plain folders"),
        ("a\\b.png", "plain folders"),
        ("/2026/0.png", "plain folders"),
        ("2026/12/01/job/0.txt", "image blob"),
        ("a.b/png", "image blob"),  # the dot is in a folder, not the name
    ],
)
async def test_a_blob_reference_reads_images_only(store, http, blob, words):
    with pytest.raises(InputProblem) as refused:
        await stage(store, http, [InputRef("images[0]", "blob", blob=blob)])
    assert refused.value.field == "images[0].blob"
    assert words in refused.value.message
    assert blob not in refused.value.message


async def test_two_requests_for_one_job_stage_apart(store, http):
    """Two concurrent requests with one Idempotency-Key share the job id: each stages under its
    own batch, so the one that loses the start cannot overwrite the winner's inputs."""
    job_id = uuid.uuid4().hex
    a, b = picture(color=(1, 1, 1)), picture(color=(2, 2, 2))
    staged = []
    for batch, data in (("first", a), ("second", b)):
        staged.append(
            await stage_inputs(
                store,
                job_id,
                CREATED,
                batch,
                [upload(data)],
                None,
                LIMITS,
                http=http,
                policy=LOCAL,
                find_job_image=no_jobs,
            )
        )
    [first], [second] = staged
    assert first.blob != second.blob
    container = store.service.get_container_client(store.container)
    assert await (await container.download_blob(first.blob)).readall() == a
    assert await (await container.download_blob(second.blob)).readall() == b
