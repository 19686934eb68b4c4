"""The GPT image line end to end on the devstack: gpt-image-2's free sizes stored at that size,
webp only where the platform takes it, `GET /api/models`, and a retired model's job."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import httpx
import pytest

from devstack.emulator.images import render
from devstack.stack import Stack
from shared.storage.formats import dimensions

from .conftest import wait_for_result

BADGER = "a badger wearing a tuxedo"


def test_gpt_image_2_job_with_a_free_size_stores_a_png_of_that_size(stack):
    with httpx.Client(timeout=30) as client:
        r = client.post(
            f"{stack.api_url}/images",
            json={"prompt": BADGER, "model": "gpt-image-2", "size": "2048x1152"},
        )
        assert r.status_code == 202, r.text
        done = wait_for_result(client, r.json()["statusQueryGetUri"])
        assert done.status_code == 200, done.text
        [image] = done.json()["images"]
        blob = httpx.get(image["url"], timeout=30)
    assert blob.status_code == 200
    assert image["content_type"] == "image/png"
    assert blob.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert dimensions(blob.content) == (2048, 1152)
    assert (image["width"], image["height"]) == (2048, 1152)
    assert blob.content == render(BADGER, 2048, 1152, 0, "png")


@pytest.mark.parametrize(
    ("model", "size", "fmt"),
    [
        ("gpt-image-1.5", "1536x1024", "jpeg"),
        ("gpt-image-1-mini", "1024x1536", "png"),
        ("gpt-image-1", "1024x1024", "jpeg"),
    ],
)
def test_the_rest_of_the_gpt_image_line_stores_the_asked_size_and_format(stack, model, size, fmt):
    with httpx.Client(timeout=30) as client:
        body = {"prompt": BADGER, "model": model, "size": size, "output_format": fmt}
        r = client.post(f"{stack.api_url}/images", json=body)
        assert r.status_code == 202, r.text
        done = wait_for_result(client, r.json()["statusQueryGetUri"])
        assert done.status_code == 200, done.text
        [image] = done.json()["images"]
        blob = httpx.get(image["url"], timeout=30)
    width, height = (int(v) for v in size.split("x"))
    assert blob.status_code == 200
    assert image["content_type"] == f"image/{fmt}"
    assert dimensions(blob.content) == (width, height)
    assert blob.content == render(BADGER, width, height, 0, fmt)


@pytest.mark.parametrize(
    ("model", "body", "field"),
    [
        ("gpt-image-1.5", {"size": "2048x1152"}, "size"),  # free sizes are gpt-image-2's only
        ("gpt-image-1-mini", {"style": "vivid"}, "style"),
        ("gpt-image-1", {"background": "transparent", "output_format": "jpeg"}, "background"),
    ],
)
def test_a_bad_option_for_the_rest_of_the_line_is_a_400_naming_the_field(stack, model, body, field):
    with httpx.Client(timeout=30) as client:
        r = client.post(f"{stack.api_url}/images", json={"prompt": BADGER, "model": model, **body})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == field


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"size": "2050x1152"}, "size"),  # not a multiple of 16
        ({"size": "3072x1008"}, "size"),  # wider than 3:1
        ({"output_format": "webp"}, "output_format"),  # Azure: png / jpeg only
        ({"moderation": "low"}, "moderation"),  # Azure: no moderation
        ({"output_compression": 50}, "output_compression"),  # png (the default) is lossless
    ],
)
def test_a_bad_gpt_image_2_option_on_azure_is_a_400_naming_the_field(stack, body, field):
    with httpx.Client(timeout=30) as client:
        r = client.post(f"{stack.api_url}/images", json={"prompt": BADGER, **body})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == field


def test_models_route_on_the_devstack_lists_the_default_first(stack):
    with httpx.Client(timeout=30) as client:
        r = client.get(f"{stack.api_url}/models")
    assert r.status_code == 200, r.text
    listing = r.json()
    assert listing["default_model"] == "gpt-image-2"
    assert [m["name"] for m in listing["models"] if m["default"]] == ["gpt-image-2"]
    statuses = {m["name"]: m["lifecycle"]["status"] for m in listing["models"]}
    assert statuses["dall-e-3"] == "retired"
    assert statuses["gpt-image-2"] == "GA"


@pytest.fixture(scope="module")
def openai_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack whose models reach the emulator's OpenAI route (flavour `openai`) as well as its
    Azure one: the host is restarted once the emulator's address is known."""
    models = {
        "gpt-image-2": {"deployment": "gpt-image-2", "family": "gpt-image-2", "flavour": "openai"},
        "azure-gpt-image-2": {
            "deployment": "gpt-image-2",
            "family": "gpt-image-2",
            "flavour": "azure-deployment",
        },
    }
    env = {
        **os.environ,
        "IMAGE_MODELS": json.dumps(models),
        "IMAGE_DEFAULT_MODEL": "gpt-image-2",
    }
    s = Stack(tmp_path_factory.mktemp("openai-stack"), env=env)
    s.start(timeout=120)
    try:
        assert s.emulator_url is not None
        s.base_env["OPENAI_BASE_URL"] = s.emulator_url
        s.base_env["OPENAI_API_KEY"] = s.emulator_key
        s.stop_host()
        s.start_host(timeout=90)
        yield s
    finally:
        s.stop()


def test_webp_on_an_openai_flavour_model_is_stored_as_webp(openai_stack):
    with httpx.Client(timeout=30) as client:
        r = client.post(
            f"{openai_stack.api_url}/images",
            json={
                "prompt": BADGER,
                "size": "1536x1024",
                "output_format": "webp",
                "output_compression": 80,
                "moderation": "low",
            },
        )
        assert r.status_code == 202, r.text
        done = wait_for_result(client, r.json()["statusQueryGetUri"])
        assert done.status_code == 200, done.text
        [image] = done.json()["images"]
        blob = httpx.get(image["url"], timeout=30)
        refused = client.post(
            f"{openai_stack.api_url}/images",
            json={"prompt": BADGER, "model": "azure-gpt-image-2", "output_format": "webp"},
        )
    assert image["content_type"] == "image/webp"
    assert image["blob"].endswith(".webp")
    assert blob.content[:4] == b"RIFF"
    assert blob.content[8:12] == b"WEBP"
    assert dimensions(blob.content) == (1536, 1024)
    assert refused.status_code == 400
    assert refused.json()["error"]["field"] == "output_format"
