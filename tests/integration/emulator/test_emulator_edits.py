"""`images/edits` on Azure's deployment and v1 routes and OpenAI's own: multipart (and OpenAI's
JSON), the documented limits, and an output that visibly derives from its inputs.

An edit's output is the first input stretched to the output size, further inputs as thumbnails
along the bottom, magenta where the mask is transparent, and an `emulator-edit` chunk naming the
inputs by sha256: so every test here can tell which inputs reached the service, in which order.
"""

from __future__ import annotations

import io
import os
from typing import Any, Literal

import httpx
import pytest
from PIL import Image

from devstack.emulator import read_meta, render_edit
from tests.integration.emulator.support import (
    AZURE_VERSION,
    GPT_IMAGE_VERSION,
    Emu,
    b64,
    b64_image,
    decode_image,
    edit_chunk,
    sha256,
    solid_image,
    split_image,
)
from tests.pictures import mask_png, noise_png

Route = Literal["deployment", "azure-v1", "openai"]
ROUTES: tuple[Route, ...] = ("deployment", "azure-v1", "openai")
RED, GREEN, BLUE, GREY = (220, 20, 20), (20, 200, 20), (20, 20, 220), (120, 120, 120)
MAGENTA = (255, 0, 255)
Files = list[tuple[str, tuple[str, bytes, str]]]


def fields_only(**fields: str) -> list[tuple[str, tuple[None, bytes]]]:
    """Form fields as multipart parts (httpx would send them urlencoded without a file)."""
    return [(name, (None, value.encode())) for name, value in fields.items()]


def files(*images: bytes, field: str = "image", mask: bytes | None = None) -> Files:
    parts: Files = [(field, (f"in{i}.png", data, "image/png")) for i, data in enumerate(images)]
    if mask is not None:
        parts.append(("mask", ("mask.png", mask, "image/png")))
    return parts


def post_edit(
    emu: Emu,
    route: Route,
    model: str,
    data: dict[str, Any],
    parts: Any,
    api_version: str = GPT_IMAGE_VERSION,
    **kw: Any,
) -> httpx.Response:
    """A multipart edit on ``route`` with that route's auth."""
    form = {k: str(v) for k, v in data.items()}
    if route == "deployment":
        return emu.http.post(
            f"/openai/deployments/{model}/images/edits",
            params={"api-version": api_version},
            data=form,
            files=parts,
            **kw,
        )
    if route == "azure-v1":
        return emu.http.post(
            "/openai/v1/images/edits", data={"model": model, **form}, files=parts, **kw
        )
    kw["headers"] = {"Authorization": f"Bearer {emu.api_key}", **kw.get("headers", {})}
    return emu.http.post("/v1/images/edits", data={"model": model, **form}, files=parts, **kw)


def openai_json(emu: Emu, body: dict[str, Any]) -> httpx.Response:
    return emu.http.post(
        "/v1/images/edits", json=body, headers={"Authorization": f"Bearer {emu.api_key}"}
    )


def near(pixel: tuple[int, ...], colour: tuple[int, ...], tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=False))


def only_image(r: httpx.Response) -> bytes:
    assert r.status_code == 200, r.text
    [item] = r.json()["data"]
    return b64_image(item)


def refusal(r: httpx.Response, param: str, *needles: str) -> dict[str, Any]:
    """A 400 naming ``param`` (Azure and OpenAI shapes alike carry it for edits)."""
    assert r.status_code == 400, r.text
    err: dict[str, Any] = r.json()["error"]
    assert (err["code"], err["param"], err["type"]) == (
        "invalidPayload",
        param,
        "invalid_request_error",
    )
    assert err["message"].startswith(f"Invalid payload: Value for property {param} is invalid.")
    for needle in needles:
        assert needle in err["message"]
    return err


