"""Injected faults: quota 429s, 5xx, dropped connections, slow/truncated downloads, filters."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.integration.emulator.support import Emu

SMALL = {"prompt": "fault test", "size": "256x256"}


def test_rpm_quota_answers_429_with_retry_after(emu: Emu) -> None:
    emu.configure(rpm_per_deployment={"dall-e-2": 2})

    first, second, third = (emu.generate("dall-e-2", SMALL) for _ in range(3))

    assert (first.status_code, second.status_code) == (200, 200)
    assert third.status_code == 429
    retry_after = int(third.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert 0 < int(third.headers["retry-after-ms"]) <= 60_000
    error = third.json()["error"]
    assert error["code"] == "429"
    assert f"Please retry after {retry_after} seconds" in error["message"]
    assert third.headers["x-ms-error-code"] == "429"
    # Quotas are per deployment.
    assert emu.generate("dall-e-3", {"prompt": "other"}).status_code == 200
    stats = emu.stats()
    assert stats["billed"]["by_deployment"]["dall-e-2"]["generations"] == 2
    assert stats["served"]["rate_limited_429"] == 1


def test_default_rpm_applies_to_async_submits_too(emu: Emu) -> None:
    emu.configure(rpm_default=1)
    assert emu.submit(SMALL).status_code == 202
    refused = emu.submit(SMALL)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1


@pytest.mark.parametrize(("field", "status"), [("error_rate_500", 500), ("error_rate_503", 503)])
def test_server_errors_at_the_configured_rate(emu: Emu, field: str, status: int) -> None:
    emu.configure(**{field: 1.0})

    r = emu.generate("dall-e-3", {"prompt": "unlucky"})

    assert r.status_code == status
    assert r.json()["error"]["code"] in {"InternalServerError", "ServiceUnavailable"}
    stats = emu.stats()
    assert stats["served"]["server_errors_5xx"] == 1
    assert stats["billed"]["generations"] == 0


def test_seeded_faults_are_reproducible(emu: Emu) -> None:
    def run() -> list[int]:
        emu.configure(seed=1234, error_rate_500=0.5)
        return [emu.generate("dall-e-2", SMALL).status_code for _ in range(12)]

    first = run()
    emu.http.post("/_emulator/reset")
    second = run()

    assert first == second
    assert set(first) == {200, 500}  # the rate really mixes both


def test_dropped_connection_answers_nothing(emu: Emu) -> None:
    emu.configure(drop_rate=1.0)

    with pytest.raises(httpx.RemoteProtocolError):
        emu.generate("dall-e-3", {"prompt": "dropped"})

    emu.configure(drop_rate=0.0)
    stats = emu.stats()
    assert stats["served"]["dropped_connections"] == 1
    assert stats["billed"]["generations"] == 0


def test_truncated_download_is_cut_after_content_length(emu: Emu) -> None:
    url = emu.generate("dall-e-2", SMALL).json()["data"][0]["url"]
    emu.configure(truncate_rate=1.0)

    with httpx.stream("GET", url) as r:
        assert r.status_code == 200
        expected = int(r.headers["content-length"])
        with pytest.raises(httpx.RemoteProtocolError):
            r.read()
    assert expected > 0
    assert emu.stats()["served"]["truncated_downloads"] == 1


def test_throttled_download_still_delivers_the_image(emu: Emu) -> None:
    url = emu.generate("dall-e-2", SMALL).json()["data"][0]["url"]
    fast = httpx.get(url).content
    emu.configure(download_bytes_per_second=200_000)

    assert httpx.get(url).content == fast
    served = emu.stats()["served"]
    assert served["throttled_downloads"] == 1
    assert served["image_downloads"] == 2
    assert served["by_status"] == {"200": 1}  # API answers only; downloads are counted apart


async def test_very_slow_download_misses_a_short_client_deadline(emu: Emu) -> None:
    url = emu.generate("dall-e-2", SMALL).json()["data"][0]["url"]
    emu.configure(download_bytes_per_second=500)  # a ~6 KB image takes ~12 s

    async with httpx.AsyncClient() as client:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(client.get(url), timeout=1.0)

    emu.configure(download_bytes_per_second=0)
    assert emu.http.get("/_emulator/health").status_code == 200


@pytest.mark.parametrize("shape", ["content_policy_violation", "contentFilter"])
def test_trigger_word_rejects_the_prompt_in_either_shape(emu: Emu, shape: str) -> None:
    emu.configure(content_filter_words=["forbidden"], content_filter_shape=shape)

    r = emu.generate("dall-e-3", {"prompt": "Something FORBIDDEN here"})

    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == shape
    assert error["message"].startswith("Your request was rejected as a result of our safety")
    assert r.headers["x-ms-error-code"] == shape
    if shape == "content_policy_violation":
        assert error["type"] == "invalid_request_error"
        inner = error["inner_error"]
        assert inner["code"] == "ResponsibleAIPolicyViolation"
        assert inner["revised_prompt"] == "Something FORBIDDEN here"
        assert any(c["filtered"] for c in inner["content_filter_results"].values())
    else:
        assert set(error) == {"code", "message"}
    assert emu.submit({"prompt": "forbidden async"}).status_code == 400
    assert emu.generate("dall-e-3", {"prompt": "harmless"}).status_code == 200
    stats = emu.stats()
    assert stats["served"]["prompts_filtered"] == 2
    assert stats["billed"]["generations"] == 1


def test_signed_url_expires_with_the_configured_ttl(emu: Emu) -> None:
    emu.configure(url_ttl_seconds=1.0)
    url = emu.generate("dall-e-2", SMALL).json()["data"][0]["url"]
    assert httpx.get(url).status_code == 200

    deadline = time.monotonic() + 10
    while True:
        r = httpx.get(url)
        if r.status_code != 200 or time.monotonic() > deadline:
            break

    assert r.status_code == 403
    assert r.headers["x-ms-error-code"] == "AuthenticationFailed"
    assert "<Code>AuthenticationFailed</Code>" in r.text
    assert "Signed expiry time" in r.text


@pytest.mark.parametrize(
    "mangle",
    [
        lambda u: u.replace("sig=", "sig=x"),
        lambda u: u.replace("se=2", "se=3"),
        lambda u: u.split("?")[0],
    ],
    ids=["bad-signature", "extended-expiry", "no-signature"],
)
def test_tampered_url_is_403(emu: Emu, mangle) -> None:
    url = emu.generate("dall-e-2", SMALL).json()["data"][0]["url"]
    r = httpx.get(mangle(url))
    assert r.status_code == 403
    assert "<Code>AuthenticationFailed</Code>" in r.text


def test_client_that_hangs_up_during_generation_is_still_billed(emu: Emu) -> None:
    emu.configure(latency_seconds=1.5)

    with pytest.raises(httpx.ReadTimeout):  # connected, sent, then gave up waiting
        emu.http.post(
            "/openai/deployments/dall-e-3/images/generations",
            params={"api-version": "2024-10-21"},
            json={"prompt": "impatient client"},
            timeout=httpx.Timeout(10, read=0.2),
        )

    deadline = time.monotonic() + 15
    while emu.stats()["billed"]["generations"] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert emu.stats()["billed"]["by_prompt"] == {
        "impatient client": {"generations": 1, "images": 1}
    }
