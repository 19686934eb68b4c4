"""Reading the emulator's streamed answers strictly (shared by the streaming tests).

The parser is deliberately stricter than an SSE client: every event must be exactly
`event: <type>` + one `data: <json>` line + a blank line, and the JSON's `type` must repeat the
event name (image-models-2026.md §4), so a sloppy framing that a lenient client tolerates still
fails here.
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any, Literal

import httpx
from PIL import Image, ImageChops, ImageStat

from tests.integration.emulator.support import GPT_IMAGE_VERSION, Emu

EditRoute = Literal["deployment", "azure-v1", "openai"]
Event = tuple[str, dict[str, Any]]
PARTIAL_FIELDS = {
    "type",
    "b64_json",
    "partial_image_index",
    "size",
    "quality",
    "background",
    "output_format",
    "created_at",
}
COMPLETED_FIELDS = (PARTIAL_FIELDS - {"partial_image_index"}) | {"usage"}


def parse_sse(text: str) -> list[Event]:
    """(event type, data) of each event in ``text``, refusing anything but the exact framing."""
    assert text.endswith("\n\n"), f"the stream does not end with a blank line: {text[-80:]!r}"
    events: list[Event] = []
    for block in text[:-2].split("\n\n"):
        lines = block.split("\n")
        assert len(lines) == 2, f"an event is not exactly event + data: {block[:200]!r}"
        assert lines[0].startswith("event: "), lines[0]
        assert lines[1].startswith("data: "), lines[1][:200]
        name, data = lines[0][len("event: ") :], json.loads(lines[1][len("data: ") :])
        assert data["type"] == name
        events.append((name, data))
    return events


def events_of(r: httpx.Response) -> list[Event]:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    return parse_sse(r.text)


def image_of(data: dict[str, Any]) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(data["b64_json"])))
    image.load()
    return image


def difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute pixel difference (0-255) of two images of the same size, over RGB."""
    diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB"))
    return sum(ImageStat.Stat(diff).mean) / 3


def post_edit(
    emu: Emu, route: EditRoute, model: str, fields: dict[str, str], image: bytes
) -> httpx.Response:
    """A multipart edit of one PNG on ``route`` with that route's auth."""
    files = [("image", ("in.png", image, "image/png"))]
    if route == "deployment":
        return emu.http.post(
            f"/openai/deployments/{model}/images/edits",
            params={"api-version": GPT_IMAGE_VERSION},
            data=fields,
            files=files,
        )
    data = {"model": model, **fields}
    if route == "azure-v1":
        return emu.http.post("/openai/v1/images/edits", data=data, files=files)
    return emu.http.post(
        "/v1/images/edits",
        data=data,
        files=files,
        headers={"Authorization": f"Bearer {emu.api_key}"},
    )


def partials(emu: Emu) -> list[dict[str, Any]]:
    r = emu.http.get("/_emulator/partials")
    assert r.status_code == 200, r.text
    entries: list[dict[str, Any]] = r.json()["partials"]
    return entries
