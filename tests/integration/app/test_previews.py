"""Live previews and downloads against the real emulator (streaming over a socket) and Azurite.

The activity: a streaming call writes one preview blob per image, overwritten frame by frame
(a reader sees the frames in order, each a whole image), and deletes it once the image is
stored or the call failed; a preview that cannot be written never fails the call. The routes
(function_app.py on the local Functions host): a running job's status offers signed preview
links that redirect to the latest frame, gone (404) once the image is stored; `download=1`
makes Azurite answer the image as an attachment (the SAS `rscd`).
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from azure.core.exceptions import ResourceNotFoundError
from PIL import Image

from shared.blueprints import activities
from shared.blueprints.deps import runtime
from shared.storage import naming
from tests.integration.app import test_http_api as http_api
from tests.integration.app.test_activities import CREATED, gen_payload
from tests.integration.app.test_http_api import BADGER, finish

# The local Functions host of tests/integration/app/test_http_api.py (one for this module too).
api_host = http_api.api_host
api = http_api.api
client = http_api.client

LATENCY_S = 3.0  # frames at 1 s and 2 s, the image at 3 s (L*(k+1)/(p+1))


def streamed_payload(job_id: str, partial_images: int = 2, **params: Any) -> dict[str, Any]:
    """A generate_images input as the orchestrator sends it for a job that streams."""
    return {**gen_payload("gpt-image-1", job_id, **params), "partial_images": partial_images}


def previews_prefix(job_id: str) -> str:
    return naming.previews_prefix(job_id, datetime.fromisoformat(CREATED))


def png_size(data: bytes) -> tuple[int, int]:
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.format == "PNG"
    return image.size


async def watch_previews(app_env: Any, job_id: str, call: asyncio.Task[Any]) -> list[int]:
    """Read the job's preview blob while `call` runs (as the status route does: one listing
    with metadata, then the blob): the frame numbers seen, in order, each a whole image."""
    container = app_env.service.get_container_client(app_env.container)
    seen: list[int] = []
    deadline = time.monotonic() + 60
    while not call.done() and time.monotonic() < deadline:
        try:
            listed = [
                b
                async for b in container.list_blobs(
                    name_starts_with=previews_prefix(job_id), include=["metadata"]
                )
            ]
        except ResourceNotFoundError:  # the container is made by the call's first write
            listed = []
        for blob in listed:
            frame = int(blob.metadata["frame"])
            if not seen or seen[-1] != frame:
                try:
                    reply = await container.get_blob_client(blob.name).download_blob()
                    data = await reply.readall()
                except ResourceNotFoundError:  # deleted since the listing (the image is stored)
                    continue
                seen.append(frame)
                assert png_size(data) == (1024, 1024)  # a whole frame, the final image's size
        await asyncio.sleep(0.05)
    return seen


async def test_a_streaming_call_writes_frames_a_reader_sees_then_deletes_them(app_env):
    app_env.configure_emulator(latency_seconds=LATENCY_S)
    call = asyncio.create_task(
        activities.generate_images(streamed_payload("streamjob", size="1024x1024"))
    )

    seen = await watch_previews(app_env, "streamjob", call)
    result = await call

    assert result["outcome"] == "ok", result
    (record,) = result["value"]["images"]
    assert record["blob"].endswith("/streamjob/0.png")
    assert seen, "no preview was seen while the image was generated"
    assert seen == sorted(set(seen))  # newer frames only, never an older one again
    assert set(seen) <= {0, 1}
    names = await app_env.blob_names()
    assert record["blob"] in names
    assert not [n for n in names if "/previews/" in n]  # gone once the image is stored
    final = await app_env.blob(record["blob"])
    assert png_size(final.data) == (1024, 1024)
    assert "frame" not in final.metadata


async def test_a_call_that_does_not_stream_writes_no_previews(app_env):
    result = await activities.generate_images(streamed_payload("plainjob", partial_images=0))

    assert result["outcome"] == "ok", result
    assert not [n for n in await app_env.blob_names() if "/previews/" in n]


async def test_a_preview_that_cannot_be_written_does_not_fail_the_call(app_env, caplog):
    """Blob Storage refuses the preview (a lease someone else holds on its blob: every write
    without the lease id is a 412), the image itself is stored all the same."""
    caplog.set_level(logging.WARNING)
    app_env.configure_emulator(latency_seconds=1.0)
    container = app_env.service.get_container_client(app_env.container)
    if not await container.exists():
        await container.create_container()
    name = naming.preview_blob_name("leasedjob", datetime.fromisoformat(CREATED), 0, "png")
    blob = container.get_blob_client(name)
    await blob.upload_blob(b"held", overwrite=True)
    lease = await blob.acquire_lease(lease_duration=-1)
    try:
        result = await activities.generate_images(streamed_payload("leasedjob"))

        assert result["outcome"] == "ok", result
        (record,) = result["value"]["images"]
        stored = await app_env.blob(record["blob"])
        assert png_size(stored.data) == (1024, 1024)
        assert "preview of job leasedjob image 0 dropped" in caplog.text
        held = await (await blob.download_blob()).readall()
        assert held == b"held"  # no frame got in
    finally:
        await lease.break_lease(lease_break_period=0)


async def test_the_previews_of_a_call_that_failed_are_deleted(app_env):
    """The connection drops after the first frame (the emulator cuts every stream after one
    event): the call answers "retry", and the frame it left is deleted with it."""
    app_env.configure_emulator(latency_seconds=1.0, stream_cut_after_events=1)

    result = await activities.generate_images(streamed_payload("dropjob"))

    assert result["outcome"] == "retry", result
    async with httpx.AsyncClient(timeout=10) as http:
        emitted = (await http.get(f"{app_env.emulator.base_url}/_emulator/partials")).json()
    assert [p["frame"] for p in emitted["partials"]] == [0]  # a frame was sent, then the drop
    assert not [n for n in await app_env.blob_names() if "/previews/" in n]


async def test_a_download_url_makes_blob_storage_answer_an_attachment(app_env):
    store = runtime().store
    name = naming.blob_name("dljob", datetime.fromisoformat(CREATED), 0, "png")
    png = io.BytesIO()
    Image.new("RGB", (4, 4)).save(png, format="PNG")
    await store.save_bytes(name, png.getvalue(), {"job_id": "dljob"})
    disposition = 'attachment; filename="image-dljob-0.png"'
    url = await store.sas_url(name, timedelta(minutes=5), content_disposition=disposition)
    plain = await store.sas_url(name, timedelta(minutes=5))

    async with httpx.AsyncClient(timeout=30) as http:
        saved = await http.get(url)
        shown = await http.get(plain)
    assert saved.status_code == 200
    assert saved.headers["content-disposition"] == disposition
    assert saved.content == png.getvalue()
    assert "content-disposition" not in shown.headers


# ---- the routes, through the local Functions host ----------------------------------------------


def _previews_offered(client: httpx.Client, link: str, timeout: float = 30.0) -> dict[str, Any]:
    """Poll the job's signed status until its progress offers a preview; the 202's body."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.get(link)
        assert r.status_code == 202, r.text
        body = r.json()
        if body["progress"].get("previews"):
            return dict(body)
        time.sleep(0.1)
    raise AssertionError(f"no preview offered within {timeout} s")


