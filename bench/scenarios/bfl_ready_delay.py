"""1b. Ready→stored delay of a FLUX job on Black Forest Labs' own API (`bfl-FLUX.2-pro`).

BFL's sample URL expires 10 minutes after the task is ready, so the figure that matters is how
long after Ready the image is safely in Blob Storage: the poll that sees Ready copies it at once.
Same method as `ready_delay` (DALL-E 2): the emulator's task generation time is fixed per batch,
"ready" is when the emulator's task left Pending (``GET /_emulator/operations``: ``ready_at``),
"stored" is when the engine recorded the instance Completed; two unmeasured warm-up jobs first,
so the app's learnt duration reflects the latency (the first is reported as the cold case).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.engine_db import EngineDb
from bench.harness import open_stack
from bench.jobs import JobRun, run_job
from bench.report import Result
from bench.scenarios import ready_delay
from bench.scenarios.ready_delay import Timeline, emulator_operations
from bench.stats import summary

MODEL = "bfl-FLUX.2-pro"
WARM_UP_JOBS = 2
SAMPLE_TTL_S = 600.0  # BFL: result.sample expires 10 minutes after Ready (B3)


async def bfl_tasks(stack: Any) -> dict[str, list[Timeline]]:
    """The emulator's BFL task timelines, by prompt (a job's prompt is unique in this run)."""
    ops = await emulator_operations(stack)
    return {p: [op for op in tl if op.get("api") == "bfl"] for p, tl in ops.items()}


def job_timing(
    engine: EngineDb, run: JobRun, tasks: list[Timeline] | None
) -> dict[str, Any] | None:
    """ready_delay's timing of one job, where a BFL task ends "Ready"."""
    return ready_delay.job_timing(engine, run, tasks or [], done_outcome="Ready")


async def _one_latency(stack: Any, latency: float, jobs: int, tag: str) -> dict[str, Any]:
    await stack.emulator_reset()
    await stack.emulator_config(latency_seconds=latency, latency_jitter_seconds=0.0)
    body = {"model": MODEL, "size": "1024x768", "n": 1}
    deadline = latency * 4 + 120

    async def one(prompt: str) -> JobRun:
        job = {**body, "prompt": prompt}
        return await run_job(stack.http, stack.api_url, job, interval_s=1.0, deadline_s=deadline)

    warm_prompts = [f"bench bfl warm {tag} L={latency} #{i}" for i in range(WARM_UP_JOBS)]
    warm_runs = [await one(p) for p in warm_prompts]
    prompts = [f"bench bfl ready {tag} L={latency} #{i}" for i in range(jobs)]
    runs = await asyncio.gather(*(one(p) for p in prompts))
    tasks = await bfl_tasks(stack)
    pairs = zip(runs, prompts, strict=True)
    timings = [job_timing(stack.engine, r, tasks.get(p)) for r, p in pairs]
    ok = [t for t in timings if t is not None]
    return {
        "latency_s": latency,
        "jobs": jobs,
        "completed": len(ok),
        "statuses": [r.status for r in runs],
        "delay_s": summary([t["delay_s"] for t in ok]),
        "seen_s": summary([t["seen_s"] for t in ok]),
        "polls_per_job": summary([float(t["polls"]) for t in ok]),
        "cold": job_timing(stack.engine, warm_runs[0], tasks.get(warm_prompts[0])),
        "samples": ok,
    }


async def run(*, quick: bool = False, echo: bool = False) -> Result:
    latencies = [2.0, 5.0] if quick else [3.0, 10.0, 30.0]
    jobs = 4 if quick else 10
    result = Result("bfl_ready_delay", "1b. BFL (bfl-FLUX.2-pro) ready→stored delay", quick)
    tag = str(int(time.time()))
    rows = []
    async with open_stack(echo=echo, all_models=True) as stack:
        for latency in latencies:
            rows.append(await _one_latency(stack, latency, jobs, tag))
    result.details = {"per_latency": rows, "model": MODEL}
    for row in rows:
        lat = row["latency_s"]
        med, p95 = row["delay_s"]["median"], row["delay_s"]["p95"]
        polls = row["polls_per_job"]["median"]
        budget = lat / 2.0 + 1.0  # the same poll budget as DALL-E 2's
        headline = lat == 10.0 or (quick and lat == latencies[-1])
        result.add(
            f"L={lat:g}s: delay median",
            med,
            "s",
            reference=f"sample expires {SAMPLE_TTL_S:g} s after Ready",
            goal="≤ 1 s",
            met=None if med is None else med <= 1.0,
            headline=headline,
        )
        result.add(f"L={lat:g}s: delay p95", p95, "s")
        cold = row["cold"]
        result.add(
            f"L={lat:g}s: cold delay (first job after a latency change)",
            None if cold is None else cold["delay_s"],
            "s",
        )
        result.add(
            f"L={lat:g}s: polls per job (median)",
            polls,
            goal=f"≤ ~{budget:g}",
            met=None if polls is None else polls <= budget,
            headline=headline,
        )
        if row["completed"] < row["jobs"]:
            result.notes.append(
                f"L={lat:g}s: only {row['completed']}/{row['jobs']} jobs completed: "
                f"{row['statuses']}"
            )
    result.notes.append(
        f"{jobs} concurrent {MODEL} jobs per latency after {WARM_UP_JOBS} warm-up jobs; ready = "
        "the emulator's ready_at for the task; stored = engine Completed time; polls = the "
        "get_result GETs the emulator answered for the task."
    )
    return result