# --- happy paths --------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES)
def test_one_image_edit_is_the_input_stretched_to_the_nearest_standard_size(
    emu: Emu, route: Route
) -> None:
    source = split_image((600, 400))  # 3:2 → 1536x1024

    r = post_edit(emu, route, "gpt-image-1", {"prompt": "make it autumn"}, files(source))

    assert r.status_code == 200, r.text
    body = r.json()
    assert body["usage"]["input_tokens_details"]["image_tokens"] > 0
    if route == "openai":
        assert (body["size"], body["output_format"], body["background"]) == (
            "1536x1024",
            "png",
            "auto",
        )
    else:
        assert set(body) == {"created", "data", "usage"}
    data = only_image(r)
    image = decode_image(data).convert("RGB")
    assert (decode_image(data).format, image.size) == ("PNG", (1536, 1024))
    assert near(image.getpixel((300, 600)), RED)  # left half stays red…
    assert near(image.getpixel((1200, 600)), BLUE)  # …right half blue
    assert edit_chunk(data) == {
        "inputs": 1,
        "input_sha256": [sha256(source)],
        "mask_sha256": None,
        "prompt": "make it autumn",
    }
    billed = emu.stats()["billed"]
    assert (billed["generations"], billed["images"], billed["edits"]) == (1, 1, 1)
    assert billed["by_deployment"] == {"gpt-image-1": {"generations": 1, "images": 1}}


def test_the_bytes_are_exactly_render_edit_and_the_same_every_time(emu: Emu) -> None:
    source = split_image((500, 700))  # portrait → 1024x1536

    first = only_image(
        post_edit(emu, "deployment", "gpt-image-1.5", {"prompt": "p"}, files(source))
    )
    again = only_image(
        post_edit(emu, "deployment", "gpt-image-1.5", {"prompt": "p"}, files(source))
    )

    assert first == again == render_edit([source], None, "p", 1024, 1536)
    assert read_meta(first) == edit_chunk(first)
    generated = b64_image(
        emu.generate("gpt-image-1.5", {"prompt": "p"}, GPT_IMAGE_VERSION).json()["data"][0]
    )
    assert read_meta(generated) is None  # a generation carries no edit record


@pytest.mark.parametrize("field", ["image", "image[]"])
@pytest.mark.parametrize("route", ROUTES)
def test_several_images_arrive_in_order_as_thumbnails_along_the_bottom(
    emu: Emu, route: Route, field: str
) -> None:
    base, second, third = (solid_image(c, (64, 64)) for c in (RED, GREEN, BLUE))

    r = post_edit(
        emu, route, "gpt-image-1", {"prompt": "combine"}, files(base, second, third, field=field)
    )

    data = only_image(r)
    image = decode_image(data).convert("RGB")
    assert image.size == (1024, 1024)
    assert near(image.getpixel((512, 500)), RED)  # the first image fills the picture
    assert near(image.getpixel((100, 900)), GREEN)  # thumbnails 256 high: second at x 0-255
    assert near(image.getpixel((400, 900)), BLUE)  # third at x 256-511
    assert near(image.getpixel((700, 900)), RED)  # no fourth
    chunk = edit_chunk(data)
    assert chunk["inputs"] == 3
    assert chunk["input_sha256"] == [sha256(base), sha256(second), sha256(third)]


def test_image_and_image_brackets_can_be_mixed_and_keep_the_sent_order(emu: Emu) -> None:
    a, b, c = (solid_image(col, (32, 32)) for col in (RED, GREEN, BLUE))
    parts = [*files(a), *files(b, field="image[]"), *files(c)]

    data = only_image(post_edit(emu, "deployment", "gpt-image-1", {"prompt": "mix"}, parts))

    assert edit_chunk(data)["input_sha256"] == [sha256(a), sha256(b), sha256(c)]


@pytest.mark.parametrize("route", ROUTES)
def test_a_masked_edit_is_magenta_where_the_mask_is_transparent(emu: Emu, route: Route) -> None:
    source = solid_image(GREY, (512, 512))
    mask = mask_png((512, 512), (0, 0, 256, 512))  # left half transparent

    data = only_image(
        post_edit(emu, route, "gpt-image-1", {"prompt": "fill"}, files(source, mask=mask))
    )

    image = decode_image(data).convert("RGB")
    assert image.getpixel((200, 600)) == MAGENTA
    assert near(image.getpixel((800, 600)), GREY)
    assert edit_chunk(data)["mask_sha256"] == sha256(mask)


