"""Edited images: pictures that visibly derive from their inputs, so a test can tell an edit from
a generation and check exactly which inputs reached the service, in which order.

The rule, for an output of W x H (app-side end-to-end tests may rely on it):

* the first input, decoded, converted to RGB (RGBA for a transparent background) and stretched to
  W x H;
* where the mask's alpha is 0 (the mask scaled to W x H, nearest neighbour) the pixels are solid
  magenta (255, 0, 255);
* every further input as a thumbnail H // 4 high (aspect kept) along the bottom edge, left to
  right in input order, clipped at the right edge;
* a band at the top (at most H // 5 high) with the prompt and a label, as generated images have;
* PNG outputs carry a ``tEXt`` chunk ``emulator-edit`` and JPEG outputs a comment (COM) holding
  JSON ``{"inputs", "input_sha256", "mask_sha256", "prompt"}`` (prompt: its first 200 chars).

Everything is a pure function of (inputs, mask, prompt, size, index, format, background,
compression, seed): `render_edit` gives the exact bytes a route answers (before `images.pad`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw, PngImagePlugin

from devstack.emulator.images import FORMATS, _contrast, _font, _palette

META_KEY = "emulator-edit"
MAGENTA = (255, 0, 255)
PROMPT_IN_META = 200
STANDARD_SIZES: tuple[tuple[int, int], ...] = ((1024, 1024), (1536, 1024), (1024, 1536))
_HOLE_LUT = [255] + [0] * 255  # alpha 0 → 255 (fill), anything else → 0 (keep)


class UndecodableImage(ValueError):
    """An input Pillow cannot read; ``index`` is its 0-based position (None: the mask)."""

    def __init__(self, reason: str, index: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.index = index


def sniff(data: bytes) -> str | None:
    """The format by magic bytes ("png", "jpeg", "webp"), never by a declared content type."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def decode_base64(text: str) -> bytes | None:
    """Plain base64 (whitespace ignored), or None if it is not."""
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def decode_data_url(url: str) -> bytes | None:
    """The bytes of ``data:<type>;base64,<data>``, or None if it is not one (or not base64)."""
    if not url.startswith("data:"):
        return None
    header, sep, payload = url.partition(",")
    if not sep or not header.endswith(";base64"):
        return None
    return decode_base64(payload)


@dataclass(frozen=True)
class InputInfo:
    """What the header of an input says: enough to check it and to pick the output size."""

    fmt: str
    width: int
    height: int
    has_alpha: bool


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def _open(data: bytes, fmt: str) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data), formats=[FORMATS[fmt][0]])
    except Image.DecompressionBombError as exc:
        raise UndecodableImage(f"has too many pixels to decode ({exc})") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise UndecodableImage(f"cannot be decoded as {fmt.upper()} ({exc})") from exc


def inspect(data: bytes) -> InputInfo:
    """Format and dimensions from the header only (cheap); UndecodableImage if unreadable."""
    fmt = sniff(data)
    if fmt is None:
        raise UndecodableImage("is not a PNG, JPEG or WebP image")
    with _open(data, fmt) as image:
        width, height = image.size
        return InputInfo(fmt, width, height, _has_alpha(image))


# --- output sizes -------------------------------------------------------------------------------


def nearest_standard_size(width: int, height: int) -> tuple[int, int]:
    """gpt-image `size=auto`: the standard size whose aspect is nearest the input's (log scale).

    Ties go to the earlier of 1024x1024, 1536x1024, 1024x1536.
    """
    aspect = math.log(width / height)
    return min(STANDARD_SIZES, key=lambda s: abs(aspect - math.log(s[0] / s[1])))


def follow_input_size(
    width: int, height: int, *, multiple: int, min_edge: int, max_pixels: int
) -> tuple[int, int]:
    """FLUX.2 without width/height: the input's size, rounded to ``multiple`` (halves up), at
    most ``max_pixels`` (scaled down keeping the aspect, then floored), each edge ≥ ``min_edge``."""
    w, h = float(width), float(height)
    capped = w * h > max_pixels
    if capped:
        scale = math.sqrt(max_pixels / (w * h))
        w, h = w * scale, h * scale

    def snap(v: float) -> int:
        steps = math.floor(v / multiple + (1e-9 if capped else 0.5))  # capped: never round up
        return max(min_edge, steps * multiple)

    out_w, out_h = snap(w), snap(h)
    while out_w * out_h > max_pixels and max(out_w, out_h) > min_edge:
        if out_w >= out_h:
            out_w -= multiple
        else:
            out_h -= multiple
    return out_w, out_h


