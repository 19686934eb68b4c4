"""Requests the service refuses are refused here too, with its codes and bodies."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.emulator.support import GPT_IMAGE_VERSION, Emu

G = GPT_IMAGE_VERSION
D = "2024-10-21"
LONG = "x" * 4001

CASES: list[tuple[str, str, dict[str, Any], str]] = [
    # deployment, api-version, body, the property the error names (the bare message; the
    # per-platform rules, whose message says why, are in test_emulator_platform_options.py)
    ("dall-e-3", D, {}, "prompt"),
    ("dall-e-3", D, {"prompt": ""}, "prompt"),
    ("dall-e-3", D, {"prompt": 42}, "prompt"),
    ("dall-e-3", D, {"prompt": LONG}, "prompt"),
    ("dall-e-3", D, {"prompt": "p", "n": 2}, "n"),
    ("dall-e-3", D, {"prompt": "p", "n": "1"}, "n"),
    ("dall-e-3", D, {"prompt": "p", "size": "512x512"}, "size"),
    ("dall-e-3", D, {"prompt": "p", "quality": "low"}, "quality"),
    ("dall-e-3", D, {"prompt": "p", "style": "cartoon"}, "style"),
    ("dall-e-3", D, {"prompt": "p", "response_format": "png"}, "response_format"),
    ("dall-e-3", D, {"prompt": "p", "output_format": "png"}, "output_format"),
    ("dall-e-3", D, {"prompt": "p", "background": "transparent"}, "background"),
    ("dall-e-2", D, {"prompt": "x" * 1001}, "prompt"),
    ("dall-e-2", D, {"prompt": "p", "n": 11}, "n"),
    ("dall-e-2", D, {"prompt": "p", "n": 0}, "n"),
    ("dall-e-2", D, {"prompt": "p", "size": "1792x1024"}, "size"),
    ("dall-e-2", D, {"prompt": "p", "style": "vivid"}, "style"),
    ("gpt-image-1", G, {"prompt": "p", "response_format": "url"}, "response_format"),
    ("gpt-image-1", G, {"prompt": "p", "response_format": "b64_json"}, "response_format"),
    ("gpt-image-1", G, {"prompt": "p", "n": 11}, "n"),
    ("gpt-image-1", G, {"prompt": "p", "n": True}, "n"),
    ("gpt-image-1", G, {"prompt": "p", "size": "1792x1024"}, "size"),
    ("gpt-image-1", G, {"prompt": "p", "quality": "hd"}, "quality"),
    ("gpt-image-1", G, {"prompt": "p", "style": "vivid"}, "style"),
    ("gpt-image-1", G, {"prompt": "p", "output_format": "gif"}, "output_format"),
    ("gpt-image-1", G, {"prompt": "p", "output_compression": 101}, "output_compression"),
    ("gpt-image-1", G, {"prompt": "p", "output_compression": -1}, "output_compression"),
    ("gpt-image-1", G, {"prompt": "p", "background": "blue"}, "background"),
    ("gpt-image-1", G, {"prompt": "x" * 32001}, "prompt"),
    ("gpt-image-1-mini", G, {"prompt": "p", "stream": True, "partial_images": 4}, "partial_images"),
    ("gpt-image-1.5", G, {"prompt": "p", "colour": "red"}, "colour"),
]


@pytest.mark.parametrize(("deployment", "version", "body", "field"), CASES)
def test_invalid_parameter_is_a_400_naming_it(
    emu: Emu, deployment: str, version: str, body: dict[str, Any], field: str
) -> None:
    r = emu.generate(deployment, body, version)

    assert r.status_code == 400, r.text
    assert r.json() == {
        "error": {
            "code": "invalidPayload",
            "message": f"Invalid payload: Value for property {field} is invalid.",
        }
    }
    assert r.headers["x-ms-error-code"] == "invalidPayload"
    assert r.headers["apim-request-id"]


def test_refused_requests_are_never_billed(emu: Emu) -> None:
    for deployment, version, body, _ in CASES[:5]:
        assert emu.generate(deployment, body, version).status_code == 400
    assert emu.stats()["billed"]["generations"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {"prompt": "p", "n": 11},
        {"prompt": "p", "size": "1024x1792"},
        {"prompt": "x" * 1001},
        {"prompt": "p", "quality": "hd"},
    ],
)
def test_async_submit_validates_like_dalle2(emu: Emu, body: dict[str, Any]) -> None:
    r = emu.submit(body)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalidPayload"


def test_async_submit_accepts_ten_images(emu: Emu) -> None:
    assert emu.submit({"prompt": "ten", "n": 10, "size": "256x256"}).status_code == 202


def test_gpt_image_accepts_every_documented_value(emu: Emu) -> None:
    body = {
        "prompt": "p",
        "n": 10,
        "size": "1536x1024",
        "quality": "high",
        "output_format": "jpeg",
        "output_compression": 50,
        "background": "opaque",
        "user": "someone",
    }
    r = emu.generate("gpt-image-1", body, G)
    assert r.status_code == 200
    assert len(r.json()["data"]) == 10


@pytest.mark.parametrize(
    "path",
    [
        "/openai/deployments/dall-e-3/images/generations",
        "/openai/images/generations:submit",
    ],
)
def test_api_version_is_required_on_azure_routes(emu: Emu, path: str) -> None:
    r = emu.http.post(path, json={"prompt": "p"})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "MissingApiVersionParameter"
    assert r.headers["x-ms-error-code"] == "MissingApiVersionParameter"


def test_api_version_is_required_to_poll(emu: Emu) -> None:
    location = emu.submit({"prompt": "p"}).headers["operation-location"]
    r = emu.http.get(location.split("?")[0])
    assert r.status_code == 400


def test_gpt_image_needs_a_recent_api_version(emu: Emu) -> None:
    r = emu.generate("gpt-image-1", {"prompt": "p"}, "2024-10-21")
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "OperationNotSupported"
    assert "gpt-image-1" in r.json()["error"]["message"]


def test_unknown_deployment_is_404(emu: Emu) -> None:
    r = emu.generate("my-missing-deployment", {"prompt": "p"})
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "DeploymentNotFound"
    assert r.json()["error"]["message"].startswith(
        "The API deployment for this resource does not exist."
    )


def test_body_that_is_not_json_is_400(emu: Emu) -> None:
    r = emu.http.post(
        "/openai/deployments/dall-e-3/images/generations",
        params={"api-version": D},
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalidPayload"
