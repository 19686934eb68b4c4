"""gpt-image-2: free `WxH` sizes under its rules, on every route, billed like the others."""

from __future__ import annotations

import pytest

from devstack.emulator.images import render
from tests.integration.emulator.gpt_image_routes import ROUTES, RouteName, invalid, post
from tests.integration.emulator.support import Emu, b64_image, decode_image

FREE_SIZES = ["2048x1152", "3840x2160", "1024x640", "1280x1280", "3840x1280", "864x1536"]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("size", FREE_SIZES)
def test_free_size_renders_at_exactly_that_size(emu: Emu, route: RouteName, size: str) -> None:
    r = post(emu, route, "gpt-image-2", {"prompt": "a wide valley", "size": size})

    assert r.status_code == 200, r.text
    width, height = (int(v) for v in size.split("x"))
    data = b64_image(r.json()["data"][0])
    assert data == render("a wide valley", width, height, 0, "png", False)
    image = decode_image(data)
    assert (image.format, image.size) == ("PNG", (width, height))


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ("1024x1024", (1024, 1024)),
        ("1536x1024", (1536, 1024)),
        ("1024x1536", (1024, 1536)),
        ("auto", (1024, 1024)),
        (None, (1024, 1024)),
    ],
)
def test_standard_sizes_and_auto(emu: Emu, size: str | None, expected: tuple[int, int]) -> None:
    r = post(emu, "deployment", "gpt-image-2", {"prompt": "std", "size": size})

    assert r.status_code == 200, r.text
    assert decode_image(b64_image(r.json()["data"][0])).size == expected


BROKEN: list[tuple[str, str]] = [
    # size, the rule it breaks (each size breaks exactly one rule)
    ("1000x1000", "both edges must be multiples of 16"),
    ("3856x1296", "the long edge must be at most 3840 pixels"),
    ("2560x832", "the long edge must be at most 3 times the short edge (3:1)"),
    ("832x2560", "the long edge must be at most 3 times the short edge (3:1)"),
    ("800x800", "the image must have at least 655,360 pixels (1024x640)"),
    ("3840x2176", "the image must have at most 8,294,400 pixels (3840x2160)"),
]


@pytest.mark.parametrize(("size", "rule"), BROKEN)
def test_each_broken_size_rule_is_a_400_naming_size_and_the_rule(
    emu: Emu, size: str, rule: str
) -> None:
    r = post(emu, "deployment", "gpt-image-2", {"prompt": "p", "size": size})

    assert r.status_code == 400
    assert r.headers["x-ms-error-code"] == "invalidPayload"
    assert r.json() == {
        "error": {
            "code": "invalidPayload",
            "message": invalid("size", f"{size} is not allowed for gpt-image-2: {rule}."),
        }
    }


@pytest.mark.parametrize(("size", "rule"), BROKEN)
def test_broken_size_on_openai_route_is_an_invalid_request_error(
    emu: Emu, size: str, rule: str
) -> None:
    r = post(emu, "openai", "gpt-image-2", {"prompt": "p", "size": size})

    assert r.status_code == 400
    error = r.json()["error"]
    assert (error["type"], error["param"], error["code"]) == (
        "invalid_request_error",
        "size",
        "invalidPayload",
    )
    assert error["message"].endswith(f"{rule}.")


@pytest.mark.parametrize("route", ["azure-v1", "openai"])
def test_broken_size_on_the_other_routes_names_size(emu: Emu, route: RouteName) -> None:
    r = post(emu, route, "gpt-image-2", {"prompt": "p", "size": "1000x1000"})

    assert r.status_code == 400
    assert r.json()["error"]["message"] == invalid(
        "size", "1000x1000 is not allowed for gpt-image-2: both edges must be multiples of 16."
    )


@pytest.mark.parametrize("size", ["big", "2048X1152", "2048x", "x1152", "0x1024", " 2048x1152", 7])
def test_size_that_is_not_wxh_is_refused(emu: Emu, size: object) -> None:
    r = post(emu, "deployment", "gpt-image-2", {"prompt": "p", "size": size})

    assert r.status_code == 400
    assert r.json()["error"]["message"].startswith(invalid("size"))