def aspect_size(
    ratio_w: float, ratio_h: float, *, pixels: int, multiple: int, low: float, high: float
) -> tuple[int, int]:
    """Kontext: about ``pixels`` at the aspect ``ratio_w:ratio_h`` (clamped to low..high), both
    edges floored to ``multiple`` so the result never exceeds ``pixels``."""
    ratio = min(high, max(low, ratio_w / ratio_h))
    w = math.floor(math.sqrt(pixels * ratio) / multiple + 1e-9) * multiple
    h = math.floor(math.sqrt(pixels / ratio) / multiple + 1e-9) * multiple
    return max(multiple, w), max(multiple, h)


# --- decoding (before the generation latency: an unreadable input is the caller's fault) ---------


@dataclass(frozen=True)
class Prepared:
    """Inputs decoded and scaled for one output size; `compose` draws from these."""

    width: int
    height: int
    mode: str
    base: Image.Image
    thumbs: tuple[Image.Image, ...]
    hole: Image.Image | None  # L, 255 where the mask's alpha is 0
    meta: str


def _decode(data: bytes, index: int | None, size: tuple[int, int], mode: str) -> Image.Image:
    """``data`` decoded, converted to ``mode`` and stretched to ``size``.

    A JPEG decodes straight at the smallest DCT scale still ≥ ``size`` (`draft`), and big
    downscales reduce by whole factors first (`reducing_gap`): a 20 MB input stays well under a
    second.
    """
    fmt = sniff(data)
    if fmt is None:
        raise UndecodableImage("is not a PNG, JPEG or WebP image", index)
    try:
        with _open(data, fmt) as image:
            if fmt == "jpeg":
                image.draft("RGB", size)
            image.load()
            converted = image.convert(mode)
    except UndecodableImage as exc:
        raise UndecodableImage(exc.reason, index) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise UndecodableImage(f"cannot be decoded as {fmt.upper()} ({exc})", index) from exc
    if converted.size == size:
        return converted
    return converted.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)


def _mask_hole(mask: bytes, size: tuple[int, int]) -> Image.Image:
    fmt = sniff(mask)
    if fmt is None:
        raise UndecodableImage("is not a PNG image", None)
    try:
        with _open(mask, fmt) as image:
            image.load()
            alpha = image.convert("RGBA").getchannel("A")
    except UndecodableImage as exc:
        raise UndecodableImage(exc.reason, None) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise UndecodableImage(f"cannot be decoded ({exc})", None) from exc
    return alpha.point(_HOLE_LUT).resize(size, Image.Resampling.NEAREST)


def edit_meta(inputs: Sequence[bytes], mask: bytes | None, prompt: str) -> str:
    """The `emulator-edit` JSON: which inputs (by sha256, in order) and mask made this image."""
    return json.dumps(
        {
            "inputs": len(inputs),
            "input_sha256": [hashlib.sha256(d).hexdigest() for d in inputs],
            "mask_sha256": hashlib.sha256(mask).hexdigest() if mask is not None else None,
            "prompt": prompt[:PROMPT_IN_META],
        },
        separators=(",", ":"),
        ensure_ascii=True,  # always a Latin-1 tEXt chunk, never iTXt
    )


