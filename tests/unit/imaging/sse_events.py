"""Server-sent image events as the service writes them (image-models-2026.md §4), and sinks
that record what a reader did with them: shared by the reader's and the clients' tests."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from shared.imaging.sse import SseImageReader
from shared.imaging.types import Previews

FRAMES = [os.urandom(700), os.urandom(701)]  # two padding lengths
FINAL = os.urandom(1002)
GEN = "image_generation"


class Sink:
    """A sink that records what it got, chunk by chunk, and whether its frame was published."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.largest_write = 0
        self.finished: list[int] = []
        self.abandoned = 0

    async def write(self, chunk: bytes) -> None:
        self.largest_write = max(self.largest_write, len(chunk))
        self.data += chunk

    async def finish(self, frame: int) -> None:
        self.finished.append(frame)

    async def abandon(self) -> None:
        self.abandoned += 1


class Recorder:
    """The `open_sink` and `Previews.open` callbacks, logging which ordinals were opened. A
    final sink opened again for its ordinal replaces the first (as the activity's staged
    image does: the first one's blocks are never committed); `opened` lists every opening."""

    def __init__(self, partial_images: int = 2, *, previews: bool = True) -> None:
        self.finals: dict[int, Sink] = {}
        self.opened: list[tuple[int, Sink]] = []
        self.frames: list[tuple[int, Sink]] = []
        self.previews = Previews(partial_images, self.open_preview) if previews else None

    async def open_sink(self, ordinal: int) -> Sink:
        self.finals[ordinal] = Sink()
        self.opened.append((ordinal, self.finals[ordinal]))
        return self.finals[ordinal]

    async def open_preview(self, ordinal: int) -> Sink:
        self.frames.append((ordinal, Sink()))
        return self.frames[-1][1]

    def reader(self, images: int = 1) -> SseImageReader:
        return SseImageReader(self.open_sink, self.previews, images=images)


def b64(data: bytes, *, escape_slashes: bool = False) -> str:
    text = base64.b64encode(data).decode()
    return text.replace("/", "\\/") if escape_slashes else text


def event(
    kind: str,
    image: bytes | None = None,
    *,
    prefix: str = GEN,
    name: bool = True,
    newline: str = "\n",
    escape_slashes: bool = False,
    **fields: Any,
) -> str:
    """One event as the service writes it: `event:` + one `data:` line of JSON, blank line."""
    payload: dict[str, Any] = {"type": f"{prefix}.{kind}"}
    if image is not None:
        payload["b64_json"] = "@IMAGE@"
    payload |= {"size": "1024x1024", "output_format": "png", "created_at": 1764590000}
    payload |= fields
    data = json.dumps(payload)
    if image is not None:
        data = data.replace("@IMAGE@", b64(image, escape_slashes=escape_slashes))
    head = f"event: {prefix}.{kind}{newline}" if name else ""
    return f"{head}data: {data}{newline}{newline}"


def stream(newline: str = "\n", **options: Any) -> bytes:
    """Two partial frames, then the completed image with its usage and revised prompt."""
    return (
        event("partial_image", FRAMES[0], partial_image_index=0, newline=newline, **options)
        + event("partial_image", FRAMES[1], partial_image_index=1, newline=newline, **options)
        + event(
            "completed",
            FINAL,
            usage={"total_tokens": 42},
            revised_prompt='a "b64_json":"x" badger',
            newline=newline,
            **options,
        )
    ).encode()
