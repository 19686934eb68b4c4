"""`image_min_bytes`: big images with the same pixels, as a pure function tests can recompute."""

from __future__ import annotations

import base64
from io import BytesIO

import httpx
import pytest
from PIL import Image

from devstack.emulator.images import pad, render
from tests.integration.emulator.support import GPT_IMAGE_VERSION, Emu, decode_image

MB = 1024 * 1024


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
@pytest.mark.parametrize("extra", [21, 100, 65_537, 200_000, 3 * MB])
def test_padding_keeps_the_picture_and_reaches_the_size(fmt: str, extra: int) -> None:
    drawn = render("a padded badger", 512, 512, 0, fmt)
    target = len(drawn) + extra

    padded = pad(drawn, fmt, target)

    assert len(padded) == target
    assert padded == pad(drawn, fmt, target)  # deterministic
    image = decode_image(padded)
    assert image.format == {"png": "PNG", "jpeg": "JPEG"}[fmt]
    assert image.tobytes() == decode_image(drawn).tobytes()


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_a_gap_smaller_than_the_container_overhead_overshoots_a_little(fmt: str) -> None:
    drawn = render("tiny gap", 256, 256, 0, fmt)
    padded = pad(drawn, fmt, len(drawn) + 1)
    assert len(drawn) + 1 < len(padded) <= len(drawn) + 21
    assert decode_image(padded).tobytes() == decode_image(drawn).tobytes()


def test_padding_the_png_is_a_valid_chunk_pillow_verifies() -> None:
    padded = pad(render("verify me", 256, 256, 0, "png", True), "png", MB)
    Image.open(BytesIO(padded)).verify()  # checks every chunk's CRC


@pytest.mark.parametrize(
    ("fmt", "min_bytes"), [("png", 0), ("png", 100), ("jpeg", 1000), ("webp", MB)]
)
def test_nothing_to_do_returns_the_image_unchanged(fmt: str, min_bytes: int) -> None:
    drawn = render("already big enough", 256, 256, 0, fmt)
    assert pad(drawn, fmt, min_bytes) == drawn


def test_not_an_image_is_refused() -> None:
    with pytest.raises(ValueError, match="not a PNG"):
        pad(b"hello", "png", 100)
    with pytest.raises(ValueError, match="not a JPEG"):
        pad(b"hello", "jpeg", 100)


def test_b64_and_url_results_are_padded_and_downloads_match(emu: Emu) -> None:
    target = 2 * MB
    emu.configure(image_min_bytes=target)

    b64 = emu.generate(
        "gpt-image-1", {"prompt": "big b64", "output_format": "png"}, GPT_IMAGE_VERSION
    )
    url = emu.generate("dall-e-3", {"prompt": "big url"})
    jpeg = emu.generate(
        "gpt-image-1",
        {"prompt": "big jpeg", "output_format": "jpeg", "output_compression": 80},
        GPT_IMAGE_VERSION,
    )

    assert (b64.status_code, url.status_code, jpeg.status_code) == (200, 200, 200)
    b64_bytes = base64.b64decode(b64.json()["data"][0]["b64_json"])
    assert b64_bytes == pad(render("big b64", 1024, 1024, 0, "png"), "png", target)
    downloaded = httpx.get(url.json()["data"][0]["url"], timeout=30).content
    assert downloaded == pad(render("big url", 1024, 1024, 0, "png"), "png", target)
    jpeg_bytes = base64.b64decode(jpeg.json()["data"][0]["b64_json"])
    assert jpeg_bytes == pad(render("big jpeg", 1024, 1024, 0, "jpeg", False, 80), "jpeg", target)
    assert {len(b64_bytes), len(downloaded), len(jpeg_bytes)} == {target}
    assert emu.stats()["billed"]["images"] == 3


def test_async_operation_results_are_padded(emu: Emu) -> None:
    emu.configure(image_min_bytes=300_000)
    r = emu.submit({"prompt": "big async", "size": "256x256", "response_format": "b64_json"})
    seen = emu.poll_until(r.headers["operation-location"], lambda b: b["status"] == "succeeded")
    data = base64.b64decode(seen[-1]["result"]["data"][0]["b64_json"])
    assert data == pad(render("big async", 256, 256, 0, "png"), "png", 300_000)


def test_zero_turns_padding_off_and_bad_values_are_refused(emu: Emu) -> None:
    emu.configure(image_min_bytes=MB)
    emu.configure(image_min_bytes=0)
    r = emu.generate("dall-e-2", {"prompt": "small again", "size": "256x256"})
    assert httpx.get(r.json()["data"][0]["url"]).content == render(
        "small again", 256, 256, 0, "png"
    )
    for bad in (-1, 1.5, 10**12):
        refused = emu.http.put("/_emulator/config", json={"image_min_bytes": bad})
        assert refused.status_code == 400
        assert refused.json()["error"]["message"].startswith("image_min_bytes:")
