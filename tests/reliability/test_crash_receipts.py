"""A host SIGKILLed after the image service answered resumes the job without buying again.

The `generate_images` activity keeps a receipt of the answer in Blob Storage before it stores
anything (shared/storage/receipts.py); Durable runs the activity again after the restart and the
re-run stores from the receipt. Each test kills the host at one point after the answer, detected
from outside the app (no timer): (a) while a URL reply is being copied — the emulator has begun
serving the (throttled) download; (b) between staging and commit of a base64 reply — a gate in
front of Azurite holds the block-list commit. The job must complete, its image be stored byte for
byte, the emulator must have billed exactly one generation for its prompt, and the receipt,
kept beside the images, must no longer hold the service's URL or any block id.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from typing import Any

import httpx
from azure.storage.blob.aio import BlobServiceClient

from devstack.emulator.images import pad, render

from .conftest import BlobGate, Job, emulator_patch, emulator_stats, poll_until_done, post_job

PADDED = 1024 * 1024  # 1 MiB: at 64 KB/s the copy lasts long enough to be caught mid-way
B64_PADDED = 5 * 1024 * 1024  # three 2 MiB blocks: two staged while streaming, one when sealed
DEADLINE_S = 60.0


def billed_generations(emulator: Any, prompt: str) -> int:
    by_prompt = emulator_stats(emulator)["billed"]["by_prompt"]
    return int(by_prompt.get(prompt, {}).get("generations", 0))


def wait_for(what: str, check: Any, deadline_s: float = DEADLINE_S) -> Any:
    """Poll `check()` until it answers something truthy, or fail naming `what`."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)  # the polling interval of a loop with a deadline
    raise AssertionError(f"never saw {what} within {deadline_s}s")


def receipts_of(connection_string: str, job_id: str) -> list[str]:
    async def names() -> list[str]:
        async with BlobServiceClient.from_connection_string(connection_string) as service:
            container = service.get_container_client("images")
            return [
                b.name async for b in container.list_blobs() if f"/{job_id}/receipts/" in b.name
            ]

    return asyncio.run(names())


def scrubbed(connection_string: str, job_id: str) -> bool:
    """Whether the job has receipts and none holds an image still pending (a URL, block ids)."""

    async def kept() -> list[dict[str, Any]]:
        async with BlobServiceClient.from_connection_string(connection_string) as service:
            container = service.get_container_client("images")
            return [
                json.loads(await (await container.download_blob(b.name)).readall())
                async for b in container.list_blobs()
                if f"/{job_id}/receipts/" in b.name
            ]

    found = asyncio.run(kept())
    return bool(found) and all(
        r["urls"] == [] and r["staged"] == [] and "sig=" not in json.dumps(r) for r in found
    )


def committed_blocks(connection_string: str, blob: str) -> list[str]:
    async def ids() -> list[str]:
        async with BlobServiceClient.from_connection_string(connection_string) as service:
            client = service.get_blob_client("images", blob)
            committed, _ = await client.get_block_list("committed")
            return [b.id for b in committed]

    return asyncio.run(ids())


def finish(client: httpx.Client, job: Job) -> dict[str, Any]:
    poll_until_done(client, [job], deadline_s=120)
    assert job.final is not None
    assert job.final.status_code == 200, job.final.text
    [image] = job.final.json()["images"]
    return dict(image)


def test_a_kill_while_a_url_image_is_copied_does_not_buy_it_again(start_host, emulator, azurite):
    host = start_host()
    emulator_patch(emulator, image_min_bytes=PADDED, download_bytes_per_second=64 * 1024)
    prompt = "receipt badger copied"
    with httpx.Client(timeout=30) as client:
        job = post_job(client, host.api_url, {"prompt": prompt, "model": "dall-e-3", "n": 1})
        wait_for(
            "the copy start",
            lambda: emulator_stats(emulator)["served"]["image_downloads"] >= 1,
        )
        assert billed_generations(emulator, prompt) == 1
        host.kill()  # mid-copy: the download is throttled to ~16 s
        assert job.id is not None
        assert receipts_of(azurite.connection_string, job.id), "no receipt at the kill"
        emulator_patch(emulator, download_bytes_per_second=0)
        host.start()

        image = finish(client, job)

        stored = client.get(image["url"])
        assert stored.status_code == 200
        expected = pad(render(prompt, 1024, 1024, 0, "png"), "png", PADDED)
        assert stored.content == expected
        assert job.final is not None
        assert "/receipts/" not in job.final.text  # never in the job's result
    served = emulator_stats(emulator)["served"]
    assert served["image_downloads"] == 2  # the re-run copied from the receipt's URL
    assert billed_generations(emulator, prompt) == 1
    assert scrubbed(azurite.connection_string, job.id)  # kept as "stored": no URL left


def test_a_kill_between_staging_and_commit_commits_the_staged_blocks(
    start_host, emulator, azurite, blob_gate: BlobGate
):
    host = start_host(IMAGES_STORAGE_CONNECTION=blob_gate.connection_string)
    emulator_patch(emulator, image_min_bytes=B64_PADDED)
    prompt = "receipt badger staged"
    with httpx.Client(timeout=30) as client:
        job = post_job(client, host.api_url, {"prompt": prompt, "model": "gpt-image-1", "n": 1})
        assert blob_gate.held.wait(timeout=DEADLINE_S), "the commit never came"
        host.kill()  # every block staged, the receipt kept, the commit not yet made
        blob_gate.drop()
        assert job.id is not None
        assert receipts_of(azurite.connection_string, job.id), "no receipt at the kill"
        held = re.findall(rb"<Latest>([^<]+)</Latest>", blob_gate.held_body)
        assert len(held) == 3
        host.start()

        image = finish(client, job)

        stored = client.get(image["url"])
        assert stored.status_code == 200
        assert stored.content == pad(render(prompt, 1024, 1024, 0, "png"), "png", B64_PADDED)
    # exactly the blocks the killed run staged: the re-run committed them, it generated nothing
    on_the_wire = [base64.b64decode(h).decode() for h in held]  # the SDK encodes ids once more
    assert committed_blocks(azurite.connection_string, image["blob"]) == on_the_wire
    assert billed_generations(emulator, prompt) == 1
    assert scrubbed(azurite.connection_string, job.id)  # kept as "stored": no block ids left
