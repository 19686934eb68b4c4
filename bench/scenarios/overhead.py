"""2. Overhead per job: a zero-latency model, one image (DALL-E 3, URL reply, then persisted).

* Concurrency 1: POST→Completed as the caller sees it (the client polls the status URL every
  10 ms, so the figure includes one status read), p50 and p95.
* Concurrency 50, 500 jobs: jobs/s from the first POST to the last job the engine recorded
  Completed (the engine's own time, so the client's 0.5 s poll does not blur it).
"""

from __future__ import annotations

import asyncio
import time

from bench.harness import open_stack
from bench.jobs import JobRun, run_job
from bench.report import Result
from bench.stats import summary

BODY = {"model": "dall-e-3", "n": 1, "size": "1024x1024"}


async def _sequential(stack, jobs: int, tag: str) -> list[JobRun]:
    runs = []
    for i in range(jobs):
        runs.append(
            await run_job(
                stack.http,
                stack.api_url,
                {**BODY, "prompt": f"bench overhead c1 {tag} #{i}"},
                interval_s=0.01,
                deadline_s=120,
            )
        )
    return runs


async def _concurrent(stack, jobs: int, concurrency: int, tag: str) -> tuple[list[JobRun], float]:
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> JobRun:
        async with gate:
            return await run_job(
                stack.http,
                stack.api_url,
                {**BODY, "prompt": f"bench overhead c{concurrency} {tag} #{i}"},
                interval_s=0.5,
                deadline_s=600,
            )

    started = time.time()
    runs = await asyncio.gather(*(one(i) for i in range(jobs)))
    return list(runs), started


async def run(*, quick: bool = False, echo: bool = False) -> Result:
    seq_jobs = 10 if quick else 30
    conc_jobs, concurrency = (100, 20) if quick else (500, 50)
    tag = str(int(time.time()))
    result = Result("overhead", "2. Overhead per job (zero-latency model)", quick)
    async with open_stack(echo=echo) as stack:
        await stack.emulator_reset()
        # warm-up: first-import costs and connection pools are not per-job overhead
        await _sequential(stack, 2, f"warm{tag}")
        seq = await _sequential(stack, seq_jobs, tag)
        runs, started = await _concurrent(stack, conc_jobs, concurrency, tag)
        ends = stack.engine.completed_times(r.id for r in runs)
        stats = await stack.emulator_stats()
    latencies = [r.done_at - r.posted_at for r in seq if r.done_at and r.status == "succeeded"]
    lat = summary(latencies)
    ok = sum(1 for r in runs if r.status == "succeeded")
    wall = (max(ends) - started) if ends else None
    rate = ok / wall if wall else None
    result.details = {
        "sequential": {"jobs": seq_jobs, "latency_s": lat, "samples": latencies},
        "concurrent": {
            "jobs": conc_jobs,
            "concurrency": concurrency,
            "succeeded": ok,
            "statuses": sorted({str(r.status) for r in runs}),
            "wall_s": wall,
            "jobs_per_s": rate,
        },
        "emulator_stats": stats,
    }
    p50 = lat["median"]
    result.add(
        "c=1: POST→Completed p50",
        None if p50 is None else p50 * 1000,
        "ms",
        goal="≤ 150 ms",
        met=None if p50 is None else p50 <= 0.150,
        headline=True,
    )
    p95 = lat["p95"]
    result.add("c=1: POST→Completed p95", None if p95 is None else p95 * 1000, "ms")
    result.add(
        f"c={concurrency}: throughput ({conc_jobs} jobs)",
        rate,
        "jobs/s",
        goal="≥ 30 jobs/s",
        met=None if rate is None else rate >= 30,
        headline=True,
    )
    result.add(f"c={concurrency}: jobs succeeded", f"{ok}/{conc_jobs}")
    return result
