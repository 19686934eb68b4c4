"""The official `openai` SDK works against the emulator unchanged."""

from __future__ import annotations

import base64

import httpx
import openai
import pytest
from openai import AzureOpenAI, OpenAI

from devstack.emulator.images import render
from tests.integration.emulator.support import Emu, decode_image


def _azure(emu: Emu, version: str, **kw: object) -> AzureOpenAI:
    return AzureOpenAI(azure_endpoint=emu.base_url, api_key=emu.api_key, api_version=version, **kw)


def test_azure_sdk_dalle3_url(emu: Emu) -> None:
    client = _azure(emu, "2024-10-21")

    result = client.images.generate(model="dall-e-3", prompt="sdk badger", size="1024x1792")

    [image] = result.data
    assert image.revised_prompt
    assert image.url is not None
    png = httpx.get(image.url).content
    assert png == render("sdk badger", 1024, 1792, 0, "png", False)


def test_azure_sdk_gpt_image_base64(emu: Emu) -> None:
    client = _azure(emu, "2025-04-01-preview")

    result = client.images.generate(
        model="gpt-image-1", prompt="sdk otter", n=2, quality="low", output_format="jpeg"
    )

    assert result.usage is not None
    assert result.usage.total_tokens > 0
    assert [decode_image(base64.b64decode(d.b64_json or "")).format for d in result.data] == [
        "JPEG",
        "JPEG",
    ]


def test_openai_client_on_the_azure_v1_route(emu: Emu) -> None:
    client = OpenAI(base_url=emu.base_url + "/openai/v1/", api_key=emu.api_key)

    result = client.images.generate(model="gpt-image-1-mini", prompt="v1 heron")

    assert base64.b64decode(result.data[0].b64_json or "") == render(
        "v1 heron", 1024, 1024, 0, "png", False
    )


def test_openai_client_on_openai_own_route(emu: Emu) -> None:
    client = OpenAI(base_url=emu.base_url + "/v1", api_key=emu.api_key)

    result = client.images.generate(model="dall-e-3", prompt="openai owl", response_format="url")

    assert result.data[0].url is not None
    assert httpx.get(result.data[0].url).status_code == 200


def test_sdk_sees_429_as_rate_limit_error(emu: Emu) -> None:
    emu.configure(rpm_per_deployment={"dall-e-3": 1})
    client = _azure(emu, "2024-10-21", max_retries=0)
    client.images.generate(model="dall-e-3", prompt="first")

    with pytest.raises(openai.RateLimitError) as caught:
        client.images.generate(model="dall-e-3", prompt="second")

    assert int(caught.value.response.headers["retry-after"]) >= 1


def test_sdk_retries_a_503_by_itself(emu: Emu) -> None:
    emu.configure(seed=3, error_rate_503=0.5)
    client = _azure(emu, "2024-10-21", max_retries=10)

    for i in range(4):
        assert client.images.generate(model="dall-e-3", prompt=f"retry {i}").data

    stats = emu.stats()
    assert stats["billed"]["generations"] == 4  # retried 503s cost nothing
    assert stats["served"]["server_errors_5xx"] >= 1


def test_sdk_content_filter_and_auth_errors(emu: Emu) -> None:
    emu.configure(content_filter_words=["banned"])
    client = _azure(emu, "2024-10-21", max_retries=0)

    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="dall-e-3", prompt="a banned thing")
    assert caught.value.code == "content_policy_violation"

    bad_key = AzureOpenAI(
        azure_endpoint=emu.base_url, api_key="nope", api_version="2024-10-21", max_retries=0
    )
    with pytest.raises(openai.AuthenticationError):
        bad_key.images.generate(model="dall-e-3", prompt="x")

    with pytest.raises(openai.NotFoundError):
        client.images.generate(model="not-deployed", prompt="x")