def test_the_mask_applies_to_the_first_image_only_when_there_are_several(emu: Emu) -> None:
    base, ref = solid_image(GREY, (64, 64)), solid_image(GREEN, (64, 64))
    mask = mask_png((64, 64), (32, 0, 64, 64))  # right half

    data = only_image(
        post_edit(emu, "deployment", "gpt-image-1", {"prompt": "m"}, files(base, ref, mask=mask))
    )

    image = decode_image(data).convert("RGB")
    assert image.getpixel((900, 500)) == MAGENTA
    assert near(image.getpixel((100, 500)), GREY)
    assert near(image.getpixel((100, 900)), GREEN)  # the thumbnail is drawn over it, unmasked


def test_size_quality_format_and_n_are_honoured(emu: Emu) -> None:
    r = post_edit(
        emu,
        "openai",
        "gpt-image-1",
        {
            "prompt": "shapes",
            "size": "1024x1536",
            "quality": "low",
            "output_format": "jpeg",
            "output_compression": 50,
            "n": 2,
            "input_fidelity": "high",
        },
        files(split_image()),
    )

    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["size"], body["quality"], body["output_format"]) == ("1024x1536", "low", "jpeg")
    blobs = [b64_image(item) for item in body["data"]]
    assert [decode_image(b).format for b in blobs] == ["JPEG", "JPEG"]
    assert [decode_image(b).size for b in blobs] == [(1024, 1536)] * 2
    assert blobs[0] != blobs[1]  # each labelled with its index
    assert edit_chunk(blobs[0])["inputs"] == 1  # the JPEG carries the same record as a comment
    assert read_meta(blobs[0]) == edit_chunk(blobs[0])
    assert emu.stats()["billed"]["images"] == 2


def test_a_transparent_background_keeps_the_inputs_alpha(emu: Emu) -> None:
    source = solid_image((10, 10, 10, 0), (64, 64), mode="RGBA")

    data = only_image(
        post_edit(
            emu,
            "deployment",
            "gpt-image-1",
            {"prompt": "t", "background": "transparent"},
            files(source),
        )
    )

    image = decode_image(data)
    assert image.mode == "RGBA"
    assert image.getpixel((500, 600))[3] == 0


def test_a_jpeg_sent_as_image_png_is_read_by_its_bytes(emu: Emu) -> None:
    jpeg = split_image(fmt="JPEG")  # the part says image/png; the bytes say JPEG

    data = only_image(post_edit(emu, "deployment", "gpt-image-1", {"prompt": "j"}, files(jpeg)))

    assert edit_chunk(data)["input_sha256"] == [sha256(jpeg)]


def test_webp_is_accepted_on_openai_but_not_on_azure(emu: Emu) -> None:
    webp = solid_image(GREEN, (64, 64), fmt="WEBP")

    assert post_edit(emu, "openai", "gpt-image-1", {"prompt": "w"}, files(webp)).status_code == 200
    azure = post_edit(emu, "deployment", "gpt-image-1", {"prompt": "w"}, files(webp))
    refusal(azure, "image", "WebP", "PNG, JPEG")


def test_a_20_mb_input_is_accepted(emu: Emu) -> None:
    noise = Image.frombytes("RGB", (2600, 2600), os.urandom(2600 * 2600 * 3))
    out = io.BytesIO()
    noise.save(out, "PNG", compress_level=0)
    big = out.getvalue()
    assert len(big) > 20_000_000

    data = only_image(post_edit(emu, "deployment", "gpt-image-1", {"prompt": "big"}, files(big)))

    assert edit_chunk(data)["input_sha256"] == [sha256(big)]


def test_gpt_image_2_takes_a_free_size(emu: Emu) -> None:
    data = only_image(
        post_edit(
            emu,
            "deployment",
            "gpt-image-2",
            {"prompt": "wide", "size": "2048x1152"},
            files(split_image()),
        )
    )
    assert decode_image(data).size == (2048, 1152)


