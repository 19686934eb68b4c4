"""A host SIGKILLed after the image service answered an EDIT resumes the job without editing again.

The edit twin of test_crash_receipts.py: an edit goes through the same `generate_images` activity,
whose receipt of the service's answer is kept in Blob Storage before anything is stored, and the
re-run after the restart stores from that receipt. The job's inputs were staged and committed by
`POST /api/images/edits` before the job started, so the re-run also has them, but it must not send
them to the service a second time. Two kill points, each detected from outside the app (no
timer): (a) while the URL reply of FLUX.1-Kontext-pro (Foundry's Image API) is being copied — the
emulator has begun serving the throttled download; (b) between staging and commit of the base64
reply of a gpt-image-2 edit — a gate in front of Azurite holds the block-list commit. The job must
complete, its image be byte for byte the emulator's render of those inputs, the emulator must have
billed exactly one edit for its prompt, and the receipt must no longer hold a URL or block id.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import httpx

from devstack.emulator import read_meta, render_edit
from devstack.emulator.images import pad
from devstack.launch import devstack_model_settings
from tests.pictures import png

from .conftest import BlobGate, emulator_patch, emulator_stats, post_job
from .test_crash_receipts import (
    B64_PADDED,
    DEADLINE_S,
    PADDED,
    committed_blocks,
    finish,
    receipts_of,
    scrubbed,
    wait_for,
)

FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp"}


def source_png(color: tuple[int, int, int]) -> bytes:
    """The image to edit: small enough to be staged in one Put Blob (never a block list, so the
    gate holds the reply's commit, not the input's)."""
    return png((320, 240), color)


def billed_edits(emulator: Any, prompt: str) -> tuple[int, int]:
    """(edits billed in all, generations billed for `prompt`): each test starts from a reset."""
    billed = emulator_stats(emulator)["billed"]
    return int(billed["edits"]), int(billed["by_prompt"].get(prompt, {}).get("generations", 0))


def expected_edit(source: bytes, prompt: str, image: dict[str, Any], min_bytes: int) -> bytes:
    """What the emulator answers for a one-image edit of `source` at the stored image's size."""
    fmt = FORMATS[image["content_type"]]
    drawn = render_edit([source], None, prompt, image["width"], image["height"], 0, fmt)
    return pad(drawn, fmt, min_bytes)


def check_stored(client: httpx.Client, image: dict[str, Any], source: bytes, prompt: str) -> bytes:
    stored = client.get(image["url"])
    assert stored.status_code == 200
    meta = read_meta(stored.content)
    assert meta is not None, "the stored image is not an edit"
    assert meta["input_sha256"] == [_sha(source)]  # the staged input reached the service
    return stored.content


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_kill_while_an_edits_url_reply_is_copied_does_not_edit_again(
    start_host, emulator, azurite
):
    host = start_host(**devstack_model_settings(emulator.base_url, emulator.api_key))
    emulator_patch(emulator, image_min_bytes=PADDED, download_bytes_per_second=64 * 1024)
    prompt = "receipt badger edited and copied"
    source = source_png((200, 40, 40))
    body = {
        "prompt": prompt,
        "model": "FLUX.1-Kontext-pro",
        "images": [{"b64_json": base64.b64encode(source).decode()}],
    }
    with httpx.Client(timeout=30) as client:
        job = post_job(client, host.api_url, body, route="images/edits")
        wait_for(
            "the copy start",
            lambda: emulator_stats(emulator)["served"]["image_downloads"] >= 1,
        )
        assert billed_edits(emulator, prompt) == (1, 1)
        host.kill()  # mid-copy: the download is throttled to ~16 s
        assert job.id is not None
        assert receipts_of(azurite.connection_string, job.id), "no receipt at the kill"
        emulator_patch(emulator, download_bytes_per_second=0)
        host.start()

        image = finish(client, job)

        stored = check_stored(client, image, source, prompt)
        assert stored == expected_edit(source, prompt, image, PADDED)
        assert job.final is not None
        assert "/receipts/" not in job.final.text  # never in the job's result
    assert emulator_stats(emulator)["served"]["image_downloads"] == 2  # the receipt's URL again
    assert billed_edits(emulator, prompt) == (1, 1)
    assert scrubbed(azurite.connection_string, job.id)  # kept as "stored": no URL left


def test_a_kill_between_staging_and_commit_of_an_edit_commits_the_staged_blocks(
    start_host, emulator, azurite, blob_gate: BlobGate
):
    host = start_host(IMAGES_STORAGE_CONNECTION=blob_gate.connection_string)
    emulator_patch(emulator, image_min_bytes=B64_PADDED)
    prompt = "receipt badger edited and staged"
    source = source_png((40, 40, 200))
    body = {
        "prompt": prompt,
        "model": "gpt-image-2",
        "images": [{"b64_json": base64.b64encode(source).decode()}],
    }
    with httpx.Client(timeout=30) as client:
        job = post_job(client, host.api_url, body, route="images/edits")
        assert blob_gate.held.wait(timeout=DEADLINE_S), "the commit never came"
        host.kill()  # every block staged, the receipt kept, the commit not yet made
        blob_gate.drop()
        assert job.id is not None
        assert receipts_of(azurite.connection_string, job.id), "no receipt at the kill"
        assert billed_edits(emulator, prompt) == (1, 1)
        held = re.findall(rb"<Latest>([^<]+)</Latest>", blob_gate.held_body)
        assert len(held) == 3
        host.start()

        image = finish(client, job)

        stored = check_stored(client, image, source, prompt)
        assert stored == expected_edit(source, prompt, image, B64_PADDED)
    # exactly the blocks the killed run staged: the re-run committed them, it edited nothing
    on_the_wire = [base64.b64decode(h).decode() for h in held]  # the SDK encodes ids once more
    assert committed_blocks(azurite.connection_string, image["blob"]) == on_the_wire
    assert billed_edits(emulator, prompt) == (1, 1)
    assert scrubbed(azurite.connection_string, job.id)  # kept as "stored": no block ids left
