"""Black Forest Labs' own API: submit `POST /v1/<model>`, poll `get_result`, fetch the sample.

No sleeps: a Pending task comes from a long latency, a Ready one from latency 0, and an expired
sample from lowering `bfl_sample_ttl_seconds` (expiry is read at download time).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from devstack.emulator.images import render
from tests.integration.emulator.support import Emu, decode_image


def _submit(emu: Emu, path: str, body: dict[str, Any], key: str | None = None) -> httpx.Response:
    return httpx.post(
        f"{emu.base_url}/v1/{path}", headers={"x-key": key or emu.api_key}, json=body, timeout=30
    )


def _poll(emu: Emu, url: str, key: str | None = None) -> httpx.Response:
    return httpx.get(url, headers={"x-key": key or emu.api_key}, timeout=30)


def _operations(emu: Emu, prompt: str) -> list[dict[str, Any]]:
    ops: list[dict[str, Any]] = emu.http.get(
        "/_emulator/operations", params={"prompt": prompt}
    ).json()["operations"]
    return ops


def test_submit_poll_ready_and_the_sample_is_the_asked_image(emu: Emu) -> None:
    r = _submit(
        emu,
        "flux-2-pro",
        {"prompt": "a bfl otter", "width": 1280, "height": 720, "output_format": "png", "seed": 42},
    )

    assert r.status_code == 200, r.text
    sub = r.json()
    assert set(sub) == {"id", "polling_url", "cost", "input_mp", "output_mp"}
    assert sub["polling_url"] == f"{emu.base_url}/v1/get_result?id={sub['id']}"
    assert sub["output_mp"] == pytest.approx(0.9216)
    assert isinstance(sub["cost"], float)

    polled = _poll(emu, sub["polling_url"])
    assert polled.status_code == 200
    body = polled.json()
    assert set(body) == {"id", "status", "result", "progress", "details"}
    assert (body["id"], body["status"]) == (sub["id"], "Ready")
    result = body["result"]
    assert set(result) == {"sample", "prompt", "seed", "start_time", "end_time", "duration"}
    assert (result["prompt"], result["seed"]) == ("a bfl otter", 42)
    sample = httpx.get(result["sample"])
    assert sample.status_code == 200
    assert sample.headers["content-type"] == "image/png"
    assert sample.content == render("a bfl otter", 1280, 720, 0, "png", seed=42)
    image = decode_image(sample.content)
    assert (image.format, image.size) == ("PNG", (1280, 720))


@pytest.mark.parametrize(
    ("path", "size"),
    [
        ("flux-2-flex", (1024, 1024)),
        ("flux-kontext-pro", (1024, 1024)),
        ("flux-pro-1.1", (1024, 768)),
    ],
)
def test_defaults_per_model_are_jpeg(emu: Emu, path: str, size: tuple[int, int]) -> None:
    sub = _submit(emu, path, {"prompt": f"default {path}"}).json()
    result = _poll(emu, sub["polling_url"]).json()["result"]

    image = decode_image(httpx.get(result["sample"]).content)
    assert (image.format, image.size) == ("JPEG", size)


def test_pending_until_the_generation_time_passes_and_the_timeline_lists_it(emu: Emu) -> None:
    emu.configure(latency_seconds=120)
    sub = _submit(emu, "flux-2-pro", {"prompt": "slow otter"}).json()

    body = _poll(emu, sub["polling_url"]).json()

    assert (body["status"], body["result"], body["details"]) == ("Pending", None, None)
    assert 0 <= body["progress"] < 1
    [op] = _operations(emu, "slow otter")
    assert (op["api"], op["id"], op["model"], op["path"]) == (
        "bfl",
        sub["id"],
        "FLUX.2-pro",
        "flux-2-pro",
    )
    assert (op["status"], op["outcome"], op["polls"]) == ("Pending", "Ready", 1)
    assert op["ready_at"] == pytest.approx(op["submitted_at"] + 120)
    assert op["seen_done_at"] is None


def test_ready_task_timeline_records_the_first_poll_that_saw_it(emu: Emu) -> None:
    sub = _submit(emu, "flux-pro-1.1", {"prompt": "quick otter"}).json()
    _poll(emu, sub["polling_url"])
    _poll(emu, sub["polling_url"])

    [op] = _operations(emu, "quick otter")
    assert (op["status"], op["polls"], op["polls_until_done"]) == ("Ready", 2, 1)
    assert op["ready_at"] <= op["seen_done_at"]


def test_request_moderated_on_a_filter_word(emu: Emu) -> None:
    emu.configure(content_filter_words=["forbidden"])
    sub = _submit(emu, "flux-2-pro", {"prompt": "a Forbidden otter"}).json()

    body = _poll(emu, sub["polling_url"]).json()

    assert (body["status"], body["result"]) == ("Request Moderated", None)
    assert body["details"]
    assert emu.stats()["billed"]["generations"] == 0


def test_content_moderated_at_the_filtered_image_rate(emu: Emu) -> None:
    emu.configure(image_filter_rate=1.0)
    sub = _submit(emu, "flux-kontext-pro", {"prompt": "moderated output"}).json()

    body = _poll(emu, sub["polling_url"]).json()

    assert (body["status"], body["result"]) == ("Content Moderated", None)
    assert body["details"]
    assert emu.stats()["served"]["images_filtered"] == 1
    assert emu.stats()["billed"]["by_prompt"] == {
        "moderated output": {"generations": 1, "images": 1}
    }


def test_error_when_the_operation_failure_fault_is_set(emu: Emu) -> None:
    emu.configure(bfl_error_rate=1.0)
    sub = _submit(emu, "flux-2-pro", {"prompt": "failing otter"}).json()

    body = _poll(emu, sub["polling_url"]).json()

    assert (body["status"], body["result"]) == ("Error", None)
    assert body["details"]["error"]
    assert emu.stats()["billed"]["generations"] == 0


def test_error_when_the_generation_exceeds_the_operation_timeout(emu: Emu) -> None:
    emu.configure(latency_seconds=5, operation_timeout_seconds=0.001)
    sub = _submit(emu, "flux-2-pro", {"prompt": "timed out otter"}).json()
    [op] = _operations(emu, "timed out otter")
    assert (op["id"], op["outcome"]) == (sub["id"], "Error")
    assert op["ready_at"] == pytest.approx(op["submitted_at"] + 0.001)


def test_unknown_id_is_task_not_found(emu: Emu) -> None:
    r = _poll(emu, f"{emu.base_url}/v1/get_result?id=no-such-task")

    assert r.status_code == 200
    assert r.json() == {
        "id": "no-such-task",
        "status": "Task not found",
        "result": None,
        "progress": None,
        "details": None,
    }


def test_sample_expires_after_bfl_sample_ttl_seconds(emu: Emu) -> None:
    sub = _submit(emu, "flux-2-pro", {"prompt": "expiring otter"}).json()
    sample = _poll(emu, sub["polling_url"]).json()["result"]["sample"]
    assert httpx.get(sample).status_code == 200
    assert emu.configure()["bfl_sample_ttl_seconds"] == 600  # 10 minutes by default

    emu.configure(bfl_sample_ttl_seconds=0)

    expired = httpx.get(sample)
    assert expired.status_code == 403
    assert expired.headers["x-ms-error-code"] == "AuthenticationFailed"
    assert "Signed expiry time" in expired.text
    forged = httpx.get(sample.replace("sig=", "sig=x"))
    assert forged.status_code == 403


def test_over_the_active_task_limit_is_429(emu: Emu) -> None:
    emu.configure(latency_seconds=300, bfl_max_active_tasks=2)
    for i in range(2):
        assert _submit(emu, "flux-2-pro", {"prompt": f"busy {i}"}).status_code == 200

    r = _submit(emu, "flux-2-pro", {"prompt": "one too many"})

    assert r.status_code == 429
    assert "active tasks" in r.json()["detail"]
    assert _operations(emu, "one too many") == []
    billed = emu.stats()["billed"]
    assert billed["by_prompt"] == {
        "busy 0": {"generations": 1, "images": 1},
        "busy 1": {"generations": 1, "images": 1},
    }


def test_billed_once_per_task_at_submit_not_per_poll(emu: Emu) -> None:
    sub = _submit(emu, "flux-2-flex", {"prompt": "billed otter"}).json()
    for _ in range(3):
        _poll(emu, sub["polling_url"])

    billed = emu.stats()["billed"]
    assert billed["by_prompt"] == {"billed otter": {"generations": 1, "images": 1}}
    assert billed["by_deployment"] == {"FLUX.2-flex": {"generations": 1, "images": 1}}


@pytest.mark.parametrize("key", [None, "wrong"])
def test_missing_or_wrong_x_key_is_403(emu: Emu, key: str | None) -> None:
    headers = {} if key is None else {"x-key": key}
    submit = httpx.post(f"{emu.base_url}/v1/flux-2-pro", headers=headers, json={"prompt": "x"})
    poll = httpx.get(f"{emu.base_url}/v1/get_result", params={"id": "x"}, headers=headers)

    for r in (submit, poll):
        assert r.status_code == 403
        assert isinstance(r.json()["detail"], str)


def test_body_errors_are_422_validation_errors(emu: Emu) -> None:
    r = _submit(emu, "flux-2-pro", {"width": 1000, "safety_tolerance": 9, "unknown": 1})

    assert r.status_code == 422
    detail = r.json()["detail"]
    assert all(set(d) == {"loc", "msg", "type"} for d in detail)
    by_loc = {tuple(d["loc"]): d["type"] for d in detail}
    assert by_loc == {
        ("body", "prompt"): "missing",
        ("body", "width"): "multiple_of",
        ("body", "safety_tolerance"): "less_than_equal",
    }
    assert emu.stats()["billed"]["generations"] == 0


def test_over_four_megapixels_and_n_above_one_are_422(emu: Emu) -> None:
    big = _submit(emu, "flux-2-pro", {"prompt": "x", "width": 2064, "height": 2048})
    assert big.status_code == 422
    assert big.json()["detail"][0]["loc"] == ["body"]
    many = _submit(emu, "flux-pro-1.1", {"prompt": "x", "n": 2})
    assert many.status_code == 422
    assert many.json()["detail"][0]["loc"] == ["body", "n"]


def test_get_result_without_id_is_422(emu: Emu) -> None:
    r = _poll(emu, f"{emu.base_url}/v1/get_result")
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["query", "id"]


def test_reset_forgets_tasks(emu: Emu) -> None:
    sub = _submit(emu, "flux-2-pro", {"prompt": "forgotten otter"}).json()
    emu.http.post("/_emulator/reset")
    emu.configure(latency_seconds=0.0)

    assert _poll(emu, sub["polling_url"]).json()["status"] == "Task not found"