# --- OpenAI's JSON body -------------------------------------------------------------------------


def _data_url(data: bytes) -> str:
    return f"data:image/png;base64,{b64(data)}"


def test_openai_json_edit_with_data_urls_and_a_mask(emu: Emu) -> None:
    base, ref = solid_image(GREY, (128, 128)), solid_image(BLUE, (128, 128))
    mask = mask_png((128, 128), (0, 64, 128, 128))  # bottom half

    r = openai_json(
        emu,
        {
            "prompt": "json edit",
            "images": [{"image_url": _data_url(base)}, {"image_url": _data_url(ref)}],
            "mask": {"image_url": _data_url(mask)},
            "moderation": "low",
        },
    )

    data = only_image(r)
    chunk = edit_chunk(data)
    assert (chunk["input_sha256"], chunk["mask_sha256"]) == (
        [sha256(base), sha256(ref)],
        sha256(mask),
    )
    image = decode_image(data).convert("RGB")
    assert near(image.getpixel((512, 400)), GREY)
    assert image.getpixel((900, 650)) == MAGENTA
    assert near(image.getpixel((100, 900)), BLUE)
    # No model: the JSON body's default, gpt-image-1.5.
    assert emu.stats()["billed"]["by_deployment"] == {
        "gpt-image-1.5": {"generations": 1, "images": 1}
    }


@pytest.mark.parametrize(
    ("ref", "needle"),
    [
        ({"file_id": "file-abc123"}, "Files API"),
        ({"image_url": "https://example.com/cat.png"}, "does not fetch"),
        ({"image_url": "data:image/png;base64,@@@"}, "data: URL"),
        ({"image_url": "data:,x", "file_id": "f"}, "exactly one"),
    ],
)
def test_openai_json_refs_the_emulator_cannot_use_are_refused(
    emu: Emu, ref: dict[str, str], needle: str
) -> None:
    r = openai_json(emu, {"model": "gpt-image-1", "prompt": "x", "images": [ref]})

    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert (err["param"], err["type"]) == ("images[0]", "invalid_request_error")
    assert needle in err["message"]
    assert emu.stats()["billed"]["generations"] == 0


def test_openai_json_names_the_failing_reference_by_index(emu: Emu) -> None:
    gif = b"GIF89a" + b"\x00" * 32
    images = [{"image_url": _data_url(solid_image(RED))}, {"image_url": _data_url(gif)}]

    r = openai_json(emu, {"model": "gpt-image-1", "prompt": "x", "images": images})

    refusal(r, "images[1]", "not an image of a known format")


def test_openai_json_without_images_is_refused(emu: Emu) -> None:
    refusal(openai_json(emu, {"prompt": "x"}), "images")


# --- documented refusals ------------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES)
def test_more_than_16_images_is_refused(emu: Emu, route: Route) -> None:
    tiny = solid_image(RED, (8, 8))

    r = post_edit(emu, route, "gpt-image-1", {"prompt": "x"}, files(*[tiny] * 17, field="image[]"))

    refusal(r, "image", "17 images", "at most 16")
    assert emu.stats()["billed"]["generations"] == 0


def test_sixteen_images_are_accepted(emu: Emu) -> None:
    tiny = solid_image(RED, (8, 8))
    r = post_edit(emu, "deployment", "gpt-image-1", {"prompt": "x"}, files(*[tiny] * 16))
    assert edit_chunk(only_image(r))["inputs"] == 16


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        (b"GIF89a" + b"\x00" * 64, "not an image of a known format"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "cannot be decoded"),
        (split_image()[:400], "cannot be decoded"),  # a truncated PNG: its header reads fine
    ],
)
@pytest.mark.parametrize("route", ["deployment", "openai"])
def test_a_file_that_is_not_a_usable_image_is_refused(
    emu: Emu, route: Route, payload: bytes, needle: str
) -> None:
    r = post_edit(emu, route, "gpt-image-1", {"prompt": "x"}, files(payload))
    refusal(r, "image", needle)