@pytest.mark.parametrize("model", ["gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5"])
@pytest.mark.parametrize("route", ROUTES)
def test_older_gpt_image_models_keep_their_fixed_sizes(
    emu: Emu, model: str, route: RouteName
) -> None:
    r = post(emu, route, model, {"prompt": "p", "size": "2048x1152"})

    assert r.status_code == 400
    assert r.json()["error"]["message"] == invalid("size")


@pytest.mark.parametrize("quality", ["low", "medium", "high", "auto"])
def test_every_quality_is_accepted(emu: Emu, quality: str) -> None:
    r = post(emu, "deployment", "gpt-image-2", {"prompt": "q", "quality": quality})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": "p", "quality": "hd"}, "quality"),
        ({"prompt": "p", "quality": "xhigh"}, "quality"),  # gpt-image-2.5 only [T]
        ({"prompt": "p", "n": 11}, "n"),
        ({"prompt": "p", "n": 0}, "n"),
        ({"prompt": "x" * 32001}, "prompt"),
        ({"prompt": "p", "response_format": "b64_json"}, "response_format"),
        ({"prompt": "p", "style": "vivid"}, "style"),
    ],
)
def test_gpt_image_2_limits(emu: Emu, body: dict[str, object], field: str) -> None:
    r = post(emu, "deployment", "gpt-image-2", body)

    assert r.status_code == 400
    assert r.json()["error"]["message"] == invalid(field)


def test_ten_images_and_the_longest_prompt(emu: Emu) -> None:
    prompt = "y" * 32000
    r = post(emu, "deployment", "gpt-image-2", {"prompt": prompt, "n": 10, "size": "1024x640"})

    assert r.status_code == 200, r.text
    blobs = [b64_image(item) for item in r.json()["data"]]
    assert blobs == [render(prompt, 1024, 640, i, "png", False) for i in range(10)]


def test_needs_api_version_2025_04_01_preview_on_the_deployment_route(emu: Emu) -> None:
    old = emu.generate("gpt-image-2", {"prompt": "p"}, "2025-03-01-preview")
    assert old.status_code == 400
    assert old.json()["error"]["code"] == "OperationNotSupported"
    assert "gpt-image-2" in old.json()["error"]["message"]
    assert "2025-04-01-preview" in old.json()["error"]["message"]

    assert emu.generate("gpt-image-2", {"prompt": "p"}, "2025-04-01-preview").status_code == 200


def test_is_a_default_deployment_under_its_own_name(emu: Emu) -> None:
    config = emu.http.get("/_emulator/config").json()
    assert config["deployments"]["gpt-image-2"] == "gpt-image-2"


def test_is_billed_like_the_others(emu: Emu) -> None:
    assert post(emu, "deployment", "gpt-image-2", {"prompt": "bill", "n": 3}).status_code == 200
    assert post(emu, "openai", "gpt-image-2", {"prompt": "bill", "size": "2048x1152"}).is_success
    assert post(emu, "deployment", "gpt-image-2", {"prompt": "p", "size": "8x8"}).status_code == 400

    billed = emu.stats()["billed"]
    assert billed["by_deployment"]["gpt-image-2"] == {"generations": 2, "images": 4}
    assert billed["by_prompt"]["bill"] == {"generations": 2, "images": 4}


def test_usage_grows_with_the_pixel_count(emu: Emu) -> None:
    def output_tokens(size: str) -> int:
        r = post(emu, "deployment", "gpt-image-2", {"prompt": "u", "size": size, "quality": "low"})
        usage = r.json()["usage"]
        assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
        return int(usage["output_tokens"])

    assert output_tokens("1024x1024") == 272  # OpenAI's table for the standard sizes
    assert output_tokens("1024x640") < 272 < output_tokens("2048x1152") < output_tokens("3840x2160")


def test_openai_route_echoes_the_free_size(emu: Emu) -> None:
    r = post(emu, "openai", "gpt-image-2", {"prompt": "echo", "size": "2048x1152"})

    body = r.json()
    assert (body["size"], body["output_format"], body["quality"], body["background"]) == (
        "2048x1152",
        "png",
        "auto",
        "auto",
    )
