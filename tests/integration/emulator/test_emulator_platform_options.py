"""The gpt-image options each platform has: webp and moderation only on OpenAI's own API.

Azure documents png/jpeg only ("WEBP isn't supported") and compression for jpeg only; OpenAI adds
webp (compressible, with alpha) and `moderation`. A client tested on one route must be refused
what the other would refuse (image-models-2026.md §2).
"""

from __future__ import annotations

from typing import Any

import pytest

from devstack.emulator.images import render
from tests.integration.emulator.gpt_image_routes import (
    AZURE_ROUTES,
    ROUTES,
    RouteName,
    invalid,
    post,
)
from tests.integration.emulator.support import Emu, b64_image, decode_image

MODELS = ["gpt-image-1", "gpt-image-2"]
WEBP_REFUSED = "WEBP isn't supported on Azure OpenAI: use png or jpeg."


@pytest.mark.parametrize("model", MODELS)
def test_webp_on_openai_route_is_a_real_webp(emu: Emu, model: str) -> None:
    r = post(emu, "openai", model, {"prompt": "a web", "output_format": "webp"})

    assert r.status_code == 200, r.text
    assert r.json()["output_format"] == "webp"
    data = b64_image(r.json()["data"][0])
    assert data == render("a web", 1024, 1024, 0, "webp", False)
    assert decode_image(data).format == "WEBP"


def test_webp_compression_changes_the_bytes(emu: Emu) -> None:
    body = {"prompt": "squeeze", "output_format": "webp", "output_compression": 10}
    r = post(emu, "openai", "gpt-image-2", {**body, "size": "1536x864"})

    assert r.status_code == 200, r.text
    data = b64_image(r.json()["data"][0])
    assert data == render("squeeze", 1536, 864, 0, "webp", False, 10)
    assert data != render("squeeze", 1536, 864, 0, "webp", False)
    assert decode_image(data).size == (1536, 864)


def test_transparent_webp_keeps_its_alpha(emu: Emu) -> None:
    body = {"prompt": "a sticker", "output_format": "webp", "background": "transparent"}
    r = post(emu, "openai", "gpt-image-1.5", body)

    assert r.status_code == 200, r.text
    image = decode_image(b64_image(r.json()["data"][0]))
    assert (image.format, image.mode) == ("WEBP", "RGBA")
    right, bottom = image.width - 1, image.height - 1
    corners = [(0, 0), (right, 0), (0, bottom), (right, bottom)]
    alphas = [image.getchannel("A").getpixel(c) for c in corners]
    assert 0 in alphas  # at least one corner is background, not a shape


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("route", AZURE_ROUTES)
def test_webp_on_azure_is_refused(emu: Emu, route: RouteName, model: str) -> None:
    r = post(emu, route, model, {"prompt": "p", "output_format": "webp"})

    assert r.status_code == 400
    assert r.json() == {
        "error": {"code": "invalidPayload", "message": invalid("output_format", WEBP_REFUSED)}
    }
    assert r.headers["x-ms-error-code"] == "invalidPayload"


@pytest.mark.parametrize("route", ROUTES)
def test_unknown_format_is_refused_everywhere(emu: Emu, route: RouteName) -> None:
    r = post(emu, route, "gpt-image-2", {"prompt": "p", "output_format": "gif"})
    assert r.status_code == 400
    assert r.json()["error"]["message"] == invalid("output_format")


@pytest.mark.parametrize("moderation", ["low", "auto"])
def test_moderation_on_openai_route(emu: Emu, moderation: str) -> None:
    r = post(emu, "openai", "gpt-image-2", {"prompt": "m", "moderation": moderation})
    assert r.status_code == 200, r.text


def test_unknown_moderation_on_openai_route(emu: Emu) -> None:
    r = post(emu, "openai", "gpt-image-2", {"prompt": "m", "moderation": "high"})

    assert r.status_code == 400
    error = r.json()["error"]
    assert (error["param"], error["type"]) == ("moderation", "invalid_request_error")
    assert error["message"] == invalid("moderation")


@pytest.mark.parametrize("moderation", ["low", "auto", "high"])
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("route", AZURE_ROUTES)
def test_moderation_is_not_supported_on_azure(
    emu: Emu, route: RouteName, model: str, moderation: str
) -> None:
    r = post(emu, route, model, {"prompt": "m", "moderation": moderation})

    assert r.status_code == 400
    assert r.json()["error"]["message"] == invalid(
        "moderation", "moderation is not supported on Azure OpenAI."
    )


