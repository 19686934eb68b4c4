"""The host is SIGKILLed several times while jobs run: every job still completes, every image is
stored byte for byte, and the crashes cost at most one extra generation each.

The e2e suite kills the host once with every job parked in one stage; here the kills land at
different points of a moving batch (generating, storing, finishing), and the emulator's billing
counter proves nothing was bought twice beyond what a crash must lose: a generation in flight
when the host dies is finished and billed by the service (as Azure does) but its reply dies
with the host, so the job asks again. So a job may be billed once more per crash that caught it
before its generation was recorded (stage queued/generating/waiting_to_retry), and never for a
crash that came later (storing, finishing): that is what is asserted, per prompt.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import pytest

from devstack.emulator.images import render

from .conftest import Job, emulator_patch, emulator_stats, poll_until_done, post_job

PRE_GENERATION = (None, "queued", "generating", "waiting_to_retry")
FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp"}


def expected_image(prompt: str, image: dict[str, Any]) -> bytes:
    """What the emulator draws for a one-image request with this prompt."""
    return render(prompt, image["width"], image["height"], 0, FORMATS[image["content_type"]])


def assert_all_stored(client: httpx.Client, jobs: list[Job]) -> None:
    for job in jobs:
        assert job.final is not None
        assert job.final.status_code == 200, f"{job.id}: {job.final.text}"
        [image] = job.final.json()["images"]
        stored = client.get(image["url"])
        assert stored.status_code == 200, f"{job.id}: stored image not readable"
        assert stored.content == expected_image(job.prompt, image), f"{job.id}: bytes differ"


def crash_run(start_host, emulator, jobs_n: int, kills: int) -> None:
    host = start_host()
    # Generations of 0.5-2.5 s: the batch is still moving when the kills come.
    emulator_patch(emulator, latency_seconds=0.5, latency_jitter_seconds=2.0)
    models = ("dall-e-3", "gpt-image-1")  # a URL reply (download) and a base64 reply
    killed_with_pending: list[int] = []
    exposed: Counter[str] = Counter()  # crashes that caught a job before its generation was kept
    with httpx.Client(timeout=30) as client:
        jobs = [
            post_job(
                client,
                host.api_url,
                {"prompt": f"crash badger {i}", "model": models[i % 2], "n": 1},
            )
            for i in range(jobs_n)
        ]
        thresholds = [jobs_n * (k + 1) // (kills + 2) for k in range(kills)]

        def maybe_kill() -> None:
            done = sum(j.done for j in jobs)
            if thresholds and done >= thresholds[0]:
                thresholds.pop(0)
                killed_with_pending.append(jobs_n - done)
                for job in jobs:
                    if not job.done and job.stage in PRE_GENERATION:
                        exposed[job.prompt] += 1
                host.restart(crash=True)

        poll_until_done(client, jobs, deadline_s=120 + 30 * kills, between=maybe_kill)
        assert len(killed_with_pending) == kills, "the batch finished before every kill"
        assert all(p > 0 for p in killed_with_pending), killed_with_pending
        assert_all_stored(client, jobs)
    billed = emulator_stats(emulator)["billed"]
    per_prompt = {p: c["generations"] for p, c in billed["by_prompt"].items()}
    over = {
        prompt: (count, exposed[prompt])
        for prompt, count in per_prompt.items()
        if count > 1 + exposed[prompt]
    }
    assert not over, f"billed more than once per crash that caught the job: {over}"
    assert billed["generations"] <= jobs_n + sum(exposed.values())
    assert set(per_prompt) == {j.prompt for j in jobs}


def test_twenty_jobs_survive_two_host_kills(start_host, emulator):
    crash_run(start_host, emulator, jobs_n=20, kills=2)


@pytest.mark.soak
def test_hundred_jobs_survive_five_host_kills(start_host, emulator):
    crash_run(start_host, emulator, jobs_n=100, kills=5)
