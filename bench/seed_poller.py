"""The seed's strategy, measured beside ours: submit a DALL-E 2 operation, poll on a fixed timer.

The Power Apps seed polled every 10 s; the openai 0.28 client slept ``retry-after`` or 10 s; the
Durable status route says ``Retry-After: 10``. The app offers no fixed-interval setting (its poll
pacing is its own), so this small bench-only poller talks to the emulator directly, with exactly
the seed's loop, and reports when it *noticed* success and how many polls that took.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

import httpx

DALLE2_API_VERSION = "2023-06-01-preview"


@dataclass
class PolledJob:
    submitted_at: float  # wall clock (time.time()), to line up with the emulator's clock
    noticed_at: float  # wall clock when a poll first saw "succeeded"
    polls: int
    status: str


async def run_fixed_interval_job(
    client: httpx.AsyncClient,
    endpoint: str,
    api_key: str,
    prompt: str,
    interval_s: float = 10.0,
    deadline_s: float = 600.0,
) -> PolledJob:
    """Submit one DALL-E 2 operation and poll it every ``interval_s`` until an end state."""
    headers = {"api-key": api_key}
    submitted_at = time.time()
    r = await client.post(
        f"{endpoint}/openai/images/generations:submit",
        params={"api-version": DALLE2_API_VERSION},
        headers=headers,
        json={"prompt": prompt, "n": 1, "size": "256x256"},
    )
    r.raise_for_status()
    op_url = r.headers["operation-location"]
    polls = 0
    give_up = time.monotonic() + deadline_s
    phase = random.Random(prompt).uniform(0.0, interval_s)  # deterministic per prompt
    wait = interval_s - phase or interval_s
    while time.monotonic() < give_up:
        await asyncio.sleep(wait)  # the seed's fixed timer is the thing being measured
        wait = interval_s
        polls += 1
        p = await client.get(op_url, headers=headers)
        status = p.json().get("status", "?") if p.status_code == 200 else f"http {p.status_code}"
        if status in ("succeeded", "failed", "canceled", "deleted"):
            return PolledJob(submitted_at, time.time(), polls, status)
    return PolledJob(submitted_at, time.time(), polls, "deadline")
