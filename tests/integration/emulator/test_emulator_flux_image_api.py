"""FLUX on Foundry's OpenAI-style Image API: the deployment route, one image, a signed URL."""

from __future__ import annotations

import httpx
import pytest

from devstack.emulator.images import render
from tests.integration.emulator.support import Emu, decode_image

PREVIEW = "preview"


def test_flux_11_pro_answers_a_url_of_exactly_the_asked_size_and_format(emu: Emu) -> None:
    r = emu.generate(
        "FLUX-1.1-pro",
        {"prompt": "a heron at dawn", "size": "1440x768", "output_format": "jpeg", "n": 1},
        PREVIEW,
    )

    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"created", "data"}
    [item] = body["data"]
    assert set(item) == {"url"}
    assert item["url"].startswith(f"{emu.base_url}/_emulator/images/")
    download = httpx.get(item["url"])
    assert download.status_code == 200
    assert download.headers["content-type"] == "image/jpeg"
    assert download.content == render("a heron at dawn", 1440, 768, 0, "jpeg")
    image = decode_image(download.content)
    assert (image.format, image.size) == ("JPEG", (1440, 768))


def test_kontext_defaults_to_a_1024_png_and_takes_the_dated_api_version(emu: Emu) -> None:
    r = emu.generate("FLUX.1-Kontext-pro", {"prompt": "a kontext fox"}, "2025-04-01-preview")

    assert r.status_code == 200, r.text
    image = decode_image(httpx.get(r.json()["data"][0]["url"]).content)
    assert (image.format, image.size) == ("PNG", (1024, 1024))


def test_bearer_key_works_and_is_billed_per_prompt(emu: Emu) -> None:
    r = httpx.post(
        f"{emu.base_url}/openai/deployments/FLUX-1.1-pro/images/generations",
        params={"api-version": PREVIEW},
        headers={"Authorization": f"Bearer {emu.api_key}"},
        json={"prompt": "billed heron"},
    )
    assert r.status_code == 200, r.text

    billed = emu.stats()["billed"]
    assert billed["by_prompt"] == {"billed heron": {"generations": 1, "images": 1}}
    assert billed["by_deployment"] == {"FLUX-1.1-pro": {"generations": 1, "images": 1}}


def test_wrong_key_is_401(emu: Emu) -> None:
    r = httpx.post(
        f"{emu.base_url}/openai/deployments/FLUX-1.1-pro/images/generations",
        params={"api-version": PREVIEW},
        headers={"api-key": "wrong"},
        json={"prompt": "x"},
    )
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "401"


def _refusal(r: httpx.Response, field: str) -> str:
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert (err["code"], err["type"], err["param"]) == (
        "invalid_request_error",
        "invalid_request_error",
        field,
    )
    message: str = err["message"]
    assert message.startswith(f"Invalid payload: Value for property {field} is invalid.")
    return message


@pytest.mark.parametrize(
    "field", ["style", "quality", "background", "response_format", "seed", "safety_tolerance"]
)
def test_openai_and_bfl_only_parameters_are_refused_by_name(emu: Emu, field: str) -> None:
    r = emu.generate("FLUX-1.1-pro", {"prompt": "x", field: "vivid"}, PREVIEW)

    assert field in _refusal(r, field)
    assert emu.stats()["billed"]["generations"] == 0


def test_n_above_one_is_refused(emu: Emu) -> None:
    r = emu.generate("FLUX.1-Kontext-pro", {"prompt": "x", "n": 2}, PREVIEW)
    _refusal(r, "n")


@pytest.mark.parametrize(
    ("deployment", "size", "rule"),
    [
        ("FLUX-1.1-pro", "1472x1024", "256-1440"),  # edge over 1440
        ("FLUX-1.1-pro", "224x1024", "256-1440"),  # edge under 256
        ("FLUX-1.1-pro", "1000x1024", "multiples of 32"),
        ("FLUX.1-Kontext-pro", "1056x1024", "1,048,576 pixels"),  # over 1 MP
        ("FLUX.1-Kontext-pro", "1000x800", "multiples of 32"),
        ("FLUX.1-Kontext-pro", "big", "WIDTHxHEIGHT"),
    ],
)
def test_size_rules_per_model(emu: Emu, deployment: str, size: str, rule: str) -> None:
    r = emu.generate(deployment, {"prompt": "x", "size": size}, PREVIEW)
    assert rule in _refusal(r, "size")


def test_largest_sizes_pass(emu: Emu) -> None:
    assert emu.generate("FLUX-1.1-pro", {"prompt": "x", "size": "1440x1440"}, PREVIEW).is_success
    ok = emu.generate("FLUX.1-Kontext-pro", {"prompt": "x", "size": "1024x1024"}, PREVIEW)
    assert ok.is_success
    wide = emu.generate("FLUX.1-Kontext-pro", {"prompt": "x", "size": "1344x768"}, PREVIEW)
    assert wide.is_success  # 1,032,192 pixels: under 1 MP


def test_output_format_other_than_png_or_jpeg_is_refused(emu: Emu) -> None:
    r = emu.generate("FLUX-1.1-pro", {"prompt": "x", "output_format": "webp"}, PREVIEW)
    _refusal(r, "output_format")


def test_flux_2_is_not_on_the_image_api(emu: Emu) -> None:
    r = emu.generate("FLUX.2-pro", {"prompt": "x"}, PREVIEW)

    assert r.status_code == 400
    assert r.json()["error"]["code"] == "OperationNotSupported"
    assert "/providers/blackforestlabs/v1/" in r.json()["error"]["message"]


def test_an_old_api_version_is_refused(emu: Emu) -> None:
    r = emu.generate("FLUX-1.1-pro", {"prompt": "x"}, "2024-10-21")
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "OperationNotSupported"


def test_flux_is_not_on_openais_own_api(emu: Emu) -> None:
    r = httpx.post(
        f"{emu.base_url}/v1/images/generations",
        headers={"Authorization": f"Bearer {emu.api_key}"},
        json={"model": "FLUX-1.1-pro", "prompt": "x"},
    )
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "model_not_found"