def test_the_failing_image_is_named_by_position(emu: Emu) -> None:
    good = solid_image(RED, (8, 8))
    r = post_edit(emu, "deployment", "gpt-image-1", {"prompt": "x"}, files(good, b"nope"))
    refusal(r, "image", "image 2 is not an image")


def test_an_image_over_the_size_limit_is_refused(emu: Emu) -> None:
    small, large = solid_image(RED, (8, 8)), split_image()
    emu.configure(edit_image_max_bytes=len(large))  # each image must be *under* the limit

    assert post_edit(emu, "deployment", "gpt-image-1", {"prompt": "x"}, files(small)).is_success
    r = post_edit(emu, "deployment", "gpt-image-1", {"prompt": "x"}, files(small, large))
    refusal(r, "image", "image 2", f"under {len(large):,} bytes")
    assert emu.configure()["edit_image_max_bytes"] == len(large)
    emu.http.post("/_emulator/reset")
    assert emu.configure()["edit_image_max_bytes"] == 50 * 1024 * 1024  # 50 MiB by default


def test_a_mask_over_the_size_limit_is_refused(emu: Emu) -> None:
    mask = mask_png((64, 64), (0, 0, 8, 8))
    emu.configure(edit_mask_max_bytes=len(mask))
    r = post_edit(
        emu, "deployment", "gpt-image-1", {"prompt": "x"}, files(solid_image(RED), mask=mask)
    )
    refusal(r, "mask", f"under {len(mask):,} bytes")


@pytest.mark.parametrize(
    ("mask", "needle"),
    [
        (mask_png((32, 32), (0, 0, 8, 8)), "must have the same dimensions"),
        (mask_png((64, 64), (0, 0, 8, 8), mode="RGB"), "no alpha channel"),
        (split_image((64, 64), fmt="JPEG"), "must be a PNG"),
    ],
)
@pytest.mark.parametrize("route", ROUTES)
def test_a_mask_of_the_wrong_kind_is_refused(
    emu: Emu, route: Route, mask: bytes, needle: str
) -> None:
    r = post_edit(
        emu, route, "gpt-image-1", {"prompt": "x"}, files(solid_image(RED, (64, 64)), mask=mask)
    )
    refusal(r, "mask", needle)


def test_input_fidelity_is_refused_on_mini_only(emu: Emu) -> None:
    source = files(solid_image(RED))
    mini = post_edit(
        emu, "deployment", "gpt-image-1-mini", {"prompt": "x", "input_fidelity": "high"}, source
    )
    refusal(mini, "input_fidelity", "gpt-image-1-mini")
    for model in ("gpt-image-1", "gpt-image-1.5", "gpt-image-2"):
        ok = post_edit(emu, "deployment", model, {"prompt": "x", "input_fidelity": "low"}, source)
        assert ok.status_code == 200, ok.text
    bad = post_edit(
        emu, "deployment", "gpt-image-1", {"prompt": "x", "input_fidelity": "max"}, source
    )
    refusal(bad, "input_fidelity")


@pytest.mark.parametrize("route", ROUTES)
def test_a_missing_prompt_is_refused(emu: Emu, route: Route) -> None:
    refusal(post_edit(emu, route, "gpt-image-1", {}, files(solid_image(RED))), "prompt")


@pytest.mark.parametrize("route", ROUTES)
def test_no_image_is_refused(emu: Emu, route: Route) -> None:
    r = post_edit(emu, route, "gpt-image-1", {}, fields_only(prompt="x", user="u"))
    refusal(r, "image", "required")


@pytest.mark.parametrize(
    ("field", "value"),
    [("response_format", "b64_json"), ("n", "11"), ("size", "1792x1024"), ("moderation", "low")],
)
def test_generation_rules_apply_to_the_form_fields(emu: Emu, field: str, value: str) -> None:
    r = post_edit(
        emu, "deployment", "gpt-image-1", {"prompt": "x", field: value}, files(solid_image(RED))
    )
    refusal(r, field)


