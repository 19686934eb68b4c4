"""Every image route answers with the contract's shapes, and its images are the expected bytes."""

from __future__ import annotations

import httpx
import pytest

from devstack.emulator.images import render
from tests.integration.emulator.support import (
    GPT_IMAGE_VERSION,
    Emu,
    b64_image,
    decode_image,
)

SAFE = {"filtered": False, "severity": "safe"}


def test_dalle3_url_answer_matches_the_documented_example(emu: Emu) -> None:
    r = emu.generate("dall-e-3", {"prompt": "Clippy in a cowboy hat", "style": "natural"})

    assert r.status_code == 200
    assert r.headers["apim-request-id"]
    body = r.json()
    assert set(body) == {"created", "data"}
    assert isinstance(body["created"], int)
    [item] = body["data"]
    assert set(item) == {"url", "revised_prompt", "content_filter_results", "prompt_filter_results"}
    assert "Clippy in a cowboy hat" in item["revised_prompt"]
    assert item["content_filter_results"]["violence"] == SAFE
    assert item["prompt_filter_results"]["profanity"] == {"detected": False, "filtered": False}
    assert item["url"].startswith(emu.base_url + "/_emulator/images/")
    assert "se=" in item["url"]
    assert "sig=" in item["url"]

    download = httpx.get(item["url"])  # no key: the URL itself is the credential
    assert download.status_code == 200
    assert download.headers["content-type"] == "image/png"
    assert download.content == render("Clippy in a cowboy hat", 1024, 1024, 0, "png", False)


def test_dalle3_b64_in_a_wide_size(emu: Emu) -> None:
    r = emu.generate(
        "dall-e-3",
        {"prompt": "a lighthouse", "size": "1792x1024", "response_format": "b64_json", "n": 1},
    )

    assert r.status_code == 200
    [item] = r.json()["data"]
    assert "url" not in item
    assert item["revised_prompt"]
    image = decode_image(b64_image(item))
    assert (image.format, image.size) == ("PNG", (1792, 1024))


@pytest.mark.parametrize("model", ["gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5"])
def test_gpt_image_family_returns_base64_with_usage(emu: Emu, model: str) -> None:
    r = emu.generate(model, {"prompt": "a red fox", "n": 2}, GPT_IMAGE_VERSION)

    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"created", "data", "usage"}
    usage = body["usage"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert set(usage["input_tokens_details"]) == {"text_tokens", "image_tokens"}
    images = [b64_image(item) for item in body["data"]]
    assert [set(item) for item in body["data"]] == [{"b64_json"}, {"b64_json"}]
    # size auto → 1024x1024; each index is its own picture.
    assert images == [render("a red fox", 1024, 1024, i, "png", False) for i in range(2)]
    assert images[0] != images[1]


def test_gpt_image_jpeg_and_portrait_size(emu: Emu) -> None:
    r = emu.generate(
        "gpt-image-1",
        {"prompt": "a tall tree", "size": "1024x1536", "output_format": "jpeg", "quality": "low"},
        GPT_IMAGE_VERSION,
    )

    assert r.status_code == 200
    image = decode_image(b64_image(r.json()["data"][0]))
    assert (image.format, image.size) == ("JPEG", (1024, 1536))


def test_gpt_image_transparent_background_is_really_transparent(emu: Emu) -> None:
    r = emu.generate(
        "gpt-image-1",
        {"prompt": "a sticker", "background": "transparent", "output_format": "png"},
        GPT_IMAGE_VERSION,
    )

    assert r.status_code == 200
    image = decode_image(b64_image(r.json()["data"][0]))
    assert image.mode == "RGBA"
    assert image.getpixel((0, image.height - 1))[3] == 0 or image.getpixel((0, 0))[3] == 0


@pytest.mark.parametrize("fmt", ["url", "b64_json"])
def test_dalle2_on_the_deployment_route_is_synchronous(emu: Emu, fmt: str) -> None:
    r = emu.generate(
        "dall-e-2", {"prompt": "a small boat", "n": 3, "size": "256x256", "response_format": fmt}
    )

    assert r.status_code == 200
    items = r.json()["data"]
    assert len(items) == 3
    assert all(set(i) == {fmt} for i in items)
    if fmt == "url":
        blobs = [httpx.get(i["url"]).content for i in items]
    else:
        blobs = [b64_image(i) for i in items]
    assert blobs == [render("a small boat", 256, 256, i, "png", False) for i in range(3)]


def test_azure_v1_route_takes_the_deployment_from_the_body(emu: Emu) -> None:
    r = emu.http.post(
        "/openai/v1/images/generations", json={"model": "gpt-image-1-mini", "prompt": "v1 cat"}
    )
    assert r.status_code == 200
    assert decode_image(b64_image(r.json()["data"][0])).size == (1024, 1024)

    with_version = emu.http.post(
        "/openai/v1/images/generations?api-version=preview",
        json={"model": "dall-e-3", "prompt": "v1 dog", "response_format": "b64_json"},
    )
    assert with_version.status_code == 200

    unknown = emu.http.post("/openai/v1/images/generations", json={"model": "nope", "prompt": "x"})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "DeploymentNotFound"
    assert unknown.headers["x-ms-error-code"] == "DeploymentNotFound"

    missing = emu.http.post("/openai/v1/images/generations", json={"prompt": "x"})
    assert missing.status_code == 400
    assert "model" in missing.json()["error"]["message"]


def test_openai_route_wants_a_bearer_key_and_answers_openai_style(emu: Emu) -> None:
    url = f"{emu.base_url}/v1/images/generations"
    bearer = {"Authorization": f"Bearer {emu.api_key}"}
    r = httpx.post(
        url,
        headers=bearer,
        json={"model": "gpt-image-1", "prompt": "openai cat", "size": "1536x1024"},
    )
    assert r.status_code == 200
    body = r.json()
    assert body["size"] == "1536x1024"
    assert body["output_format"] == "png"
    assert decode_image(b64_image(body["data"][0])).size == (1536, 1024)

    key_header_only = httpx.post(url, headers={"api-key": emu.api_key}, json={"prompt": "x"})
    assert key_header_only.status_code == 401
    assert key_header_only.json()["error"]["code"] == "invalid_api_key"

    unknown = httpx.post(url, headers=bearer, json={"model": "dall-e-9", "prompt": "x"})
    assert unknown.status_code == 404
    assert unknown.json()["error"] == {
        "code": "model_not_found",
        "message": "The model `dall-e-9` does not exist or you do not have access to it.",
        "param": None,
        "type": "invalid_request_error",
    }

    bad = httpx.post(url, headers=bearer, json={"model": "dall-e-3", "prompt": "x", "n": 2})
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "n"


def test_unknown_route_is_a_json_404(emu: Emu) -> None:
    r = emu.http.get("/openai/nothing-here")
    assert r.status_code == 404
    assert r.json() == {"error": {"code": "404", "message": "Resource not found"}}


def test_health(emu: Emu) -> None:
    assert emu.http.get("/_emulator/health").status_code == 200
