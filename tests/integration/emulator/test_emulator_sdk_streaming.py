"""The official `openai` SDK streams partial images from the emulator unchanged: its typed
events parse, through `AzureOpenAI` (2025-04-01-preview) and `OpenAI` (own and Azure v1 route)."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from openai import AzureOpenAI, OpenAI
from openai.types import (
    ImageEditCompletedEvent,
    ImageEditPartialImageEvent,
    ImageGenCompletedEvent,
    ImageGenPartialImageEvent,
)

from devstack.emulator.images import render
from tests.integration.emulator.streams import partials
from tests.integration.emulator.support import Emu, decode_image, solid_image

Client = OpenAI | AzureOpenAI


def _azure(emu: Emu) -> Client:
    return AzureOpenAI(
        azure_endpoint=emu.base_url,
        api_key=emu.api_key,
        api_version="2025-04-01-preview",
        max_retries=0,
    )


def _openai(emu: Emu) -> Client:
    return OpenAI(base_url=emu.base_url + "/v1", api_key=emu.api_key, max_retries=0)


def _azure_v1(emu: Emu) -> Client:
    return OpenAI(base_url=emu.base_url + "/openai/v1/", api_key=emu.api_key, max_retries=0)


CLIENTS: dict[str, Callable[[Emu], Client]] = {
    "azure": _azure,
    "openai": _openai,
    "azure-v1": _azure_v1,
}


@pytest.mark.parametrize("kind", CLIENTS)
def test_sdk_streams_a_generation(emu: Emu, kind: str) -> None:
    emu.configure(latency_seconds=0.3)
    client = CLIENTS[kind](emu)

    stream = client.images.generate(
        model="gpt-image-1", prompt="sdk stream", stream=True, partial_images=2, quality="low"
    )
    events = list(stream)

    assert [event.type for event in events] == [
        "image_generation.partial_image",
        "image_generation.partial_image",
        "image_generation.completed",
    ]
    *frames, completed = events
    assert all(isinstance(frame, ImageGenPartialImageEvent) for frame in frames)
    assert [f.partial_image_index for f in frames if isinstance(f, ImageGenPartialImageEvent)] == [
        0,
        1,
    ]
    assert isinstance(completed, ImageGenCompletedEvent)
    assert completed.usage.total_tokens > 0
    assert (completed.size, completed.quality, completed.output_format) == (
        "1024x1024",
        "low",
        "png",
    )
    assert base64.b64decode(completed.b64_json) == render("sdk stream", 1024, 1024)
    for frame in frames:
        assert decode_image(base64.b64decode(frame.b64_json)).size == (1024, 1024)
    times = [p["emitted_at"] for p in partials(emu)]
    assert len(times) == 2
    assert times[0] < times[1]
    assert emu.stats()["billed"]["generations"] == 1


@pytest.mark.parametrize("kind", ["azure", "openai"])
def test_sdk_streams_an_edit(emu: Emu, kind: str) -> None:
    client = CLIENTS[kind](emu)

    stream = client.images.edit(
        model="gpt-image-1",
        image=("in.png", solid_image((220, 20, 20), (200, 300)), "image/png"),
        prompt="sdk edit stream",
        stream=True,
        partial_images=1,
    )
    events = list(stream)

    assert [event.type for event in events] == ["image_edit.partial_image", "image_edit.completed"]
    frame, completed = events
    assert isinstance(frame, ImageEditPartialImageEvent)
    assert frame.partial_image_index == 0
    assert isinstance(completed, ImageEditCompletedEvent)
    assert completed.size == "1024x1536"
    assert decode_image(base64.b64decode(frame.b64_json)).size == (1024, 1536)
    assert emu.stats()["billed"]["edits"] == 1