def test_a_json_body_on_azure_is_refused_as_not_multipart(emu: Emu) -> None:
    for path, params in (
        ("/openai/deployments/gpt-image-1/images/edits", {"api-version": GPT_IMAGE_VERSION}),
        ("/openai/v1/images/edits", {}),
    ):
        r = emu.http.post(
            path,
            params=params,
            json={"model": "gpt-image-1", "prompt": "x", "image": b64(solid_image(RED))},
        )
        refusal(r, "body", "multipart/form-data", "application/json")
        assert r.headers["x-ms-error-code"] == "invalidPayload"


def test_the_v1_route_needs_the_model_field(emu: Emu) -> None:
    r = emu.http.post(
        "/openai/v1/images/edits", data={"prompt": "x"}, files=files(solid_image(RED))
    )
    refusal(r, "model", "deployment name")


def test_a_body_over_the_emulators_cap_is_413(emu: Emu) -> None:
    emu.configure(edit_max_body_bytes=4096)
    big = noise_png((64, 64))
    assert len(big) > 4096

    for route in ROUTES:
        r = post_edit(emu, route, "gpt-image-1", {"prompt": "x"}, files(big))
        assert r.status_code == 413, r.text
        assert "4,096 bytes" in r.json()["error"]["message"]


# --- the shared pipeline: deployment, api-version, quota, faults --------------------------------


def test_an_api_version_before_gpt_image_is_refused(emu: Emu) -> None:
    r = post_edit(
        emu, "deployment", "gpt-image-1", {"prompt": "x"}, files(solid_image(RED)), AZURE_VERSION
    )

    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "OperationNotSupported"
    assert "imagesEdit" in err["message"]
    assert "2025-04-01-preview" in err["message"]


@pytest.mark.parametrize(
    ("deployment", "needle"),
    [
        ("dall-e-3", "gpt-image"),
        ("dall-e-2", "gpt-image"),
        ("FLUX.2-pro", "/providers/blackforestlabs/v1/"),
        ("FLUX-1.1-pro", "does not edit images"),
    ],
)
def test_models_without_image_api_edits_are_operation_not_supported(
    emu: Emu, deployment: str, needle: str
) -> None:
    r = post_edit(
        emu, "deployment", deployment, {"prompt": "x"}, files(solid_image(RED)), "preview"
    )

    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "OperationNotSupported"
    assert needle in err["message"]
    assert emu.stats()["billed"]["generations"] == 0


def test_openai_refuses_dall_e_and_does_not_know_flux(emu: Emu) -> None:
    dalle = post_edit(emu, "openai", "dall-e-3", {"prompt": "x"}, files(solid_image(RED)))
    assert dalle.status_code == 400
    assert (dalle.json()["error"]["code"], dalle.json()["error"]["param"]) == (
        "invalid_value",
        "model",
    )
    flux = post_edit(emu, "openai", "FLUX.1-Kontext-pro", {"prompt": "x"}, files(solid_image(RED)))
    assert flux.status_code == 404


def test_auth_api_version_deployment_and_retirement_come_first(emu: Emu) -> None:
    source = files(solid_image(RED))
    wrong_key = post_edit(
        emu, "deployment", "gpt-image-1", {"prompt": "x"}, source, headers={"api-key": "no"}
    )
    assert wrong_key.status_code == 401
    no_version = emu.http.post(
        "/openai/deployments/gpt-image-1/images/edits", data={"prompt": "x"}, files=source
    )
    assert no_version.json()["error"]["code"] == "MissingApiVersionParameter"
    missing = post_edit(emu, "deployment", "nope", {"prompt": "x"}, source)
    assert missing.json()["error"]["code"] == "DeploymentNotFound"
    emu.configure(retired_models=["gpt-image-1"])
    for route in ROUTES:
        retired = post_edit(emu, route, "gpt-image-1", {"prompt": "x"}, source)
        assert retired.status_code in (400, 404)
        assert retired.json()["error"]["code"] in ("DeploymentNotFound", "model_not_found")
    bearer = post_edit(
        emu,
        "openai",
        "gpt-image-1.5",
        {"prompt": "x"},
        source,
        headers={"Authorization": "Bearer no"},
    )
    assert bearer.status_code == 401


