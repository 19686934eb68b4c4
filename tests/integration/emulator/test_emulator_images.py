"""`render` is pure and honest: same inputs, same bytes; the picture matches what was asked."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from devstack.emulator.images import render


def _open(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_same_arguments_give_the_same_bytes() -> None:
    assert render("a cat", 512, 512, 0, "png", False) == render("a cat", 512, 512, 0, "png", False)


@pytest.mark.parametrize(
    "other",
    [
        ("a dog", 512, 512, 0, "png", False),
        ("a cat", 512, 512, 1, "png", False),
        ("a cat", 256, 256, 0, "png", False),
        ("a cat", 512, 512, 0, "jpeg", False),
        ("a cat", 512, 512, 0, "png", True),
    ],
)
def test_every_argument_changes_the_image(other: tuple) -> None:
    assert render(*other) != render("a cat", 512, 512, 0, "png", False)


@pytest.mark.parametrize(
    ("size", "fmt", "transparent", "expected_format", "mode"),
    [
        ((1792, 1024), "png", False, "PNG", "RGB"),
        ((1024, 1536), "jpeg", False, "JPEG", "RGB"),
        ((1024, 1024), "png", True, "PNG", "RGBA"),
        ((1024, 1024), "webp", False, "WEBP", "RGB"),
    ],
)
def test_format_size_and_alpha(size, fmt, transparent, expected_format, mode) -> None:
    image = _open(render("a tall ship", *size, 0, fmt, transparent))
    assert image.format == expected_format
    assert image.size == size
    assert image.mode == mode


def test_transparent_background_and_opaque_drawing() -> None:
    image = _open(render("sticker", 256, 256, 0, "png", True))
    alphas = {a for *_, a in image.getdata()}
    assert 0 in alphas  # background
    assert 255 in alphas  # shapes and text


def test_background_colour_follows_the_prompt() -> None:
    corners = {
        _open(render(p, 64, 64, 0, "png", False)).getpixel((63, 63))
        for p in ("one", "two", "three", "four")
    }
    assert len(corners) > 1


def test_huge_prompt_and_bad_arguments() -> None:
    assert _open(render("word " * 7000, 1024, 1024)).size == (1024, 1024)
    with pytest.raises(ValueError, match="transparent"):
        render("x", 64, 64, 0, "jpeg", True)
    with pytest.raises(ValueError, match="format"):
        render("x", 64, 64, 0, "gif", False)
