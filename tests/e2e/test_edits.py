"""Image edits end to end on the devstack: `POST /api/images/edits` in both body forms, every kind
of input reference, several reference images and a masked edit, on every family that edits.

The emulator draws an edit from its inputs (devstack/emulator/edits.py): the first input scaled
to the output size, further references as thumbnails along the bottom, the mask's transparent
area solid magenta, and a PNG text chunk `emulator-edit` with the SHA-256 of every input it got,
in order. So a test can tell which bytes reached the service, not just that an image came back.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.pictures import mask_png, png

from .conftest import wait_for_result

MAGENTA = (255, 0, 255)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def edit_facts(image: bytes) -> dict[str, Any]:
    """What the emulator says it was given (the `emulator-edit` chunk of its PNG)."""
    facts: dict[str, Any] = json.loads(Image.open(io.BytesIO(image)).text["emulator-edit"])
    return facts


def finish(client: httpx.Client, started: httpx.Response) -> dict[str, Any]:
    assert started.status_code == 202, started.text
    done = wait_for_result(client, started.json()["statusQueryGetUri"], timeout=120)
    assert done.status_code == 200, done.text
    result: dict[str, Any] = done.json()
    assert result["status"] == "succeeded", result
    return result


def fetch(url: str) -> bytes:
    r = httpx.get(url, timeout=30)
    assert r.status_code == 200, r.text
    return r.content


@pytest.fixture
def client(stack):
    with httpx.Client(base_url=stack.api_url, timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def first_job(stack) -> tuple[str, bytes]:
    """A generated image to edit: (job id, its bytes)."""
    with httpx.Client(base_url=stack.api_url, timeout=60) as c:
        started = c.post("/images", json={"prompt": "a red barn", "model": "gpt-image-2"})
        result = finish(c, started)
        return result["id"], fetch(result["images"][0]["url"])


def test_an_earlier_job_edited_by_reference_keeps_its_bytes_as_input(client, first_job):
    job_id, source = first_job
    result = finish(
        client,
        client.post(
            "/images/edits",
            json={"prompt": "make it winter", "images": [{"job": job_id, "index": 0}]},
        ),
    )
    [image] = result["images"]
    assert edit_facts(fetch(image["url"]))["input_sha256"] == [sha(source)]
    [used] = result["inputs"]
    assert used["field"] == "images[0]"
    assert used["source"] == "job"
    assert used["ref"] == f"{job_id}/0"
    assert used["sha256"] == sha(source)
    assert fetch(used["url"]) == source  # the staged copy, under the new job's folder
    assert re.search(rf"/{result['id']}/inputs/[0-9a-f]+/0\.png$", used["blob"])


def test_multipart_with_several_images_sends_them_in_order(client):
    a, b, c = png(colour=(200, 30, 30)), png(colour=(30, 30, 200)), png((128, 96), (240, 240, 0))
    files = [("image[]", ("a.png", a, "image/png")), ("image[]", ("b.png", b, "image/png"))]
    files.append(("image[]", ("c.png", c, "image/png")))
    started = client.post(
        "/images/edits",
        data={"prompt": "put them on one table", "model": "gpt-image-1.5", "n": "2"},
        files=files,
    )
    result = finish(client, started)
    assert len(result["images"]) == 2
    for image in result["images"]:
        facts = edit_facts(fetch(image["url"]))
        assert facts["input_sha256"] == [sha(a), sha(b), sha(c)]
        assert facts["mask_sha256"] is None
    assert [i["field"] for i in result["inputs"]] == ["images[0]", "images[1]", "images[2]"]
    assert {i["source"] for i in result["inputs"]} == {"upload"}


def test_a_masked_edit_repaints_only_the_transparent_area(client):
    source = png((256, 256), (20, 160, 90))
    mask = mask_png((256, 256), (0, 0, 128, 256))  # the left half is to be edited
    started = client.post(
        "/images/edits",
        data={"prompt": "a pond", "model": "gpt-image-2", "size": "1024x1024"},
        files=[("image", ("in.png", source, "image/png")), ("mask", ("m.png", mask, "image/png"))],
    )
    result = finish(client, started)
    data = fetch(result["images"][0]["url"])
    assert edit_facts(data)["mask_sha256"] == sha(mask)
    picture = Image.open(io.BytesIO(data)).convert("RGB")
    assert picture.size == (1024, 1024)
    assert picture.getpixel((200, 700)) == MAGENTA  # masked: repainted
    kept = picture.getpixel((800, 700))
    assert all(abs(x - y) <= 8 for x, y in zip(kept, (20, 160, 90), strict=True))  # the input
    assert [i["field"] for i in result["inputs"]] == ["images[0]", "mask"]


def test_inline_base64_and_blob_and_url_references(client, stack, first_job):
    """Power Apps' data: URL, a blob of the images container and an allow-listed URL."""
    job_id, source = first_job
    inline = png(colour=(1, 2, 3))
    earlier = client.get(f"/images/{job_id}").json()
    blob_name = earlier["images"][0]["blob"]
    sas_url = earlier["images"][0]["url"]  # Azurite on 127.0.0.1: the devstack's allow-list
    data_url = "data:image/png;base64," + base64.b64encode(inline).decode()
    result = finish(
        client,
        client.post(
            "/images/edits",
            json={
                "prompt": "combine",
                "model": "gpt-image-1",
                "images": [{"b64_json": data_url}, {"blob": blob_name}, {"url": sas_url}],
            },
        ),
    )
    facts = edit_facts(fetch(result["images"][0]["url"]))
    assert facts["input_sha256"] == [sha(inline), sha(source), sha(source)]
    kinds = [(i["source"], i.get("ref")) for i in result["inputs"]]
    assert kinds[0] == ("b64_json", None)
    assert kinds[1] == ("blob", blob_name)
    assert kinds[2][0] == "url"
    assert "?" not in kinds[2][1]


