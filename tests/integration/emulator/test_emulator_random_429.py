"""Random throttling (`error_rate_429`): the contract's 429, never billed, counted apart."""

from __future__ import annotations

import random

import httpx
import pytest
from openai import AzureOpenAI

from devstack.emulator.config import config_from_sources
from tests.integration.emulator.support import ASYNC_VERSION, AZURE_VERSION, Emu

SMALL = {"prompt": "throttled badger", "size": "256x256"}


def test_random_429_has_the_contract_body_and_both_retry_headers(emu: Emu) -> None:
    emu.configure(error_rate_429=1.0, error_429_retry_after_seconds=3)

    r = emu.generate("dall-e-2", SMALL)

    assert r.status_code == 429
    assert r.headers["Retry-After"] == "3"
    assert r.headers["retry-after-ms"] == "3000"
    assert r.headers["x-ms-error-code"] == "429"
    error = r.json()["error"]
    assert error["code"] == "429"
    assert "Requests to the ImageGenerations_Create Operation" in error["message"]
    assert f"API version {AZURE_VERSION}" in error["message"]
    assert "Please retry after 3 seconds" in error["message"]
    stats = emu.stats()
    assert stats["billed"]["generations"] == 0
    assert stats["served"]["rate_limited_429"] == 1
    assert stats["served"]["injected_429"] == 1


def test_random_429_on_openai_route_submit_and_poll(emu: Emu) -> None:
    submitted = emu.submit(SMALL)
    assert submitted.status_code == 202
    emu.configure(error_rate_429=1.0)  # default Retry-After: 1 s

    openai_style = emu.http.post(
        "/v1/images/generations",
        headers={"Authorization": f"Bearer {emu.api_key}"},
        json={"model": "dall-e-3", "prompt": "x"},
    )
    submit = emu.submit(SMALL)
    poll = emu.http.get(submitted.headers["operation-location"])

    assert openai_style.status_code == 429
    assert openai_style.json()["error"]["code"] == "rate_limit_exceeded"
    assert (submit.status_code, poll.status_code) == (429, 429)
    assert "BeginAzureBatchImageGeneration" in submit.json()["error"]["message"]
    assert "GetAzureBatchImageGenerationOperationStatus" in poll.json()["error"]["message"]
    assert f"API version {ASYNC_VERSION}" in poll.json()["error"]["message"]
    assert {r.headers["Retry-After"] for r in (openai_style, submit, poll)} == {"1"}
    assert {r.headers["retry-after-ms"] for r in (openai_style, submit, poll)} == {"1000"}
    stats = emu.stats()
    assert stats["served"]["injected_429"] == 3
    assert stats["billed"]["generations"] == 1  # only the submit made before throttling


def test_zero_retry_after_is_allowed(emu: Emu) -> None:
    emu.configure(error_rate_429=1.0, error_429_retry_after_seconds=0)
    r = emu.generate("dall-e-3", {"prompt": "now"})
    assert (r.status_code, r.headers["Retry-After"], r.headers["retry-after-ms"]) == (429, "0", "0")
    assert "Please retry after 0 seconds" in r.json()["error"]["message"]


def test_429_is_drawn_before_the_server_errors(emu: Emu) -> None:
    emu.configure(error_rate_429=1.0, error_rate_500=1.0, error_rate_503=0.0)
    assert emu.generate("dall-e-3", {"prompt": "first come"}).status_code == 429
    stats = emu.stats()["served"]
    assert (stats["injected_429"], stats["server_errors_5xx"]) == (1, 0)


def test_seeded_mix_of_429_and_5xx_is_reproducible(emu: Emu) -> None:
    def run() -> list[int]:
        emu.configure(seed=99, error_rate_429=0.3, error_rate_500=0.1, error_rate_503=0.1)
        return [emu.generate("dall-e-2", SMALL).status_code for _ in range(40)]

    first = run()
    emu.http.post("/_emulator/reset")
    second = run()

    assert first == second
    assert {200, 429} <= set(first)
    assert set(first) & {500, 503}
    stats = emu.stats()
    assert stats["served"]["injected_429"] == first.count(429)
    assert stats["billed"]["generations"] == first.count(200)


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"error_rate_429": 1.5}, "error_rate_429"),
        ({"error_rate_429": -0.1}, "error_rate_429"),
        ({"error_429_retry_after_seconds": -1}, "error_429_retry_after_seconds"),
        ({"error_429_retry_after_seconds": 1.5}, "error_429_retry_after_seconds"),
    ],
)
def test_bad_429_settings_are_refused(emu: Emu, patch: dict, field: str) -> None:
    r = emu.http.put("/_emulator/config", json=patch)
    assert r.status_code == 400
    assert r.json()["error"]["message"].startswith(f"{field}:")


def test_the_openai_sdk_waits_out_a_random_429_and_succeeds(emu: Emu) -> None:
    # Pick a rate that throttles the seeded sequence's first draw and admits the second.
    draws = random.Random(5)
    first, second = draws.random(), draws.random()
    assert first < second  # precondition of the seed choice
    emu.configure(seed=5, error_rate_429=(first + second) / 2, error_429_retry_after_seconds=1)
    client = AzureOpenAI(
        azure_endpoint=emu.base_url,
        api_key=emu.api_key,
        api_version=AZURE_VERSION,
        max_retries=2,
        http_client=httpx.Client(timeout=30),
    )

    result = client.images.generate(model="dall-e-3", prompt="patient badger")

    assert result.data[0].url
    stats = emu.stats()
    assert stats["served"]["injected_429"] == 1
    assert stats["served"]["by_status"] == {"200": 1, "429": 1}
    assert stats["billed"]["generations"] == 1


def test_new_knobs_are_start_up_options_too() -> None:
    _, from_env = config_from_sources(
        [], {"EMULATOR_ERROR_RATE_429": "0.3", "EMULATOR_IMAGE_MIN_BYTES": "4096"}
    )
    _, from_cli = config_from_sources(
        ["--error-rate-429", "0.2", "--error-429-retry-after", "4", "--image-min-bytes", "9"],
        {"EMULATOR_ERROR_RATE_429": "0.3"},
    )

    assert (from_env.error_rate_429, from_env.error_429_retry_after_seconds) == (0.3, 1)
    assert from_env.image_min_bytes == 4096
    assert (from_cli.error_rate_429, from_cli.error_429_retry_after_seconds) == (0.2, 4)
    assert from_cli.image_min_bytes == 9