def test_a_running_jobs_status_offers_previews_that_open_with_its_link(api, client):
    api.configure(latency_seconds=6.0)
    r = client.post(f"{api.url}/images", json={"prompt": BADGER, "model": "gpt-image-2"})
    assert r.status_code == 202, r.text
    job, link = r.json()["id"], r.headers["Location"]
    assert r.json()["progress"]["partial_images"] == 2

    body = _previews_offered(client, link)

    progress = body["progress"]
    assert progress["stage"] in ("generating", "storing")
    assert progress["created"]
    (preview,) = progress["previews"]
    assert preview["index"] == 0
    assert preview["frame"] in (0, 1)
    url = preview["url"]
    query = link.partition("?")[2]
    assert url.startswith(f"{api.url}/status/{job}/previews/0?frame={preview['frame']}&")
    assert url.endswith(query)  # the status link's own signature
    (version,) = parse_qs(urlsplit(url).query)["v"]
    assert len(version) == 12  # a token of the preview blob's etag: new with every blob
    opened = client.get(url)
    assert opened.status_code == 302, opened.text
    assert opened.headers["Cache-Control"] == "no-store"
    assert opened.headers["Referrer-Policy"] == "no-referrer"
    assert "rscc=no-store" in opened.headers["Location"]
    frame = httpx.get(opened.headers["Location"], timeout=30)
    assert frame.status_code == 200
    assert frame.content[:4] == b"\x89PNG"
    assert frame.headers["cache-control"] == "no-store"  # Blob Storage answers it so (rscc)
    keyed = _previews_offered(client, f"{api.url}/images/{job}")  # the keyed route too
    assert keyed["progress"]["previews"][0]["url"].startswith(
        f"{api.url}/status/{job}/previews/0?frame="
    )
    forged = url.replace("sig=", "sig=A")
    assert client.get(forged).status_code == 403

    done = finish(client, link)

    assert done.status_code == 200, done.text
    assert "previews" not in done.text
    gone = client.get(url)
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "not_found"


def test_a_job_that_does_not_stream_offers_no_previews(api, client):
    r = client.post(f"{api.url}/images", json={"prompt": BADGER, "model": "gpt-image-2", "n": 2})
    assert r.status_code == 202, r.text
    job, link = r.json()["id"], r.headers["Location"]
    assert "partial_images" not in r.json()["progress"]

    finish(client, link)

    query = link.partition("?")[2]
    assert client.get(f"{api.url}/status/{job}/previews/0?frame=0&{query}").status_code == 404
    unknown = uuid.uuid4().hex
    assert client.get(f"{api.url}/status/{unknown}/previews/0?{query}").status_code == 403


@pytest.mark.parametrize("route", ["signed", "keyed"])
def test_download_1_answers_the_image_as_an_attachment(api, client, route):
    # two images: a job that does not stream (this test needs no streaming emulator)
    r = client.post(f"{api.url}/images", json={"prompt": BADGER, "model": "gpt-image-2", "n": 2})
    assert r.status_code == 202, r.text
    job, link = r.json()["id"], r.headers["Location"]
    assert finish(client, link).status_code == 200
    query = link.partition("?")[2]
    if route == "signed":
        image_url, download = f"{api.url}/status/{job}/images/1?{query}", "&download=1"
    else:
        image_url, download = f"{api.url}/images/{job}/1", "?download=1"

    saved = client.get(image_url + download)
    shown = client.get(image_url)

    assert saved.status_code == shown.status_code == 302
    image = httpx.get(saved.headers["Location"], timeout=30)
    assert image.status_code == 200
    assert image.headers["content-disposition"] == (f'attachment; filename="image-{job[:8]}-1.png"')
    assert image.content[:4] == b"\x89PNG"
    plain = httpx.get(shown.headers["Location"], timeout=30)
    assert "content-disposition" not in plain.headers
