"""Every FLUX family end to end on the devstack, on each route the emulator serves, under the
names the devstack configures by default (devstack.launch.devstack_models): Foundry's Image API
(URL replies, copied), Foundry's BFL provider route (base64) and Black Forest Labs' own
asynchronous API (`bfl-*`: submit, poll on durable timers, copy the sample)."""

from __future__ import annotations

import httpx
import pytest

from shared.storage.formats import dimensions

from .conftest import wait_for_result

BADGER = "a badger wearing a tuxedo"
JPEG = b"\xff\xd8\xff"
PNG = b"\x89PNG\r\n\x1a\n"

# model → the request's options beyond the prompt, and the format the stored blob must have.
# The Image API takes prompt, n and size only: its images are the job's default format, png.
CASES: dict[str, tuple[dict[str, str], bytes, str]] = {
    "FLUX-1.1-pro": ({"size": "1024x768"}, PNG, "image/png"),
    "FLUX.1-Kontext-pro": ({"size": "1024x768"}, PNG, "image/png"),
    "FLUX.2-pro": ({"size": "1024x768", "output_format": "jpeg"}, JPEG, "image/jpeg"),
    "FLUX.2-flex": ({"size": "1440x816", "output_format": "png"}, PNG, "image/png"),
    "bfl-FLUX.2-pro": ({"size": "1024x768", "output_format": "jpeg"}, JPEG, "image/jpeg"),
    "bfl-FLUX.2-flex": ({"size": "1440x816", "output_format": "png"}, PNG, "image/png"),
    "bfl-FLUX.1-Kontext-pro": ({"size": "1024x768", "output_format": "jpeg"}, JPEG, "image/jpeg"),
    "bfl-FLUX-1.1-pro": ({"size": "1024x768", "output_format": "png"}, PNG, "image/png"),
}


def _run(stack, body: dict[str, object]) -> httpx.Response:
    with httpx.Client(timeout=30) as client:
        r = client.post(f"{stack.api_url}/images", json=body)
        assert r.status_code == 202, r.text
        return wait_for_result(client, r.json()["statusQueryGetUri"], timeout=120)


@pytest.mark.parametrize("model", list(CASES))
def test_each_flux_model_stores_an_image_of_the_asked_size_and_format(stack, model):
    options, magic, content_type = CASES[model]
    done = _run(stack, {"prompt": f"{BADGER} by {model}", "model": model, **options})
    assert done.status_code == 200, done.text
    result = done.json()
    assert result["status"] == "succeeded", result
    [image] = result["images"]
    blob = httpx.get(image["url"], timeout=30)
    assert blob.status_code == 200
    assert blob.content.startswith(magic)
    assert image["content_type"] == content_type
    width, height = (int(x) for x in options["size"].split("x"))
    assert dimensions(blob.content) == (width, height)
    assert (image["width"], image["height"]) == (width, height)


def test_bfl_jobs_polled_their_task_and_kept_no_sample_url(stack):
    """The `bfl-*` job really ran the asynchronous path: the emulator saw its task polled."""
    prompt = f"{BADGER}, polled"
    done = _run(stack, {"prompt": prompt, "model": "bfl-FLUX.2-pro", "size": "1024x768"})
    assert done.status_code == 200, done.text
    ops = httpx.get(f"{stack.emulator_url}/_emulator/operations", timeout=10).json()["operations"]
    [task] = [op for op in ops if op.get("api") == "bfl" and op["prompt"] == prompt]
    assert task["polls"] >= 1
    assert task["status"] == "Ready"
    assert "get_result" not in done.text  # the job's result names no polling or sample URL
    assert "delivery" not in done.text


@pytest.mark.parametrize(
    ("model", "body", "field"),
    [
        ("FLUX-1.1-pro", {"size": "1000x1000"}, "size"),  # not a multiple of 32
        ("FLUX.1-Kontext-pro", {"size": "2048x2048"}, "size"),  # over 1 MP
        ("FLUX.2-pro", {"size": "1000x1000"}, "size"),  # not a multiple of 16
        ("FLUX.2-flex", {"output_format": "webp"}, "output_format"),
        ("bfl-FLUX.2-pro", {"size": "1000x1000"}, "size"),
        ("bfl-FLUX.2-flex", {"quality": "hd"}, "quality"),
        ("bfl-FLUX.1-Kontext-pro", {"size": "2048x2048"}, "size"),
        ("bfl-FLUX-1.1-pro", {"n": 2}, "n"),  # one image per task
    ],
)
def test_a_bad_option_for_a_flux_model_is_a_400_naming_the_field(stack, model, body, field):
    with httpx.Client(timeout=30) as client:
        r = client.post(f"{stack.api_url}/images", json={"prompt": BADGER, "model": model, **body})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == field


def test_a_bfl_moderated_request_fails_the_job_with_content_filter(stack, emulator_config):
    emulator_config({"content_filter_words": ["forbidden-badger"]})
    done = _run(stack, {"prompt": "a forbidden-badger", "model": "bfl-FLUX.2-flex"})
    assert done.status_code == 422, done.text  # the status route's answer for a failed job
    error = done.json()["error"]
    assert error["code"] == "content_filter"
    assert "Black Forest Labs moderated the request" in error["message"]


def test_a_bfl_sample_that_expired_before_it_was_copied_fails_the_job_saying_so(
    stack, emulator_config
):
    emulator_config({"bfl_sample_ttl_seconds": 0})
    done = _run(stack, {"prompt": f"{BADGER}, too late", "model": "bfl-FLUX.2-pro"})
    assert done.status_code == 422, done.text  # the status route's answer for a failed job
    error = done.json()["error"]
    assert error["code"] == "image_download_failed"
    message = error["message"]
    assert "expired" in message
    assert "10 minutes after they are ready" in message
    assert "sig=" not in message