def test_moderation_null_counts_as_absent_on_azure(emu: Emu) -> None:
    assert post(emu, "deployment", "gpt-image-2", {"prompt": "m", "moderation": None}).is_success


COMPRESSION_OK: list[tuple[RouteName, str]] = [
    ("deployment", "jpeg"),
    ("azure-v1", "jpeg"),
    ("openai", "jpeg"),
    ("openai", "webp"),
]


@pytest.mark.parametrize(("route", "fmt"), COMPRESSION_OK)
@pytest.mark.parametrize("compression", [0, 55, 100])
def test_compression_with_a_lossy_format(
    emu: Emu, route: RouteName, fmt: str, compression: int
) -> None:
    body = {"prompt": "c", "output_format": fmt, "output_compression": compression}
    r = post(emu, route, "gpt-image-2", body)

    assert r.status_code == 200, r.text
    data = b64_image(r.json()["data"][0])
    assert data == render("c", 1024, 1024, 0, fmt, False, compression)


@pytest.mark.parametrize(
    ("route", "body", "detail"),
    [
        (
            "deployment",
            {"output_format": "png"},
            "output_compression applies only to output_format jpeg on Azure OpenAI, not to png.",
        ),
        (
            "azure-v1",
            {},  # png is the default
            "output_compression applies only to output_format jpeg on Azure OpenAI, not to png.",
        ),
        (
            "openai",
            {"output_format": "png"},
            "output_compression applies only to output_format jpeg or webp on OpenAI's API, "
            "not to png.",
        ),
    ],
)
def test_compression_without_a_lossy_format_is_refused(
    emu: Emu, route: RouteName, body: dict[str, Any], detail: str
) -> None:
    r = post(emu, route, "gpt-image-2", {"prompt": "c", "output_compression": 50, **body})

    assert r.status_code == 400
    assert r.json()["error"]["message"] == invalid("output_compression", detail)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("compression", [-1, 101, "50", 2.5])
def test_compression_out_of_range_is_refused(emu: Emu, route: RouteName, compression: Any) -> None:
    body = {"prompt": "c", "output_format": "jpeg", "output_compression": compression}
    r = post(emu, route, "gpt-image-2", body)

    assert r.status_code == 400
    assert r.json()["error"]["message"] == invalid("output_compression")


TRANSPARENT_OK: list[tuple[RouteName, str]] = [
    ("deployment", "png"),
    ("azure-v1", "png"),
    ("openai", "png"),
    ("openai", "webp"),
]


@pytest.mark.parametrize(("route", "fmt"), TRANSPARENT_OK)
def test_transparent_background_with_alpha_formats(emu: Emu, route: RouteName, fmt: str) -> None:
    body = {"prompt": "t", "background": "transparent", "output_format": fmt}
    r = post(emu, route, "gpt-image-2", body)

    assert r.status_code == 200, r.text
    assert decode_image(b64_image(r.json()["data"][0])).mode == "RGBA"


@pytest.mark.parametrize(
    ("route", "detail"),
    [
        ("deployment", "background transparent needs output_format png on Azure OpenAI, not jpeg."),
        ("azure-v1", "background transparent needs output_format png on Azure OpenAI, not jpeg."),
        (
            "openai",
            "background transparent needs output_format png or webp on OpenAI's API, not jpeg.",
        ),
    ],
)
def test_transparent_jpeg_is_refused(emu: Emu, route: RouteName, detail: str) -> None:
    body = {"prompt": "t", "background": "transparent", "output_format": "jpeg"}
    r = post(emu, route, "gpt-image-1", body)

    assert r.status_code == 400
    assert r.json()["error"]["message"] == invalid("background", detail)


@pytest.mark.parametrize("background", ["opaque", "auto"])
def test_opaque_and_auto_backgrounds_go_with_any_format(emu: Emu, background: str) -> None:
    body = {"prompt": "o", "background": background, "output_format": "jpeg"}
    assert post(emu, "deployment", "gpt-image-2", body).status_code == 200


def test_refusals_are_never_billed(emu: Emu) -> None:
    post(emu, "deployment", "gpt-image-2", {"prompt": "p", "output_format": "webp"})
    post(emu, "azure-v1", "gpt-image-2", {"prompt": "p", "moderation": "low"})
    post(emu, "openai", "gpt-image-2", {"prompt": "p", "output_compression": 5})
    assert emu.stats()["billed"]["generations"] == 0