def prepare(
    inputs: Sequence[bytes],
    mask: bytes | None,
    prompt: str,
    width: int,
    height: int,
    transparent: bool = False,
) -> Prepared:
    """Decode and scale every input once; UndecodableImage names the one that fails."""
    if not inputs:
        raise ValueError("an edit needs at least one input image")
    mode = "RGBA" if transparent else "RGB"
    base = _decode(inputs[0], 0, (width, height), mode)
    thumb_h = max(1, height // 4)
    thumbs = []
    for i, data in enumerate(inputs[1:], start=1):
        info_w, info_h = _dimensions(data, i)
        thumb_w = max(1, round(info_w * thumb_h / info_h))
        thumbs.append(_decode(data, i, (thumb_w, thumb_h), mode))
    hole = _mask_hole(mask, (width, height)) if mask is not None else None
    return Prepared(width, height, mode, base, tuple(thumbs), hole, edit_meta(inputs, mask, prompt))


def _dimensions(data: bytes, index: int) -> tuple[int, int]:
    try:
        info = inspect(data)
    except UndecodableImage as exc:
        raise UndecodableImage(exc.reason, index) from exc
    return info.width, info.height


# --- drawing and encoding ----------------------------------------------------------------------


def _label_band(image: Image.Image, prompt: str, label: str) -> None:
    """The prompt and a label on a band at the top, at most a fifth of the height."""
    width, height = image.size
    transparent = image.mode == "RGBA"
    background = _palette(prompt, 0)[0]
    font_size = max(10, min(width, height) // 22)
    line_h = font_size + 4
    max_lines = max(1, (height // 5 - font_size) // line_h)
    chars_per_line = max(8, int(width / (font_size * 0.55)))
    wrapped = textwrap.wrap(prompt[:600], chars_per_line) or [""]
    room = max_lines - 1
    lines = [*wrapped[:room], label] if room > 0 else [label]
    if room > 0 and len(wrapped) > room:
        lines[room - 1] = lines[room - 1][: chars_per_line - 1] + "…"
    band_h = min(height, line_h * len(lines) + font_size)
    draw = ImageDraw.Draw(image)
    draw.rectangle(
        (0, 0, width, band_h - 1), fill=(*background, 220) if transparent else background
    )
    text = _contrast(background)
    font = _font(font_size)
    for i, line in enumerate(lines):
        y = font_size // 2 + i * line_h
        draw.text((font_size, y), line, font=font, fill=(*text, 255) if transparent else text)


def compose(
    prepared: Prepared,
    prompt: str,
    index: int = 0,
    fmt: str = "png",
    compression: int | None = None,
    seed: int | None = None,
) -> bytes:
    """One output image (``index`` only changes the label) encoded as ``fmt``."""
    if fmt not in FORMATS:
        raise ValueError(f"unsupported image format {fmt!r}")
    if prepared.mode == "RGBA" and fmt == "jpeg":
        raise ValueError("JPEG cannot carry a transparent background")
    image = prepared.base.copy()
    w, h = prepared.width, prepared.height
    if prepared.hole is not None:
        fill = (*MAGENTA, 255) if prepared.mode == "RGBA" else MAGENTA
        image.paste(fill, (0, 0, w, h), prepared.hole)
    x = 0
    for thumb in prepared.thumbs:
        if x >= w:
            break
        image.paste(thumb, (x, h - thumb.height))
        x += thumb.width
    inputs = 1 + len(prepared.thumbs)
    label = f"edit #{index + 1}  {w}x{h}  {inputs} input{'s' if inputs > 1 else ''}"
    if seed is not None:
        label += f"  seed {seed}"
    _label_band(image, prompt, label)

    out = io.BytesIO()
    quality = 100 if compression is None else max(1, min(100, compression))
    if fmt == "png":
        info = PngImagePlugin.PngInfo()
        info.add_text(META_KEY, prepared.meta)
        image.save(out, "PNG", compress_level=1, pnginfo=info)
    elif fmt == "jpeg":
        image.save(out, "JPEG", quality=quality, comment=prepared.meta)
    else:
        image.save(out, "WEBP", quality=quality, method=0)
    return out.getvalue()


def render_edit(
    inputs: Sequence[bytes],
    mask: bytes | None,
    prompt: str,
    width: int,
    height: int,
    index: int = 0,
    fmt: str = "png",
    transparent: bool = False,
    compression: int | None = None,
    seed: int | None = None,
) -> bytes:
    """The exact bytes of an edit (before `images.pad`): `prepare` then `compose`."""
    prepared = prepare(inputs, mask, prompt, width, height, transparent)
    return compose(prepared, prompt, index, fmt, compression, seed)


def read_meta(data: bytes) -> dict[str, object] | None:
    """The `emulator-edit` JSON of an edited PNG or JPEG, or None (a generated image)."""
    with Image.open(io.BytesIO(data)) as image:
        raw = image.info.get(META_KEY) if image.format == "PNG" else image.info.get("comment")
    if raw is None:
        return None
    text = raw.decode("latin-1") if isinstance(raw, bytes) else str(raw)
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None
