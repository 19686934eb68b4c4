"""Small real images the edit tests send: a plain picture, a mask with a hole, incompressible
noise. One copy for every layer's tests (emulator, clients, end to end)."""

from __future__ import annotations

import io
import os

from PIL import Image


def png(
    size: tuple[int, int] = (256, 256),
    colour: tuple[int, int, int] = (20, 160, 90),
    fmt: str = "PNG",
) -> bytes:
    """One colour everywhere (in `fmt`, PNG by default)."""
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, fmt)
    return out.getvalue()


def mask_png(size: tuple[int, int], hole: tuple[int, int, int, int], mode: str = "RGBA") -> bytes:
    """Opaque everywhere except `hole` (left, top, right, bottom), which is alpha 0: the area to
    edit. `mode="RGB"` gives the same picture without an alpha channel (a mask that is refused)."""
    image = Image.new(mode, size, (0, 0, 0, 255) if mode == "RGBA" else (0, 0, 0))
    if mode == "RGBA":
        image.paste((0, 0, 0, 0), hole)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def noise_png(size: tuple[int, int]) -> bytes:
    """Random pixels do not compress: about 3 bytes per pixel."""
    out = io.BytesIO()
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(out, "PNG")
    return out.getvalue()
