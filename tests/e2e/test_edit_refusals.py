"""Bad edit requests on the devstack: each is a 400 naming the field, and neither Blob Storage nor
the Durable engine shows anything of it — no input committed under the job's folder, no job.

Each request carries its own Idempotency-Key, so the test knows the id the job would have had
(`instance_id_for`) and can ask both for it afterwards.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

import httpx
import pytest
from azure.storage.blob import BlobServiceClient

from shared.blueprints.http_api import instance_id_for
from tests.pictures import mask_png, noise_png, png

GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,"


def b64(data: bytes) -> dict[str, str]:
    return {"b64_json": base64.b64encode(data).decode()}


OK = b64(png())
JSON_CASES: dict[str, tuple[dict[str, Any], str]] = {
    "too many for the model": (
        {"model": "FLUX.1-Kontext-pro", "images": [OK, OK]},
        "images[1]",
    ),
    "more than any model takes": ({"images": [OK] * 17}, "images"),
    "not an image format": ({"images": [b64(GIF)]}, "images[0]"),
    "a bad second image after a good first": ({"images": [OK, b64(b"not an image")]}, "images[1]"),
    "not base64": ({"images": [{"b64_json": "%%%"}]}, "images[0].b64_json"),
    "mask of another size": (
        {"images": [OK], "mask": b64(mask_png((128, 128), (0, 0, 64, 64)))},
        "mask",
    ),
    "mask without alpha": ({"images": [OK], "mask": b64(png())}, "mask"),
    "mask on a model without masks": (
        {"model": "FLUX.2-pro", "images": [OK], "mask": b64(mask_png((256, 256), (0, 0, 9, 9)))},
        "mask",
    ),
    "a model that cannot edit": ({"model": "dall-e-3", "images": [OK]}, "model"),
    "a FLUX model that cannot edit": ({"model": "FLUX-1.1-pro", "images": [OK]}, "model"),
    "input_fidelity on mini": (
        {"model": "gpt-image-1-mini", "images": [OK], "input_fidelity": "high"},
        "input_fidelity",
    ),
    "an unknown job": ({"images": [{"job": uuid.uuid4().hex, "index": 0}]}, "images[0].job"),
    "an unknown blob": ({"images": [{"blob": "2020/01/01/nope/0.png"}]}, "images[0].blob"),
    "a URL off the allow-list": (
        {"images": [{"url": "https://example.com/cat.png"}]},
        "images[0].url",
    ),
    "two kinds in one reference": ({"images": [{**OK, "blob": "x.png"}]}, "images[0]"),
    "no images": ({"images": []}, "images"),
    "an unknown field": ({"images": [OK], "style": "vivid"}, "style"),
}


@pytest.fixture(scope="module")
def container(stack):
    assert stack.storage is not None
    service = BlobServiceClient.from_connection_string(stack.storage.connection_string)
    with service:
        yield service.get_container_client("images")


def assert_nothing_of(client: httpx.Client, container, key: str) -> None:
    job_id = instance_id_for(key)
    assert client.get(f"/images/{job_id}").status_code == 404  # no orchestration
    if container.exists():
        assert [b.name for b in container.list_blobs() if job_id in b.name] == []


@pytest.fixture
def client(stack):
    with httpx.Client(base_url=stack.api_url, timeout=60) as c:
        yield c


@pytest.mark.parametrize("case", list(JSON_CASES))
def test_a_bad_json_edit_is_a_400_naming_the_field_and_leaves_nothing(client, container, case):
    body, field = JSON_CASES[case]
    key = f"refusal-{uuid.uuid4().hex}"
    r = client.post(
        "/images/edits", json={"prompt": "edit", **body}, headers={"Idempotency-Key": key}
    )
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["field"] == field, error
    assert error["message"]
    assert_nothing_of(client, container, key)


def test_an_oversized_mask_is_refused(client, container):
    big = noise_png((1200, 1200))  # ~4.3 MB: over the 4 MB a mask may be
    assert len(big) > 4_000_000
    key = f"refusal-{uuid.uuid4().hex}"
    r = client.post(
        "/images/edits",
        data={"prompt": "edit"},
        files=[("image", ("a.png", png((1200, 1200)), "image/png")), ("mask", ("m.png", big))],
        headers={"Idempotency-Key": key},
    )
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == "mask"
    assert "4,000,000" in r.json()["error"]["message"].replace("3,999,999", "4,000,000")
    assert_nothing_of(client, container, key)


@pytest.mark.parametrize(
    ("data", "files", "field"),
    [
        ({"prompt": "edit"}, [], "images"),
        ({"prompt": "edit", "n": "two"}, [("image", ("a.png", png(), "image/png"))], "n"),
        ({"prompt": "edit"}, [("image", ("a.gif", GIF, "image/gif"))], "images[0]"),
        ({"prompt": "edit"}, [("picture", ("a.png", png(), "image/png"))], "picture"),
        ({}, [("image", ("a.png", png(), "image/png"))], "prompt"),
    ],
)
def test_a_bad_multipart_edit_is_a_400_naming_the_field(client, container, data, files, field):
    key = f"refusal-{uuid.uuid4().hex}"
    if not files:  # httpx sends multipart only with a file part: build the body by hand
        boundary = "b0undary"
        body = f'--{boundary}\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nedit\r\n'
        body += f"--{boundary}--\r\n"
        r = client.post(
            "/images/edits",
            content=body.encode(),
            headers={
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Idempotency-Key": key,
            },
        )
    else:
        r = client.post("/images/edits", data=data, files=files, headers={"Idempotency-Key": key})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == field, r.json()
    assert_nothing_of(client, container, key)


def test_a_body_of_another_type_is_refused(client):
    r = client.post("/images/edits", content=b"prompt=x", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    assert r.json()["error"]["field"] == "Content-Type"
