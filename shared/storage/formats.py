"""Recognise PNG / JPEG / WEBP by their magic bytes and read the dimensions from the header.

Hand-written on purpose: Pillow is a dev dependency only, and the header is all we need. Works on
a prefix of the file (the first chunk of a streamed download): dimensions are None when the
prefix is too short to contain them.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

MAGIC_BYTES_NEEDED = 12


@dataclass(frozen=True)
class ImageFormat:
    name: str  # png | jpeg | webp
    content_type: str
    ext: str


PNG = ImageFormat("png", "image/png", "png")
JPEG = ImageFormat("jpeg", "image/jpeg", "jpg")
WEBP = ImageFormat("webp", "image/webp", "webp")
FORMATS = {f.name: f for f in (PNG, JPEG, WEBP)}

_PNG_SIG = b"\x89PNG\r\n\x1a\n"
# SOF markers carry the frame size; C4 (DHT), C8 (JPG), CC (DAC) share the range but do not.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def sniff(head: bytes) -> ImageFormat | None:
    """The format from the first bytes, or None when it is not an image we store."""
    if head.startswith(_PNG_SIG):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    return None


def dimensions(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the header of `data`, or None if it cannot be found there."""
    fmt = sniff(data)
    if fmt is PNG:
        return _png(data)
    if fmt is JPEG:
        return _jpeg(data)
    if fmt is WEBP:
        return _webp(data)
    return None


def _png(data: bytes) -> tuple[int, int] | None:
    # signature(8) length(4) "IHDR"(4) width(4) height(4)
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return (width, height) if width and height else None


def _jpeg(data: bytes) -> tuple[int, int] | None:
    i = 2
    n = len(data)
    while i + 9 <= n:  # room for a marker, its length and the frame size a SOF carries
        if data[i] != 0xFF:
            return None  # lost sync: corrupt or not a JPEG after all
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # standalone markers: no length
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # EOI / start of scan before any SOF
            return None
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if length < 2:
            return None
        if marker in _JPEG_SOF:
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return (width, height) if width and height else None
        i += 2 + length
    return None


def _webp(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
        return width, height
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        (bits,) = struct.unpack("<I", data[21:25])
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    return None


def png_has_alpha(data: bytes) -> bool:
    """Whether a PNG (its head: the chunks before the first IDAT) can be transparent: a colour
    type with alpha (4 grey+alpha, 6 RGBA) or a `tRNS` chunk. A mask must be: the edit applies
    where its alpha is 0 (image-models-2026.md §3)."""
    if sniff(data) is not PNG or len(data) < 26 or data[12:16] != b"IHDR":
        return False
    if data[25] in (4, 6):
        return True
    i = 8
    while i + 8 <= len(data):
        (length,) = struct.unpack(">I", data[i : i + 4])
        kind = data[i + 4 : i + 8]
        if kind == b"tRNS":
            return True
        if kind in (b"IDAT", b"IEND"):
            return False
        i += 12 + length
    return False
