"""`GET /_emulator/operations`: when each DALL-E 2 operation became ready and how often it was
polled, so a benchmark can measure ready → noticed without inferring either."""

from __future__ import annotations

import time

import pytest

from tests.integration.emulator.support import Emu


def _ended(body: dict) -> bool:
    return body["status"] in {"succeeded", "failed", "canceled"}


def _operations(emu: Emu, prompt: str | None = None) -> list[dict]:
    params = {"prompt": prompt} if prompt is not None else {}
    r = emu.http.get("/_emulator/operations", params=params)
    assert r.status_code == 200, r.text
    return r.json()["operations"]


def test_timeline_records_ready_time_and_every_poll(emu: Emu) -> None:
    emu.configure(latency_seconds=0.5)
    before = time.time()
    r = emu.submit({"prompt": "timeline badger", "size": "256x256"})
    location = r.headers["operation-location"]
    [pending] = _operations(emu, "timeline badger")
    assert pending["status"] in {"notRunning", "running"}
    assert (pending["polls"], pending["seen_done_at"], pending["polls_until_done"]) == (
        0,
        None,
        None,
    )

    seen = emu.poll_until(location, _ended)
    emu.http.get(location)  # one more look after the end: counted, the first sight is kept

    [op] = _operations(emu, "timeline badger")
    assert op["id"] == r.json()["id"]
    assert (op["outcome"], op["status"], op["n"]) == ("succeeded", "succeeded", 1)
    assert before <= op["submitted_at"] <= op["ready_at"]
    assert op["ready_at"] == pytest.approx(op["submitted_at"] + 0.5)
    assert op["polls"] == len(seen) + 1
    assert op["polls_until_done"] == len(seen)
    assert op["ready_at"] <= op["seen_done_at"] <= time.time()


def test_refused_polls_are_not_counted_and_end_states_have_their_ready_time(emu: Emu) -> None:
    emu.configure(image_filter_rate=1.0)
    filtered = emu.submit({"prompt": "filtered op", "size": "256x256"})
    emu.configure(image_filter_rate=0.0, latency_seconds=5.0, operation_timeout_seconds=1.0)
    canceled = emu.submit({"prompt": "slow op", "size": "256x256"})
    emu.configure(error_rate_503=1.0)
    assert emu.http.get(filtered.headers["operation-location"]).status_code == 503
    emu.configure(error_rate_503=0.0)
    emu.poll_until(filtered.headers["operation-location"], _ended)

    ops = {op["prompt"]: op for op in _operations(emu)}

    assert set(ops) == {"filtered op", "slow op"}
    assert (ops["filtered op"]["outcome"], ops["filtered op"]["polls"]) == ("failed", 1)
    assert ops["filtered op"]["polls_until_done"] == 1
    slow = ops["slow op"]
    assert slow["id"] == canceled.json()["id"]
    assert slow["outcome"] == "canceled"
    assert slow["ready_at"] == pytest.approx(slow["submitted_at"] + 1.0)  # the timeout, not 5 s
    assert slow["polls"] == 0


def test_reset_forgets_operations_and_unknown_prompt_is_empty(emu: Emu) -> None:
    emu.submit({"prompt": "forget me", "size": "256x256"})
    assert len(_operations(emu, "forget me")) == 1
    assert _operations(emu, "no such prompt") == []

    emu.http.post("/_emulator/reset")

    assert _operations(emu) == []
