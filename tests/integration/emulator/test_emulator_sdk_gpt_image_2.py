"""The official `openai` SDK with gpt-image-2's free sizes and the per-platform options."""

from __future__ import annotations

import base64

import openai
import pytest
from openai import AzureOpenAI, OpenAI

from devstack.emulator.images import render
from tests.integration.emulator.support import GPT_IMAGE_VERSION, Emu, decode_image


def _azure(emu: Emu) -> AzureOpenAI:
    return AzureOpenAI(
        azure_endpoint=emu.base_url,
        api_key=emu.api_key,
        api_version=GPT_IMAGE_VERSION,
        max_retries=0,
    )


def test_azure_sdk_gpt_image_2_free_size(emu: Emu) -> None:
    result = _azure(emu).images.generate(model="gpt-image-2", prompt="sdk fjord", size="2048x1152")

    assert result.data
    data = base64.b64decode(result.data[0].b64_json or "")
    assert data == render("sdk fjord", 2048, 1152, 0, "png", False)
    assert decode_image(data).size == (2048, 1152)
    assert result.usage is not None
    assert result.usage.output_tokens > 0


def test_azure_sdk_broken_size_is_a_bad_request(emu: Emu) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        _azure(emu).images.generate(model="gpt-image-2", prompt="x", size="1000x1000")

    assert caught.value.code == "invalidPayload"
    assert "multiples of 16" in caught.value.message


def test_azure_sdk_webp_is_a_bad_request(emu: Emu) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        _azure(emu).images.generate(model="gpt-image-1", prompt="x", output_format="webp")

    assert "WEBP isn't supported" in caught.value.message


def test_openai_client_webp_on_openai_own_route(emu: Emu) -> None:
    client = OpenAI(base_url=emu.base_url + "/v1", api_key=emu.api_key, max_retries=0)

    result = client.images.generate(
        model="gpt-image-1", prompt="sdk webp", output_format="webp", moderation="low"
    )

    assert result.output_format == "webp"
    assert result.data
    data = base64.b64decode(result.data[0].b64_json or "")
    assert decode_image(data).format == "WEBP"
    assert data == render("sdk webp", 1024, 1024, 0, "webp", False)


def test_openai_client_gpt_image_2_on_azure_v1(emu: Emu) -> None:
    client = OpenAI(base_url=emu.base_url + "/openai/v1/", api_key=emu.api_key, max_retries=0)

    result = client.images.generate(model="gpt-image-2", prompt="v1 wide", size="3840x1280")

    assert result.data
    data = base64.b64decode(result.data[0].b64_json or "")
    assert decode_image(data).size == (3840, 1280)
