"""4. Live previews of a streaming model: partial frame emitted → offered by the status route.

A gpt-image job streams `partial_images` frames (the app's default, 2) before its final image;
the emulator emits frame k at L·(k+1)/(p+1) and records when (``GET /_emulator/partials``:
``emitted_at``, just before the event's bytes are written). The benchmark follows each job's
signed status link on a short interval and notes when a frame is first offered in
``progress.previews`` (the time the answer arrived). Delay = offered − emitted: the activity
reading the event, decoding it into Blob Storage, and the status route listing it — plus up to
one poll interval of the benchmark's own resolution, reported beside the figure.

Time to first preview and to the final image are both from the POST, so their ratio says how
early a caller sees something; the emulator's schedule puts the first frame at 1/(p+1) of the
generation time, which is the reference.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.harness import BenchStack, open_stack
from bench.jobs import is_finished, post_job
from bench.report import Result
from bench.stats import summary

MODEL = "gpt-image-2"  # the default model on the devstack: Azure deployment route, streams
POLL_S = 0.05
PARTIAL_IMAGES = 2  # the app's default IMAGE_PARTIAL_IMAGES
GOAL_DELAY_S = 0.3


@dataclass
class Watched:
    """One job as its poller saw it: when each (image, frame) was first offered."""

    prompt: str
    posted_at: float
    status: str | None = None
    done_at: float | None = None
    seen: dict[tuple[int, int], float] = field(default_factory=dict)
    polls: int = 0


async def _watch(
    client: httpx.AsyncClient, stack: BenchStack, prompt: str, deadline_s: float
) -> Watched:
    run = await post_job(client, stack.api_url, {"model": MODEL, "prompt": prompt, "n": 1})
    watched = Watched(prompt=prompt, posted_at=run.posted_at)
    if run.status_url is None:
        watched.status = run.status or "rejected"
        return watched
    give_up = time.monotonic() + deadline_s
    while time.monotonic() < give_up:
        r = await client.get(run.status_url)
        arrived = time.time()
        watched.polls += 1
        data = r.json()
        if is_finished(r.status_code, data):
            watched.status = str(data.get("status", "failed")).lower()
            watched.done_at = arrived
            return watched
        for preview in (data.get("progress") or {}).get("previews") or []:
            key = (int(preview["index"]), int(preview["frame"]))
            watched.seen.setdefault(key, arrived)
        await asyncio.sleep(POLL_S)
    watched.status = "deadline"
    return watched


async def _emitted(stack: BenchStack) -> dict[tuple[str, int, int], float]:
    r = await stack.http.get(f"{stack.emulator_url}/_emulator/partials")
    r.raise_for_status()
    return {
        (p["prompt"], int(p["image"]), int(p["frame"])): float(p["emitted_at"])
        for p in r.json()["partials"]
    }


async def _one_latency(stack: BenchStack, latency: float, jobs: int, tag: str) -> dict[str, Any]:
    await stack.emulator_reset()
    await stack.emulator_config(latency_seconds=latency, latency_jitter_seconds=0.0)
    # A warm-up job first: the first job after start pays imports and connection set-up.
    async with httpx.AsyncClient(timeout=30) as client:
        await _watch(client, stack, f"bench previews warm {tag} L={latency}", latency * 3 + 60)
        prompts = [f"bench previews {tag} L={latency} #{i}" for i in range(jobs)]
        runs = await asyncio.gather(*(_watch(client, stack, p, latency * 3 + 60) for p in prompts))
    emitted = await _emitted(stack)
    delays: list[float] = []
    first_fraction: list[float] = []
    first_s: list[float] = []
    final_s: list[float] = []
    missed = 0
    for run in runs:
        mine = {(i, f): at for (p, i, f), at in emitted.items() if p == run.prompt}
        for key, at in mine.items():
            if key in run.seen:
                delays.append(run.seen[key] - at)
            else:
                missed += 1  # overwritten by the next frame (or stored) before a poll saw it
        if run.status == "succeeded" and run.seen and run.done_at is not None:
            first = min(run.seen.values()) - run.posted_at
            final = run.done_at - run.posted_at
            first_s.append(first)
            final_s.append(final)
            first_fraction.append(first / final)
    return {
        "latency_s": latency,
        "jobs": jobs,
        "statuses": [r.status for r in runs],
        "frames_emitted": sum(1 for (p, _i, _f) in emitted if p in prompts),
        "frames_missed": missed,
        "delay_s": summary(delays),
        "first_preview_s": summary(first_s),
        "final_s": summary(final_s),
        "first_fraction": summary(first_fraction),
        "polls_per_job": summary([float(r.polls) for r in runs]),
    }


async def run(*, quick: bool = False, echo: bool = False) -> Result:
    latencies = [4.0] if quick else [10.0, 30.0]
    jobs = 2 if quick else 4
    result = Result("previews", "7. Live previews: partial frame → status route", quick)
    tag = str(int(time.time()))
    rows = []
    async with open_stack(echo=echo) as stack:
        for latency in latencies:
            rows.append(await _one_latency(stack, latency, jobs, tag))
    result.details = {"per_latency": rows, "model": MODEL, "poll_s": POLL_S}
    reference = f"emulator's first frame at {1 / (PARTIAL_IMAGES + 1):.2f} of L"
    for row in rows:
        lat = row["latency_s"]
        med = row["delay_s"]["median"]
        headline = lat == latencies[0] or lat == latencies[-1]
        result.add(
            f"L={lat:g}s: frame emitted→offered median",
            med,
            "s",
            reference=f"includes ≤ {POLL_S:g} s poll interval",
            goal=f"≤ {GOAL_DELAY_S:g} s",
            met=None if med is None else med <= GOAL_DELAY_S,
            headline=headline,
        )
        result.add(f"L={lat:g}s: frame emitted→offered p95", row["delay_s"]["p95"], "s")
        frac = row["first_fraction"]["median"]
        result.add(
            f"L={lat:g}s: first preview ÷ final image (median)",
            frac,
            "×",
            reference=reference,
            headline=headline,
        )
        result.add(
            f"L={lat:g}s: time to first preview (median)", row["first_preview_s"]["median"], "s"
        )
        result.add(f"L={lat:g}s: time to final image (median)", row["final_s"]["median"], "s")
        result.add(f"L={lat:g}s: frames never offered", float(row["frames_missed"]))
        if any(s != "succeeded" for s in row["statuses"]):
            result.notes.append(f"L={lat:g}s: job statuses {row['statuses']}")
    result.notes.append(
        f"{jobs} concurrent {MODEL} jobs per latency (after one warm-up), partial_images "
        f"{PARTIAL_IMAGES}, each followed on its signed status link every {POLL_S:g} s; emitted = "
        "the emulator's emitted_at; offered = arrival of the first status answer listing the frame."
    )
    return result
