"""FLUX on Foundry's BFL provider route: synchronous `{"data": [{"b64_json"}]}` answers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from devstack.emulator.flux import default_seed
from devstack.emulator.images import render
from tests.integration.emulator.support import Emu, b64, b64_image, decode_image, solid_image

REF = b64(solid_image((0, 128, 255), (32, 32)))  # a real (tiny) reference image


def _post(emu: Emu, path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.post(
        f"{emu.base_url}/providers/blackforestlabs/v1/{path}",
        params={"api-version": "preview"},
        headers=headers or {"Authorization": f"Bearer {emu.api_key}"},
        json=body,
        timeout=30,
    )


@pytest.mark.parametrize(
    ("path", "model", "width", "height", "fmt"),
    [
        ("flux-2-pro", "flux.2-pro", 1920, 1088, "jpeg"),  # lower-case deployment name (M1)
        ("flux-2-flex", "FLUX.2-flex", 64, 80, "png"),
        ("flux-kontext-pro", "FLUX.1-Kontext-pro", 1024, 1024, "png"),
        ("flux-pro-1.1", "FLUX-1.1-pro", 1440, 256, "jpeg"),
    ],
)
def test_each_path_answers_b64_of_exactly_the_asked_size_and_format(
    emu: Emu, path: str, model: str, width: int, height: int, fmt: str
) -> None:
    r = _post(
        emu,
        path,
        {
            "model": model,
            "prompt": "a lynx",
            "width": width,
            "height": height,
            "output_format": fmt,
            "seed": 7,
        },
    )

    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"data"}
    [item] = body["data"]
    assert set(item) == {"b64_json"}
    data = b64_image(item)
    image = decode_image(data)
    assert (image.format, image.size) == (fmt.upper(), (width, height))
    assert data == render("a lynx", width, height, 0, fmt, seed=7)


def test_defaults_are_a_jpeg_of_1024_with_the_prompts_seed(emu: Emu) -> None:
    r = _post(emu, "flux-2-pro", {"model": "FLUX.2-pro", "prompt": "default lynx"})

    data = b64_image(r.json()["data"][0])
    image = decode_image(data)
    assert (image.format, image.size) == ("JPEG", (1024, 1024))
    assert data == render("default lynx", 1024, 1024, 0, "jpeg", seed=default_seed("default lynx"))


def test_same_seed_same_image_other_seed_other_image(emu: Emu) -> None:
    def image(seed: int) -> bytes:
        body = {
            "model": "FLUX.2-flex",
            "prompt": "seeded",
            "width": 256,
            "height": 256,
            "seed": seed,
            "guidance": 3.5,
            "steps": 28,
            "safety_tolerance": 5,
        }
        r = _post(emu, "flux-2-flex", body)
        assert r.status_code == 200, r.text
        return b64_image(r.json()["data"][0])

    assert image(1) == image(1)
    assert image(1) != image(2)


def test_unknown_fields_and_input_images_are_accepted(emu: Emu) -> None:
    images = {f"input_image_{i}": REF for i in range(2, 9)}
    r = _post(
        emu,
        "flux-2-pro",
        {
            "model": "FLUX.2-pro",
            "prompt": "refs",
            "input_image": REF,
            **images,
            "image": "ignored",
            "prompt_upsampling": True,
            "num_images": 1,
            "n": 1,
        },
    )
    assert r.status_code == 200, r.text


def test_billed_per_prompt_under_the_deployment(emu: Emu) -> None:
    for _ in range(2):
        assert _post(emu, "flux-pro-1.1", {"model": "flux-1.1-pro", "prompt": "twice"}).is_success

    billed = emu.stats()["billed"]
    assert billed["by_prompt"] == {"twice": {"generations": 2, "images": 2}}
    assert billed["by_deployment"] == {"FLUX-1.1-pro": {"generations": 2, "images": 2}}


def test_rpm_quota_applies(emu: Emu) -> None:
    emu.configure(rpm_per_deployment={"FLUX.2-pro": 1})
    assert _post(emu, "flux-2-pro", {"model": "FLUX.2-pro", "prompt": "q"}).is_success

    r = _post(emu, "flux-2-pro", {"model": "FLUX.2-pro", "prompt": "q"})

    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) >= 1
    assert emu.stats()["billed"]["generations"] == 1


def test_api_key_header_is_refused_401(emu: Emu) -> None:
    r = _post(emu, "flux-2-pro", {"model": "FLUX.2-pro", "prompt": "x"}, **{"api-key": emu.api_key})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "401"


def test_wrong_bearer_is_401(emu: Emu) -> None:
    r = _post(emu, "flux-2-pro", {"model": "FLUX.2-pro", "prompt": "x"}, Authorization="Bearer no")
    assert r.status_code == 401


def test_unknown_path_is_404_and_missing_api_version_is_400(emu: Emu) -> None:
    assert _post(emu, "flux-3-ultra", {"model": "FLUX.2-pro", "prompt": "x"}).status_code == 404
    r = httpx.post(
        f"{emu.base_url}/providers/blackforestlabs/v1/flux-2-pro",
        headers={"Authorization": f"Bearer {emu.api_key}"},
        json={"model": "FLUX.2-pro", "prompt": "x"},
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "MissingApiVersionParameter"


def test_unknown_deployment_is_404_and_another_models_deployment_is_400(emu: Emu) -> None:
    missing = _post(emu, "flux-2-pro", {"model": "nope", "prompt": "x"})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "DeploymentNotFound"
    other = _post(emu, "flux-2-pro", {"model": "FLUX.2-flex", "prompt": "x"})
    assert other.status_code == 400
    assert other.json()["error"]["param"] == "model"


@pytest.mark.parametrize(
    ("path", "model", "extra", "field"),
    [
        ("flux-2-pro", "FLUX.2-pro", {"width": 1000}, "width"),  # not a multiple of 16
        ("flux-2-pro", "FLUX.2-pro", {"width": 48, "height": 64}, "width"),  # under 64
        ("flux-2-pro", "FLUX.2-pro", {"width": 2048, "height": 2064}, "size"),  # over 4 MP
        ("flux-kontext-pro", "FLUX.1-Kontext-pro", {"width": 1056, "height": 1024}, "size"),
        ("flux-pro-1.1", "FLUX-1.1-pro", {"width": 1472}, "width"),
        ("flux-pro-1.1", "FLUX-1.1-pro", {"height": 1000}, "height"),
        ("flux-2-pro", "FLUX.2-pro", {"n": 2}, "n"),
        ("flux-2-pro", "FLUX.2-pro", {"num_images": 2}, "num_images"),
        ("flux-2-pro", "FLUX.2-pro", {"safety_tolerance": 6}, "safety_tolerance"),
        ("flux-pro-1.1", "FLUX-1.1-pro", {"safety_tolerance": 7}, "safety_tolerance"),
        ("flux-2-flex", "FLUX.2-flex", {"guidance": 1.0}, "guidance"),
        ("flux-2-flex", "FLUX.2-flex", {"steps": 51}, "steps"),
        ("flux-2-pro", "FLUX.2-pro", {"input_image_9": "aGk="}, "input_image_9"),
        ("flux-2-flex", "FLUX.2-flex", {"input_image_11": "aGk="}, "input_image_11"),
        ("flux-2-pro", "FLUX.2-pro", {"output_format": "webp"}, "output_format"),
        ("flux-2-pro", "FLUX.2-pro", {"seed": "7"}, "seed"),
        ("flux-2-pro", "FLUX.2-pro", {"prompt": None}, "prompt"),
    ],
)
def test_documented_refusals_name_the_property(
    emu: Emu, path: str, model: str, extra: dict[str, Any], field: str
) -> None:
    r = _post(emu, path, {"model": model, "prompt": "x", **extra})

    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert (err["code"], err["param"]) == ("invalid_request_error", field)
    assert emu.stats()["billed"]["generations"] == 0


def test_flex_takes_ten_input_images_and_kontext_ignores_numbered_ones(emu: Emu) -> None:
    flex = {f"input_image_{i}": REF for i in range(2, 11)}
    ok = _post(
        emu, "flux-2-flex", {"model": "FLUX.2-flex", "prompt": "x", "input_image": REF, **flex}
    )
    assert ok.status_code == 200, ok.text
    kontext = _post(
        emu,
        "flux-kontext-pro",
        {"model": "FLUX.1-Kontext-pro", "prompt": "x", "input_image_12": "not even base64"},
    )
    assert kontext.status_code == 200, kontext.text
