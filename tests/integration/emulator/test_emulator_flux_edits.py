"""FLUX reference images (`input_image`, `input_image_2`, …) on Foundry's BFL provider route and
on BFL's own API: decoded, checked, and visible in the output like every other edit."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from PIL import Image

from devstack.emulator.images import render
from tests.integration.emulator.support import (
    Emu,
    b64,
    b64_image,
    decode_image,
    edit_chunk,
    sha256,
    solid_image,
    split_image,
)

RED, GREEN, BLUE = (220, 20, 20), (20, 200, 20), (20, 20, 220)


def near(pixel: tuple[int, ...], colour: tuple[int, ...], tolerance: int = 16) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=False))


def provider(emu: Emu, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{emu.base_url}/providers/blackforestlabs/v1/{path}",
        params={"api-version": "preview"},
        headers={"Authorization": f"Bearer {emu.api_key}"},
        json=body,
        timeout=30,
    )


def bfl_submit(emu: Emu, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{emu.base_url}/v1/{path}", headers={"x-key": emu.api_key}, json=body, timeout=30
    )


def bfl_sample(emu: Emu, submitted: httpx.Response) -> bytes:
    """Poll the task (latency 0: Ready at once) and download its sample."""
    assert submitted.status_code == 200, submitted.text
    polled = httpx.get(submitted.json()["polling_url"], headers={"x-key": emu.api_key}).json()
    assert polled["status"] == "Ready", polled
    sample = httpx.get(polled["result"]["sample"])
    assert sample.status_code == 200
    return sample.content


# --- Foundry's provider route -------------------------------------------------------------------


def test_flux_2_pro_with_two_references_follows_the_first_ones_size(emu: Emu) -> None:
    first, second = split_image((300, 200)), solid_image(GREEN, (64, 64))

    r = provider(
        emu,
        "flux-2-pro",
        {
            "model": "FLUX.2-pro",
            "prompt": "put the cube on the table",
            "input_image": b64(first),
            "input_image_2": f"data:image/png;base64,{b64(second)}",  # a data: URL works too
        },
    )

    assert r.status_code == 200, r.text
    data = b64_image(r.json()["data"][0])
    image = decode_image(data)
    # 300x200 rounded to multiples of 16 (halves up) → 304x208; FLUX's default format is JPEG.
    assert (image.format, image.size) == ("JPEG", (304, 208))
    rgb = image.convert("RGB")
    assert near(rgb.getpixel((60, 100)), RED)
    assert near(rgb.getpixel((250, 100)), BLUE)
    assert near(rgb.getpixel((25, 190)), GREEN)  # the thumbnail, 52 high, bottom left
    assert edit_chunk(data) == {
        "inputs": 2,
        "input_sha256": [sha256(first), sha256(second)],
        "mask_sha256": None,
        "prompt": "put the cube on the table",
    }
    assert emu.stats()["billed"]["edits"] == 1


def test_a_large_first_reference_is_capped_at_four_megapixels(emu: Emu) -> None:
    big = solid_image(RED, (4000, 3000))

    r = provider(emu, "flux-2-pro", {"model": "FLUX.2-pro", "prompt": "x", "input_image": b64(big)})

    size = decode_image(b64_image(r.json()["data"][0])).size
    assert size[0] * size[1] <= 4 * 1024 * 1024
    assert size[0] % 16 == size[1] % 16 == 0
    assert abs(size[0] / size[1] - 4 / 3) < 0.02


def test_width_and_height_when_given_win_over_the_inputs_size(emu: Emu) -> None:
    r = provider(
        emu,
        "flux-2-flex",
        {
            "model": "FLUX.2-flex",
            "prompt": "x",
            "input_image": b64(split_image((300, 200))),
            "width": 512,
            "height": 512,
            "output_format": "png",
        },
    )
    data = b64_image(r.json()["data"][0])
    assert decode_image(data).size == (512, 512)
    assert edit_chunk(data)["inputs"] == 1


def test_flux_11_pro_ignores_input_image_and_just_generates(emu: Emu) -> None:
    r = provider(
        emu,
        "flux-pro-1.1",
        {
            "model": "FLUX-1.1-pro",
            "prompt": "plain",
            "seed": 3,
            "input_image": b64(split_image((64, 64))),
        },
    )

    assert b64_image(r.json()["data"][0]) == render("plain", 1024, 768, 0, "jpeg", seed=3)
    assert emu.stats()["billed"]["edits"] == 0


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        (b64(b"definitely not an image"), "is not a PNG, JPEG or WebP image"),
        ("%%% not base64 %%%", "not valid base64"),
        ("https://example.com/ref.png", "does not fetch image URLs"),
    ],
)
def test_provider_refuses_a_reference_it_cannot_read(emu: Emu, value: str, needle: str) -> None:
    r = provider(emu, "flux-2-pro", {"model": "FLUX.2-pro", "prompt": "x", "input_image_2": value})

    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert (err["code"], err["param"]) == ("invalid_request_error", "input_image_2")
    assert needle in err["message"]
    assert emu.stats()["billed"]["generations"] == 0


def test_provider_refuses_a_reference_over_the_size_limit(emu: Emu) -> None:
    ref = split_image((64, 64))
    emu.configure(bfl_input_image_max_bytes=len(ref) - 1)  # "at most": one byte over

    r = provider(emu, "flux-2-pro", {"model": "FLUX.2-pro", "prompt": "x", "input_image": b64(ref)})

    assert r.status_code == 400
    assert r.json()["error"]["param"] == "input_image"
    assert f"at most {len(ref) - 1:,} bytes" in r.json()["error"]["message"]
    emu.http.post("/_emulator/reset")
    assert emu.configure()["bfl_input_image_max_bytes"] == 20 * 1024 * 1024


def test_provider_kontext_takes_input_image_and_ignores_numbered_ones(emu: Emu) -> None:
    source = split_image((700, 300))  # 7:3, the widest Kontext allows

    r = provider(
        emu,
        "flux-kontext-pro",
        {
            "model": "FLUX.1-Kontext-pro",
            "prompt": "k",
            "input_image": b64(source),
            "input_image_2": b64(solid_image(GREEN)),
        },
    )

    data = b64_image(r.json()["data"][0])
    assert decode_image(data).size == (1536, 640)  # ~1 MP at 7:3, multiples of 32 (floored)
    assert edit_chunk(data)["input_sha256"] == [sha256(source)]


# --- BFL's own API ------------------------------------------------------------------------------


def test_bfl_kontext_edit_follows_the_inputs_aspect_at_about_one_megapixel(emu: Emu) -> None:
    source = split_image((600, 400))

    submitted = bfl_submit(
        emu, "flux-kontext-pro", {"prompt": "bfl kontext", "input_image": b64(source)}
    )

    assert submitted.json()["input_mp"] == pytest.approx(0.24)
    data = bfl_sample(emu, submitted)
    image = decode_image(data)
    assert (image.format, image.size) == ("JPEG", (1248, 832))
    rgb = image.convert("RGB")
    assert near(rgb.getpixel((300, 500)), RED)
    assert near(rgb.getpixel((1000, 500)), BLUE)
    assert edit_chunk(data)["input_sha256"] == [sha256(source)]


@pytest.mark.parametrize(
    ("ratio", "size"), [("1:1", (1024, 1024)), ("16:9", (1344, 768)), ("3:7", (640, 1536))]
)
def test_bfl_kontext_aspect_ratio_sets_the_output(
    emu: Emu, ratio: str, size: tuple[int, int]
) -> None:
    submitted = bfl_submit(
        emu,
        "flux-kontext-pro",
        {"prompt": "r", "input_image": b64(split_image((600, 400))), "aspect_ratio": ratio},
    )
    assert decode_image(bfl_sample(emu, submitted)).size == size


@pytest.mark.parametrize("ratio", ["1:3", "8:3", "wide", "0:1"])
def test_bfl_kontext_aspect_ratio_outside_3_7_to_7_3_is_422(emu: Emu, ratio: str) -> None:
    r = bfl_submit(emu, "flux-kontext-pro", {"prompt": "r", "aspect_ratio": ratio})

    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "aspect_ratio"]


def test_bfl_flux_2_pro_with_two_references_in_order(emu: Emu) -> None:
    first, second = solid_image(RED, (256, 256)), solid_image(BLUE, (128, 64))

    submitted = bfl_submit(
        emu,
        "flux-2-pro",
        {
            "prompt": "two refs",
            "input_image": b64(first),
            "input_image_2": b64(second),
            "output_format": "png",
        },
    )

    data = bfl_sample(emu, submitted)
    image = decode_image(data).convert("RGB")
    assert image.size == (256, 256)
    assert near(image.getpixel((200, 120)), RED)
    assert near(image.getpixel((50, 240)), BLUE)  # thumbnail 64 high, 128 wide
    assert edit_chunk(data)["input_sha256"] == [sha256(first), sha256(second)]
    assert emu.stats()["billed"]["by_deployment"] == {"FLUX.2-pro": {"generations": 1, "images": 1}}


def test_bfl_flex_takes_eight_references_not_ten(emu: Emu) -> None:
    ref = b64(solid_image(GREEN, (16, 16)))
    eight = {"input_image": ref, **{f"input_image_{i}": ref for i in range(2, 9)}}

    assert bfl_submit(emu, "flux-2-flex", {"prompt": "x", **eight}).status_code == 200
    r = bfl_submit(emu, "flux-2-flex", {"prompt": "x", **eight, "input_image_9": ref})

    assert r.status_code == 422
    assert r.json()["detail"] == [
        {
            "loc": ["body", "input_image_9"],
            "msg": "Value error, FLUX.2-flex takes at most 8 input images",
            "type": "value_error",
        }
    ]


def test_bfl_reference_problems_are_422_validation_errors(emu: Emu) -> None:
    emu.configure(bfl_input_image_max_bytes=1000)
    r = bfl_submit(
        emu,
        "flux-2-pro",
        {
            "prompt": "x",
            "input_image": b64(b"\x89PNG\r\n\x1a\n garbage"),
            "input_image_2": b64(Image.new("L", (1, 1)).tobytes() * 2000),
            "input_image_3": "https://example.com/x.png",
            "input_image_9": b64(solid_image(RED)),
        },
    )

    assert r.status_code == 422
    detail = r.json()["detail"]
    assert all(set(d) == {"loc", "msg", "type"} for d in detail)
    by_loc = {tuple(d["loc"]): d["msg"] for d in detail}
    assert set(by_loc) == {
        ("body", "input_image"),
        ("body", "input_image_2"),
        ("body", "input_image_3"),
        ("body", "input_image_9"),
    }
    assert "cannot be decoded" in by_loc[("body", "input_image")]
    assert "at most 1,000 bytes" in by_loc[("body", "input_image_2")]
    assert "does not fetch" in by_loc[("body", "input_image_3")]
    assert "at most 8 input images" in by_loc[("body", "input_image_9")]
    assert emu.stats()["billed"]["generations"] == 0


def test_a_bfl_body_over_the_emulators_cap_is_413(emu: Emu) -> None:
    emu.configure(edit_max_body_bytes=2048)
    r = bfl_submit(emu, "flux-2-pro", {"prompt": "x", "input_image": "A" * 4096})
    assert r.status_code == 413
    assert isinstance(r.json()["detail"], str)
