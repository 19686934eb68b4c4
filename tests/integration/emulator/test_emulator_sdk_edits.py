"""The official `openai` SDK's `images.edit` works against the emulator unchanged: one image, a
list (sent as repeated `image[]`), and a mask, through `OpenAI` and `AzureOpenAI`."""

from __future__ import annotations

import base64
import io

import openai
import pytest
from openai import AzureOpenAI, OpenAI
from PIL import Image

from tests.integration.emulator.support import (
    Emu,
    decode_image,
    edit_chunk,
    sha256,
    solid_image,
)

RED, GREEN, BLUE, GREY = (220, 20, 20), (20, 200, 20), (20, 20, 220), (120, 120, 120)
MAGENTA = (255, 0, 255)
Client = OpenAI | AzureOpenAI


def _openai(emu: Emu) -> OpenAI:
    return OpenAI(base_url=emu.base_url + "/v1", api_key=emu.api_key, max_retries=0)


def _azure(emu: Emu) -> AzureOpenAI:
    return AzureOpenAI(
        azure_endpoint=emu.base_url,
        api_key=emu.api_key,
        api_version="2025-04-01-preview",
        max_retries=0,
    )


CLIENTS = {"openai": _openai, "azure": _azure}


def _mask(size: tuple[int, int], hole: tuple[int, int, int, int]) -> bytes:
    image = Image.new("RGBA", size, (0, 0, 0, 255))
    image.paste((0, 0, 0, 0), hole)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _only(result: openai.types.ImagesResponse) -> bytes:
    [item] = result.data or []
    return base64.b64decode(item.b64_json or "")


def _near(pixel: tuple[int, ...], colour: tuple[int, ...]) -> bool:
    return all(abs(a - b) <= 12 for a, b in zip(pixel, colour, strict=False))


@pytest.mark.parametrize("kind", CLIENTS)
def test_sdk_edits_one_image(emu: Emu, kind: str) -> None:
    client = CLIENTS[kind](emu)
    source = solid_image(RED, (300, 200))

    result = client.images.edit(
        model="gpt-image-1", image=("in.png", source, "image/png"), prompt="one image"
    )

    assert result.usage is not None
    assert result.usage.input_tokens_details.image_tokens > 0
    data = _only(result)
    image = decode_image(data).convert("RGB")
    assert image.size == (1536, 1024)
    assert _near(image.getpixel((700, 600)), RED)
    assert edit_chunk(data)["input_sha256"] == [sha256(source)]


@pytest.mark.parametrize("kind", CLIENTS)
def test_sdk_edits_a_list_of_images_in_order(emu: Emu, kind: str) -> None:
    client = CLIENTS[kind](emu)
    images = [solid_image(c, (64, 64)) for c in (GREY, GREEN, BLUE)]

    result = client.images.edit(
        model="gpt-image-1.5",
        image=[(f"in{i}.png", data, "image/png") for i, data in enumerate(images)],
        prompt="a list",
        size="1024x1024",
    )

    data = _only(result)
    image = decode_image(data).convert("RGB")
    assert _near(image.getpixel((100, 900)), GREEN)
    assert _near(image.getpixel((400, 900)), BLUE)
    assert edit_chunk(data)["input_sha256"] == [sha256(d) for d in images]


@pytest.mark.parametrize("kind", CLIENTS)
def test_sdk_edits_with_a_mask(emu: Emu, kind: str) -> None:
    client = CLIENTS[kind](emu)
    source, mask = solid_image(GREY, (256, 256)), _mask((256, 256), (128, 0, 256, 256))

    result = client.images.edit(
        model="gpt-image-1",
        image=("in.png", source, "image/png"),
        mask=("mask.png", mask, "image/png"),
        prompt="masked",
        input_fidelity="high",
    )

    data = _only(result)
    image = decode_image(data).convert("RGB")
    assert image.getpixel((900, 500)) == MAGENTA
    assert _near(image.getpixel((100, 500)), GREY)
    assert edit_chunk(data)["mask_sha256"] == sha256(mask)
    assert emu.stats()["billed"]["edits"] == 1


def test_openai_client_on_the_azure_v1_route(emu: Emu) -> None:
    client = OpenAI(base_url=emu.base_url + "/openai/v1/", api_key=emu.api_key, max_retries=0)

    result = client.images.edit(
        model="gpt-image-1-mini", image=("in.png", solid_image(RED), "image/png"), prompt="v1"
    )

    assert edit_chunk(_only(result))["inputs"] == 1
    assert emu.stats()["billed"]["by_deployment"] == {
        "gpt-image-1-mini": {"generations": 1, "images": 1}
    }


@pytest.mark.parametrize("kind", CLIENTS)
def test_sdk_sees_a_mismatched_mask_as_bad_request_naming_mask(emu: Emu, kind: str) -> None:
    client = CLIENTS[kind](emu)

    with pytest.raises(openai.BadRequestError) as caught:
        client.images.edit(
            model="gpt-image-1",
            image=("in.png", solid_image(RED, (64, 64)), "image/png"),
            mask=("mask.png", _mask((32, 32), (0, 0, 8, 8)), "image/png"),
            prompt="x",
        )

    assert caught.value.param == "mask"
    assert "same dimensions" in caught.value.message
