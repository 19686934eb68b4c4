"""Run a client's streamed generation or edit (the only kind the app has) into memory, for tests
that want the images' bytes back: base64 images come back with `b64_json` filled in again."""

from __future__ import annotations

import base64
import dataclasses

from shared.imaging.types import EditSources, GeneratedImage, GenerationParams, ImageApiClient


class MemorySink:
    def __init__(self) -> None:
        self.data = bytearray()

    async def write(self, chunk: bytes) -> None:
        self.data += chunk


async def generate(
    client: ImageApiClient, params: GenerationParams, sources: EditSources | None = None
) -> list[GeneratedImage]:
    sinks: dict[int, MemorySink] = {}

    async def open_sink(ordinal: int) -> MemorySink:
        sinks[ordinal] = MemorySink()
        return sinks[ordinal]

    images = await client.generate_streamed(params, open_sink, sources)
    return [
        dataclasses.replace(
            image, streamed=None, b64_json=base64.b64encode(sinks[image.streamed].data).decode()
        )
        if image.streamed is not None
        else image
        for image in images
    ]
