"""1. Ready→persisted delay of the DALL-E 2 (async) flow, beside the seed's fixed 10 s poll.

For each generation time L the emulator is set to a fixed latency (no jitter) and a batch of jobs
runs concurrently through the app, while the same number of operations is polled, in the same
run and against the same emulator, by the seed's strategy (a bench-only poller with a fixed 10 s
timer: the app has no fixed-interval setting).

* "ready" is when the emulator's operation turned ``succeeded``, as the emulator itself reports
  it (``GET /_emulator/operations``: ``ready_at``, wall clock).
* "persisted" is when the engine recorded the instance Completed (``last_updated_time``).
* polls per job: the status GETs the emulator answered for the job's operation(s), matched by
  the job's unique prompt; "seen" is the emulator's time of the first poll that saw the end.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.engine_db import EngineDb
from bench.harness import open_stack
from bench.jobs import JobRun, run_job
from bench.report import Result
from bench.seed_poller import PolledJob, run_fixed_interval_job
from bench.stats import summary

WARM_UP_JOBS = 2  # unmeasured jobs before each latency's batch (see _one_latency)
SEED_INTERVAL_S = 10.0
Timeline = dict[str, Any]  # one entry of GET /_emulator/operations


async def emulator_operations(stack: Any) -> dict[str, list[Timeline]]:
    """The emulator's operation timelines, by prompt (a job's prompt is unique in this run)."""
    r = await stack.http.get(f"{stack.emulator_url}/_emulator/operations")
    r.raise_for_status()
    by_prompt: dict[str, list[Timeline]] = {}
    for op in r.json()["operations"]:
        by_prompt.setdefault(op["prompt"], []).append(op)
    return by_prompt


def _ready(ops: list[Timeline], done_outcome: str = "succeeded") -> Timeline | None:
    """The operation whose result the job used: the last one that ended in `done_outcome`
    (DALL-E 2 says "succeeded", BFL "Ready")."""
    done = [op for op in ops if op["outcome"] == done_outcome]
    return max(done, key=lambda op: op["submitted_at"]) if done else None


def job_timing(
    engine: EngineDb, run: JobRun, ops: list[Timeline], done_outcome: str = "succeeded"
) -> dict[str, Any] | None:
    """Ready→completed and ready→seen delays and polls of one app job, from the emulator."""
    if run.id is None or run.status != "succeeded":
        return None
    metrics = engine.metrics(run.id)
    op = _ready(ops, done_outcome)
    if metrics is None or op is None or op["seen_done_at"] is None:
        return None
    return {
        "delay_s": metrics.last_updated_time - op["ready_at"],
        "seen_s": op["seen_done_at"] - op["ready_at"],
        "polls": sum(o["polls"] for o in ops),  # every poll of every operation the job made
        "operations": len(ops),
    }


def seed_timing(job: PolledJob, ops: list[Timeline]) -> dict[str, Any] | None:
    op = _ready(ops)
    if job.status != "succeeded" or op is None or op["seen_done_at"] is None:
        return None
    return {"delay_s": op["seen_done_at"] - op["ready_at"], "polls": op["polls"]}


async def _one_latency(stack: Any, latency: float, jobs: int, tag: str) -> dict[str, Any]:
    await stack.emulator_reset()
    # retry-after 0: no pacing hint, as the real service gives none (P1 in the contract); by
    # default the emulator would tell the app exactly when the operation ends.
    await stack.emulator_config(
        latency_seconds=latency, latency_jitter_seconds=0.0, async_retry_after_seconds=0
    )
    body = {"model": "dall-e-2", "size": "256x256", "n": 1}
    # Warm-up: the app learns a deployment's operation duration from finished jobs (per worker),
    # as it would in steady use. Two jobs one after the other make the estimate reflect this
    # latency; the first of them is the cold case (a latency change) and is reported as such.
    warm_prompts = [f"bench warm {tag} L={latency} #{i}" for i in range(WARM_UP_JOBS)]
    warm_runs = [
        await run_job(
            stack.http,
            stack.api_url,
            {**body, "prompt": prompt},
            interval_s=1.0,
            deadline_s=latency * 4 + 120,
        )
        for prompt in warm_prompts
    ]
    our_prompts = [f"bench ready {tag} L={latency} #{i}" for i in range(jobs)]
    seed_prompts = [f"bench seed {tag} L={latency} #{i}" for i in range(jobs)]
    ours = [
        run_job(
            stack.http,
            stack.api_url,
            {**body, "prompt": prompt},
            interval_s=1.0,  # the caller's poll does not move the engine's completion time
            deadline_s=latency * 4 + 120,
        )
        for prompt in our_prompts
    ]
    seed = [
        run_fixed_interval_job(
            stack.http,
            stack.emulator_url,
            stack.emulator_key,
            prompt,
            interval_s=SEED_INTERVAL_S,
            deadline_s=latency * 4 + 120,
        )
        for prompt in seed_prompts
    ]
    our_runs, seed_runs = await asyncio.gather(asyncio.gather(*ours), asyncio.gather(*seed))
    ops = await emulator_operations(stack)
    timings = [
        job_timing(stack.engine, r, ops.get(p, []))
        for r, p in zip(our_runs, our_prompts, strict=True)
    ]
    ok = [t for t in timings if t is not None]
    cold = job_timing(stack.engine, warm_runs[0], ops.get(warm_prompts[0], []))
    seed_timings = [
        seed_timing(s, ops.get(p, [])) for s, p in zip(seed_runs, seed_prompts, strict=True)
    ]
    seed_ok = [t for t in seed_timings if t is not None]
    return {
        "latency_s": latency,
        "jobs": jobs,
        "ours": {
            "completed": len(ok),
            "statuses": [r.status for r in our_runs],
            "delay_s": summary([t["delay_s"] for t in ok]),
            "seen_s": summary([t["seen_s"] for t in ok]),
            "polls_per_job": summary([float(t["polls"]) for t in ok]),
            "samples": ok,
            "cold": cold,
        },
        "seed_10s": {
            "completed": len(seed_ok),
            "delay_s": summary([t["delay_s"] for t in seed_ok]),
            "polls_per_job": summary([float(t["polls"]) for t in seed_ok]),
        },
    }


async def run(*, quick: bool = False, echo: bool = False) -> Result:
    latencies = [2.0, 5.0] if quick else [3.0, 10.0, 30.0]
    jobs = 4 if quick else 10
    result = Result("ready_delay", "1. DALL-E 2 ready→persisted delay", quick)
    tag = str(int(time.time()))
    rows = []
    async with open_stack(echo=echo) as stack:
        for latency in latencies:
            rows.append(await _one_latency(stack, latency, jobs, tag))
    result.details = {"per_latency": rows, "seed_interval_s": SEED_INTERVAL_S}
    for row in rows:
        lat = row["latency_s"]
        ours, seed = row["ours"], row["seed_10s"]
        med, p95 = ours["delay_s"]["median"], ours["delay_s"]["p95"]
        polls = ours["polls_per_job"]["median"]
        seed_med = seed["delay_s"]["median"]
        seed_polls = seed["polls_per_job"]["median"]
        budget = lat / 2.0 + 1.0  # "about one per 2 s of generation time" (+1 for the last look)
        result.add(
            f"L={lat:g}s: delay median",
            med,
            "s",
            reference=f"seed 10 s poll: {seed_med:.2f} s" if seed_med is not None else None,
            goal="≤ 1 s",
            met=None if med is None else med <= 1.0,
            headline=lat == 10.0 or (quick and lat == latencies[-1]),
        )
        result.add(
            f"L={lat:g}s: delay p95",
            p95,
            "s",
            reference=f"seed: {seed['delay_s']['p95']:.2f} s" if seed["delay_s"]["p95"] else None,
        )
        cold = ours.get("cold")
        result.add(
            f"L={lat:g}s: cold delay (first job after a latency change)",
            None if cold is None else cold["delay_s"],
            "s",
        )
        result.add(
            f"L={lat:g}s: ready→seen by the app's poll (median)",
            ours["seen_s"]["median"],
            "s",
        )
        result.add(
            f"L={lat:g}s: polls per job (median)",
            polls,
            reference=f"seed: {seed_polls:g}" if seed_polls is not None else None,
            goal=f"≤ ~{budget:g}",
            met=None if polls is None else polls <= budget,
            headline=lat == 10.0 or (quick and lat == latencies[-1]),
        )
        if ours["completed"] < row["jobs"]:
            result.notes.append(
                f"L={lat:g}s: only {ours['completed']}/{row['jobs']} jobs completed: "
                f"{ours['statuses']}"
            )
    result.notes.append(
        f"{jobs} app jobs and {jobs} seed-poller operations per latency, concurrently; "
        "ready = the emulator's ready_at (GET /_emulator/operations); persisted = engine "
        "Completed time; polls = status GETs the emulator answered per job; the emulator sends "
        "no pacing hint; the seed's 10 s timer has a random phase per job."
    )
    return result