@pytest.mark.parametrize(
    ("model", "count"),
    [
        ("FLUX.2-pro", 3),  # Foundry's BFL route: input_image, input_image_2, input_image_3
        ("FLUX.2-flex", 2),
        ("bfl-FLUX.2-pro", 2),  # BFL's own API: submitted, polled
        ("bfl-FLUX.2-flex", 2),
        ("FLUX.1-Kontext-pro", 1),  # Foundry's Image API: multipart, URL reply
        ("bfl-FLUX.1-Kontext-pro", 1),
    ],
)
def test_flux_models_edit_with_their_reference_images(client, model, count):
    refs = [png((320, 240), (40 * i, 90, 200 - 40 * i)) for i in range(count)]
    body: dict[str, Any] = {
        "prompt": f"one scene from {count} references",
        "model": model,
        "images": [{"b64_json": base64.b64encode(r).decode()} for r in refs],
    }
    if not model.endswith("Kontext-pro") or model.startswith("bfl-"):
        body["output_format"] = "png"
    result = finish(client, client.post("/images/edits", json=body))
    data = fetch(result["images"][0]["url"])
    assert edit_facts(data)["input_sha256"] == [sha(r) for r in refs]


def test_the_same_idempotency_key_answers_the_same_edit(client):
    body = {"prompt": "same edit", "images": [{"b64_json": base64.b64encode(png()).decode()}]}
    headers = {"Idempotency-Key": "edit-e2e-same"}
    first = client.post("/images/edits", json=body, headers=headers)
    again = client.post("/images/edits", json=body, headers=headers)
    assert first.status_code == 202
    assert again.status_code in (200, 202)
    assert again.json()["id"] == first.json()["id"]
    other = {**body, "images": [{"b64_json": base64.b64encode(png(colour=(9, 9, 9))).decode()}]}
    reused = client.post("/images/edits", json=other, headers=headers)
    assert reused.status_code == 409
    assert reused.json()["error"]["field"] == "Idempotency-Key"


def test_gpt_image_1_mini_edits_with_a_json_mask(client):
    """The mini model takes a mask too (only input_fidelity is not its own)."""
    source = png((256, 256), (200, 200, 200))
    mask = mask_png((256, 256), (128, 0, 256, 256))  # the right half
    result = finish(
        client,
        client.post(
            "/images/edits",
            json={
                "prompt": "a window",
                "model": "gpt-image-1-mini",
                "size": "1024x1024",
                "images": [{"b64_json": base64.b64encode(source).decode()}],
                "mask": {"b64_json": base64.b64encode(mask).decode()},
            },
        ),
    )
    data = fetch(result["images"][0]["url"])
    assert edit_facts(data)["mask_sha256"] == sha(mask)
    picture = Image.open(io.BytesIO(data)).convert("RGB")
    assert picture.getpixel((800, 700)) == MAGENTA
    assert picture.getpixel((200, 700)) != MAGENTA
