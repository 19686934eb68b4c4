"""Real, deterministic pictures for the emulator's answers.

A test that stores a generated image needs to know which bytes to expect, and a human looking at
a blob needs to see which prompt made it: so an image is a pure function of (prompt, size, index,
format, background, compression), with the prompt text drawn on colours derived from its hash.
"""

from __future__ import annotations

import hashlib
import io
import struct
import textwrap
import threading
import zlib
from typing import Literal

from PIL import Image, ImageDraw, ImageFont

ImageFormat = Literal["png", "jpeg", "webp"]

# What callers put in `output_format` → what Pillow calls the encoder, and the content type.
FORMATS: dict[str, tuple[str, str]] = {
    "png": ("PNG", "image/png"),
    "jpeg": ("JPEG", "image/jpeg"),
    "webp": ("WEBP", "image/webp"),
}
EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp"}

_MAX_DRAWN_CHARS = 600  # a 32000-char prompt would only be noise; its hash still sets the colours


def content_type(fmt: str) -> str:
    return FORMATS[fmt][1]


def _palette(prompt: str, index: int) -> tuple[tuple[int, int, int], ...]:
    digest = hashlib.sha256(f"{index}\x00{prompt}".encode()).digest()
    return tuple((digest[i], digest[i + 1], digest[i + 2]) for i in range(0, 24, 3))


