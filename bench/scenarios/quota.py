"""5. Quota-bound throughput: many jobs against a requests-per-minute quota.

The emulator enforces the quota as Azure does (a sliding 60 s window per deployment; beyond it a
429 with ``Retry-After``). All jobs are posted at once; the app must wait out the 429s on durable
timers and finish every job without buying any image twice.

Quota-bound minimum: with a 60 s sliding window the k-th request (0-based) can be admitted no
earlier than ``floor(k / rpm) * 60`` s, so the last of N finishes no earlier than
``floor((N - 1) / rpm) * 60 s + one generation latency``. The figure is wall time (first POST to
the last Completed, engine time) divided by that.
"""

from __future__ import annotations

import asyncio
import time

from bench.harness import open_stack
from bench.jobs import run_job
from bench.report import Result

MODEL = "dall-e-3"
LATENCY_S = 1.0


def quota_bound_minimum(jobs: int, rpm: int, latency_s: float) -> float:
    return ((jobs - 1) // rpm) * 60.0 + latency_s


async def run(*, quick: bool = False, echo: bool = False) -> Result:
    # Quick: 30 jobs would all fit in one 60 s window at 120 RPM and never see a 429, so the quick
    # variant keeps the shape (one window, then the rest) with a quota of 20 RPM.
    jobs, rpm = (30, 20) if quick else (200, 120)
    tag = str(int(time.time()))
    result = Result("quota", f"5. Throughput against a {rpm} RPM quota", quick)
    async with open_stack(echo=echo) as stack:
        await stack.emulator_reset()
        await stack.emulator_config(latency_seconds=LATENCY_S, rpm_per_deployment={MODEL: rpm})
        started = time.time()
        runs = await asyncio.gather(
            *(
                run_job(
                    stack.http,
                    stack.api_url,
                    {"model": MODEL, "n": 1, "prompt": f"bench quota {tag} #{i}"},
                    interval_s=1.0,
                    deadline_s=900,
                )
                for i in range(jobs)
            )
        )
        ends = stack.engine.completed_times(r.id for r in runs)
        stats = await stack.emulator_stats()
    failed = [r for r in runs if r.status != "succeeded"]
    wall = (max(ends) - started) if ends else None
    minimum = quota_bound_minimum(jobs, rpm, LATENCY_S)
    ratio = wall / minimum if wall else None
    billed = stats.get("billed", {}).get("generations")
    throttled = stats.get("served", {}).get("rate_limited_429")
    result.details = {
        "jobs": jobs,
        "rpm": rpm,
        "latency_s": LATENCY_S,
        "wall_s": wall,
        "minimum_s": minimum,
        "failed": [{"id": r.id, "status": r.status, "error": r.body} for r in failed],
        "emulator_stats": stats,
    }
    result.add(
        "wall time / quota-bound minimum",
        ratio,
        "×",
        reference=f"minimum {minimum:g} s",
        goal="≤ 1.10×",
        met=None if ratio is None else ratio <= 1.10,
        headline=True,
    )
    result.add("wall time", wall, "s")
    result.add("jobs failed", len(failed), goal="0", met=not failed, headline=True)
    result.add(
        "generations billed",
        billed,
        reference=f"{jobs} jobs",
        goal=f"= {jobs}",
        met=billed == jobs,
        headline=True,
    )
    result.add("429s served", throttled)
    return result
