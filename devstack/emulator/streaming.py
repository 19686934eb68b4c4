"""Streamed answers of the GPT image models: partial frames, then each final image, as SSE.

image-models-2026.md §4: with `stream: true` the service answers `text/event-stream`, one
`event: <type>` + `data: <json>` pair per event, `partial_images` (0-3) previews of an image
before its `*.completed` event, and no `[DONE]`. The app shows those previews while a job runs,
so the emulator must send them at believable moments and make them real pictures: a client that
only ever saw fake bytes could not be trusted to decode, store and show a preview.

Timeline (p = partial_images, L = the request's latency, n images): event j (0-based, p + 1 per
image, the last one the image's `completed`) of image i is written at
L * (i * (p + 1) + j + 1) / (n * (p + 1)) after the latency would have started; for n = 1 that
is frame k at L * (k + 1) / (p + 1) and the final image at L.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web
from PIL import Image, ImageFilter

from devstack.emulator.images import FORMATS

EventFamily = Literal["image_generation", "image_edit"]
# The answer of a request whose stream has begun (status and headers sent).
STREAM_RESPONSE = web.RequestKey("stream_response", web.StreamResponse)
PARTIALS_KEPT = 1000  # `GET /_emulator/partials` keeps the newest this many frames
_FIRST_SCALE_EXPONENT = 4  # frame 0 is drawn at 1/16 of the size, frame 1 at 1/8, frame 2 at 1/4
_BLUR_PER_EDGE = 128  # frame 0's blur radius is the short edge / this, halved for each frame


def degrade(final: bytes, fmt: str, frame: int, compression: int | None = None) -> bytes:
    """Partial frame ``frame`` of the image ``final``: the same size and format, less sharp.

    Downscaled (1/16, 1/8, 1/4, …) then stretched back and blurred (radius halving per frame),
    so each frame is nearer the final image than the one before, as a diffusion preview is;
    the alpha channel is kept, so a transparent background stays transparent in every frame.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unsupported image format {fmt!r}")
    with Image.open(io.BytesIO(final)) as opened:
        opened.load()
        alpha = "A" in opened.getbands() or "transparency" in opened.info
        image = opened.convert("RGBA" if alpha and fmt != "jpeg" else "RGB")
    width, height = image.size
    scale = 2.0 ** (frame - _FIRST_SCALE_EXPONENT)
    small = image.resize(
        (max(1, round(width * scale)), max(1, round(height * scale))),
        Image.Resampling.BILINEAR,
        reducing_gap=2.0,
    )
    del image
    radius = max(1.0, min(width, height) / _BLUR_PER_EDGE / 2**frame)
    blurred = small.resize((width, height), Image.Resampling.BILINEAR).filter(
        ImageFilter.GaussianBlur(radius)
    )
    out = io.BytesIO()
    quality = 100 if compression is None else max(1, min(100, compression))
    if fmt == "png":
        blurred.save(out, "PNG", compress_level=1)
    elif fmt == "jpeg":
        blurred.save(out, "JPEG", quality=quality)
    else:
        blurred.save(out, "WEBP", quality=quality, method=0)
    return out.getvalue()


def sse_event(event_type: str, data: dict[str, Any]) -> bytes:
    """One server-sent event: `event: <type>`, one `data:` line of compact JSON, a blank line."""
    return f"event: {event_type}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


class PartialLog:
    """Every partial frame written, newest last: what a benchmark times previews against.

    ``emitted_at`` is taken just before the event's bytes are written, so "frame sent → preview
    visible in the app" needs no guessing on the client's side.
    """

    def __init__(self, max_entries: int = PARTIALS_KEPT) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=max_entries)

    def record(self, prompt: str, image: int, frame: int) -> None:
        self._entries.append(
            {"prompt": prompt, "image": image, "frame": frame, "emitted_at": time.time()}
        )

    def snapshot(self) -> list[dict[str, Any]]:
        return list(self._entries)

    def clear(self) -> None:
        self._entries.clear()


Run = Callable[..., Awaitable[Any]]  # `RenderCache.run`: Pillow work on the render threads


@dataclass(frozen=True)
class StreamPlan:
    """What one streamed answer sends, decided before its first byte (validation is over)."""

    family: EventFamily
    prompt: str
    n: int
    partial_images: int
    latency: float
    started: float  # the event loop's clock when the latency began
    echo: dict[str, Any]  # size, quality, background, output_format (`_openai_echo`)
    usage: dict[str, Any]
    created_at: int
    compression: int | None
    cut_after: int | None = None  # injected drop: close after this many events

    def due(self, image: int, event: int) -> float:
        """Loop time at which event ``event`` (0..p, p = completed) of ``image`` is written."""
        per_image = self.partial_images + 1
        step = image * per_image + event + 1
        return self.started + self.latency * step / (self.n * per_image)


async def _sleep_until(deadline: float) -> None:
    delay = deadline - asyncio.get_running_loop().time()
    if delay > 0:
        await asyncio.sleep(delay)


async def stream_images(
    request: web.Request,
    plan: StreamPlan,
    final: Callable[[int], Awaitable[bytes]],
    run: Run,
    partials: PartialLog,
    bill: Callable[[], None],
    on_cut: Callable[[], None],
    headers: dict[str, str],
) -> web.StreamResponse:
    """Write ``plan``'s events; ``final(i)`` gives image i's answer bytes (as unstreamed).

    Images go one after another and only one final image and one frame are held at a time, so
    a 10-image stream of 4K frames costs no more memory than one image. The call is billed once,
    just before the last `completed` event; a client that hangs up (or an injected cut) is
    billed all the same, as the service goes on generating what it accepted.
    """
    response = web.StreamResponse(
        status=200,
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", **headers},
    )
    await response.prepare(request)
    request[STREAM_RESPONSE] = response  # the envelope closes it if this fails from here on
    fmt = plan.echo["output_format"]
    base = {**plan.echo, "created_at": plan.created_at}
    billed = False
    written = 0
    try:
        for i in range(plan.n):
            image = await final(i)
            for k in range(plan.partial_images):
                frame = await run(degrade, image, fmt, k, plan.compression)
                await _sleep_until(plan.due(i, k))
                if written == plan.cut_after:
                    return _cut(request, response, on_cut)
                event = {
                    "type": f"{plan.family}.partial_image",
                    "b64_json": base64.b64encode(frame).decode("ascii"),
                    "partial_image_index": k,
                    **base,
                }
                del frame
                partials.record(plan.prompt, i, k)
                await response.write(sse_event(event["type"], event))
                written += 1
            await _sleep_until(plan.due(i, plan.partial_images))
            if written == plan.cut_after:
                return _cut(request, response, on_cut)
            event = {
                "type": f"{plan.family}.completed",
                "b64_json": base64.b64encode(image).decode("ascii"),
                **base,
                "usage": plan.usage,
            }
            del image
            if i == plan.n - 1:
                bill()
                billed = True
            await response.write(sse_event(event["type"], event))
            written += 1
        await response.write_eof()
    except ConnectionError:  # the client hung up: nobody is left to write to
        return response
    finally:
        if not billed:
            bill()
    return response


def _cut(
    request: web.Request, response: web.StreamResponse, on_cut: Callable[[], None]
) -> web.StreamResponse:
    """The injected drop, mid-stream: the connection closes with no further event."""
    on_cut()
    if request.transport is not None:
        request.transport.close()
    return response