def _contrast(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    luminance = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    return (16, 16, 16) if luminance > 140 else (245, 245, 245)


_local = threading.local()


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """One font object per thread and size: a FreeType face must not be shared across threads."""
    fonts: dict[int, ImageFont.FreeTypeFont | ImageFont.ImageFont] = getattr(_local, "fonts", {})
    _local.fonts = fonts
    if size not in fonts:
        fonts[size] = ImageFont.load_default(size=size)
    return fonts[size]


def render(
    prompt: str,
    width: int,
    height: int,
    index: int = 0,
    fmt: str = "png",
    transparent: bool = False,
    compression: int | None = None,
    seed: int | None = None,
) -> bytes:
    """Encode one image; the same arguments always give the same bytes.

    ``seed`` is FLUX's: a different seed must give a different picture of the same prompt (and
    the same seed the same one), so it joins the hash and the label; None leaves every other
    model's images exactly as they were.

    ``compression`` is the API's ``output_compression`` (0-100, the encoder quality; the API's
    default is 100); it only changes lossy formats. ``transparent`` gives an RGBA image whose
    background is fully transparent (PNG/WebP only: JPEG has no alpha).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unsupported image format {fmt!r}")
    if transparent and fmt == "jpeg":
        raise ValueError("JPEG cannot carry a transparent background")
    if width <= 0 or height <= 0:
        raise ValueError("width and height must be positive")
    key = prompt if seed is None else f"{prompt}\x00seed={seed}"
    colours = _palette(key, index)
    background, accent1, accent2 = colours[0], colours[1], colours[2]

    mode = "RGBA" if transparent else "RGB"
    fill_bg = (*background, 0) if transparent else background
    image = Image.new(mode, (width, height), fill_bg)
    draw = ImageDraw.Draw(image)

    # Two hash-placed shapes make images of similar prompts look different at a glance.
    short = min(width, height)
    d = hashlib.sha256(f"shapes\x00{index}\x00{key}".encode()).digest()
    cx, cy = d[0] * width // 256, d[1] * height // 256
    r = short // 8 + d[2] * short // 1024
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(*accent1, 255) if transparent else accent1)
    x0, y0 = d[3] * width // 512, d[4] * height // 256
    draw.rectangle(
        (x0, y0, x0 + width // 3, y0 + height // 10),
        fill=(*accent2, 255) if transparent else accent2,
    )

    # The prompt, wrapped, on a band that keeps it readable whatever the colours.
    font_size = max(10, short // 22)
    font = _font(font_size)
    chars_per_line = max(8, int(width / (font_size * 0.55)))
    text = prompt if len(prompt) <= _MAX_DRAWN_CHARS else prompt[:_MAX_DRAWN_CHARS] + "…"
    lines = textwrap.wrap(text, chars_per_line) or [""]
    max_lines = max(1, (height - 2 * font_size) // (font_size + 4) - 1)
    if len(lines) > max_lines:
        lines = [*lines[: max_lines - 1], lines[max_lines - 1][: chars_per_line - 1] + "…"]
    label = f"#{index + 1}  {width}x{height}"
    lines.append(label if seed is None else f"{label}  seed {seed}")
    line_h = font_size + 4
    block_h = line_h * len(lines) + font_size
    top = max(0, (height - block_h) // 2)
    band = (0, top, width, min(height, top + block_h))
    text_colour = _contrast(background)
    band_colour = (*background, 220) if transparent else background
    draw.rectangle(band, fill=band_colour)
    for i, line in enumerate(lines):
        y = top + font_size // 2 + i * line_h
        draw.text(
            (font_size, y),
            line,
            font=font,
            fill=(*text_colour, 255) if transparent else text_colour,
        )

    out = io.BytesIO()
    encoder = FORMATS[fmt][0]
    quality = 100 if compression is None else max(1, min(100, compression))
    if encoder == "PNG":
        image.save(out, "PNG", compress_level=1)
    elif encoder == "JPEG":
        image.save(out, "JPEG", quality=quality)
    else:
        image.save(out, "WEBP", quality=quality, method=0)
    return out.getvalue()


# --- padding to a minimum size --------------------------------------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Ancillary (p), private (d), reserved bit clear (D), safe to copy (g): decoders skip it.
PNG_PAD_CHUNK = b"pdDg"
JPEG_PAD_MARKER = b"\xff\xef"  # APP15: no decoder gives it a meaning
JPEG_PAD_ID = b"emulator-padding\x00"
_JPEG_MAX_SEGMENT = 0xFFFF  # the largest segment length; the length field counts itself


def pad(data: bytes, fmt: str, min_bytes: int) -> bytes:
    """``data`` grown to at least ``min_bytes`` with bytes every decoder skips: same pixels.

    Big images are what memory and streaming need to be tested with, and drawing a 20 MB picture
    would be slow and pointless. PNG gets one private ancillary chunk before ``IEND`` (exactly
    ``min_bytes`` long unless the gap is under a chunk's 12-byte overhead); JPEG gets APP15
    segments right after the SOI/APPn header (exact unless the gap is under a segment's 21-byte
    overhead). The
    filler is incompressible and a pure function of the image, so the result is deterministic.
    Other formats (WebP) and images already that large are returned unchanged.
    """
    missing = min_bytes - len(data)
    if missing <= 0 or fmt not in ("png", "jpeg"):
        return data
    if fmt == "png":
        return _pad_png(data, missing)
    return _pad_jpeg(data, missing)


def _filler(data: bytes, size: int) -> bytes:
    return hashlib.shake_256(hashlib.sha256(data).digest()).digest(size)


def _pad_png(data: bytes, missing: int) -> bytes:
    if not data.startswith(PNG_SIGNATURE) or not data.endswith(b"IEND\xaeB`\x82"):
        raise ValueError("not a PNG")
    filler = _filler(data, max(0, missing - 12))  # length + type + CRC
    crc = zlib.crc32(PNG_PAD_CHUNK + filler) & 0xFFFFFFFF
    chunk = struct.pack(">I", len(filler)) + PNG_PAD_CHUNK + filler + struct.pack(">I", crc)
    iend = len(data) - 12
    return data[:iend] + chunk + data[iend:]


def _pad_jpeg(data: bytes, missing: int) -> bytes:
    if not data.startswith(b"\xff\xd8"):
        raise ValueError("not a JPEG")
    # After SOI and any APPn segments (JFIF's APP0 must stay first), before the tables.
    pos = 2
    while data[pos] == 0xFF and 0xE0 <= data[pos + 1] <= 0xEF:
        pos += 2 + struct.unpack(">H", data[pos + 2 : pos + 4])[0]
    overhead = 4 + len(JPEG_PAD_ID)  # marker + length + identifier, per segment
    count = -(-missing // (_JPEG_MAX_SEGMENT + 2))  # ceil; a full segment is 65535 + 2 bytes
    total = max(0, missing - count * overhead)
    filler = _filler(data, total)
    segments = []
    offset = 0
    for i in range(count):  # spread evenly: every segment stays under the 64 KB limit
        take = total // count + (1 if i < total % count else 0)
        body = JPEG_PAD_ID + filler[offset : offset + take]
        segments.append(JPEG_PAD_MARKER + struct.pack(">H", len(body) + 2) + body)
        offset += take
    return data[:pos] + b"".join(segments) + data[pos:]