def test_edits_share_the_deployments_quota_with_generations(emu: Emu) -> None:
    emu.configure(rpm_per_deployment={"gpt-image-1": 1})
    assert emu.generate("gpt-image-1", {"prompt": "gen"}, GPT_IMAGE_VERSION).status_code == 200

    r = post_edit(emu, "deployment", "gpt-image-1", {"prompt": "edit"}, files(solid_image(RED)))

    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) >= 1
    assert "ImageEdits_Create" in r.json()["error"]["message"]
    assert emu.stats()["billed"]["edits"] == 0


def test_injected_faults_and_the_content_filter_apply(emu: Emu) -> None:
    emu.configure(error_rate_503=1.0)
    r = post_edit(emu, "deployment", "gpt-image-1", {"prompt": "x"}, files(solid_image(RED)))
    assert r.status_code == 503
    emu.configure(error_rate_503=0.0, content_filter_words=["forbidden"])
    r = post_edit(
        emu, "openai", "gpt-image-1", {"prompt": "a forbidden edit"}, files(solid_image(RED))
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "content_policy_violation"
    assert emu.stats()["billed"]["generations"] == 0


# --- FLUX.1-Kontext-pro on Foundry's Image API --------------------------------------------------


def test_kontext_image_api_edit_answers_a_url_of_the_input_at_about_one_megapixel(
    emu: Emu,
) -> None:
    source = split_image((600, 400))  # 3:2 at ~1 MP, multiples of 32 → 1248x832

    r = post_edit(
        emu,
        "deployment",
        "FLUX.1-Kontext-pro",
        {"prompt": "kontext", "n": 1},
        files(source),
        "preview",
    )

    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"created", "data"}
    [item] = body["data"]
    assert set(item) == {"url"}
    download = httpx.get(item["url"])
    assert (download.status_code, download.headers["content-type"]) == (200, "image/png")
    image = decode_image(download.content).convert("RGB")
    assert image.size == (1248, 832)
    assert near(image.getpixel((300, 500)), RED)
    assert near(image.getpixel((1000, 500)), BLUE)
    assert edit_chunk(download.content)["input_sha256"] == [sha256(source)]
    assert emu.stats()["billed"]["by_deployment"] == {
        "FLUX.1-Kontext-pro": {"generations": 1, "images": 1}
    }


def test_kontext_image_api_edit_takes_a_size_and_jpeg(emu: Emu) -> None:
    r = post_edit(
        emu,
        "azure-v1",
        "FLUX.1-Kontext-pro",
        {"prompt": "k", "size": "1024x1024", "output_format": "jpeg"},
        files(split_image()),
    )

    download = httpx.get(r.json()["data"][0]["url"])
    image = decode_image(download.content)
    assert (image.format, image.size) == ("JPEG", (1024, 1024))


@pytest.mark.parametrize(
    ("parts", "data", "param"),
    [
        (files(solid_image(RED), solid_image(BLUE)), {"prompt": "x"}, "image"),
        (files(solid_image(RED), mask=mask_png((64, 64), (0, 0, 8, 8))), {"prompt": "x"}, "mask"),
        (files(solid_image(RED)), {"prompt": "x", "quality": "high"}, "quality"),
        (files(solid_image(RED)), {"prompt": "x", "n": 2}, "n"),
        (files(b"not an image"), {"prompt": "x"}, "image"),
        (files(solid_image(RED)), {}, "prompt"),
        (fields_only(prompt="x"), {}, "image"),
    ],
)
def test_kontext_image_api_edit_refusals_name_the_property(
    emu: Emu, parts: Any, data: dict[str, Any], param: str
) -> None:
    r = post_edit(emu, "deployment", "FLUX.1-Kontext-pro", data, parts, "preview")

    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert (err["code"], err["param"]) == ("invalid_request_error", param)
    assert emu.stats()["billed"]["generations"] == 0
