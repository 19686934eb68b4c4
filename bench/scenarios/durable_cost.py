"""3. Durable cost per job: actions scheduled and history bytes, per flow, from the engine.

Durable Task Scheduler bills by actions (about 1 + 2k for an orchestration of k activities) and
every replay re-reads the history, so both are measured per flow, with the engine's own counters
(``instances.actions_scheduled``, ``instances.history_bytes``). Every history is also scanned for
the start of a base64 image (``iVBORw0KGgo`` PNG, ``/9j/`` JPEG, ...): image bytes must never pass
through the orchestration.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.engine_db import TASK_SCHEDULED, image_signatures_in
from bench.harness import open_stack
from bench.jobs import run_job
from bench.report import Result
from bench.stats import percentile

FLOWS: dict[str, dict[str, Any]] = {
    "sync 1 image (dall-e-3, URL)": {"model": "dall-e-3", "n": 1},
    "sync 1 image (gpt-image-1, base64)": {"model": "gpt-image-1", "n": 1},
    "dall-e-3 n=4": {"model": "dall-e-3", "n": 4},
    "gpt-image-1 n=4": {"model": "gpt-image-1", "n": 4},
    "dall-e-2 async (3 s, polling)": {"model": "dall-e-2", "n": 1, "size": "256x256"},
    "FLUX-1.1-pro (Image API, URL)": {"model": "FLUX-1.1-pro", "n": 1, "size": "1024x768"},
    "bfl-FLUX.2-pro async (3 s, polling)": {"model": "bfl-FLUX.2-pro", "n": 1, "size": "1024x768"},
}
# The asynchronous flows: the emulator takes 3 s per operation/task, so they really poll.
ASYNC_MODELS = ("dall-e-2", "bfl-FLUX.2-pro")
ONE_IMAGE_SYNC = ("sync 1 image (dall-e-3, URL)", "sync 1 image (gpt-image-1, base64)")


async def run(*, quick: bool = False, echo: bool = False) -> Result:
    repeats = 2 if quick else 5
    tag = str(int(time.time()))
    result = Result("durable_cost", "3. Durable cost per job", quick)
    per_flow: dict[str, Any] = {}
    signatures: dict[str, list[str]] = {}
    async with open_stack(echo=echo, all_models=True) as stack:
        await stack.emulator_reset()
        # DALL-E 2 operations (and BFL tasks) take 3 s, with no pacing hint, so the async flows
        # really poll.
        await stack.emulator_config(latency_seconds=0.0, async_retry_after_seconds=0)
        for flow, body in FLOWS.items():
            if body["model"] in ASYNC_MODELS:
                await stack.emulator_config(latency_seconds=3.0)
            else:
                await stack.emulator_config(latency_seconds=0.0)
            runs = await asyncio.gather(
                *(
                    run_job(
                        stack.http,
                        stack.api_url,
                        {**body, "prompt": f"bench cost {tag} {flow} #{i}"},
                        interval_s=0.2,
                        deadline_s=120,
                    )
                    for i in range(repeats)
                )
            )
            rows = []
            for r in runs:
                if r.id is None:
                    continue
                m = stack.engine.metrics(r.id)
                events = stack.engine.history(r.id)
                text = stack.engine.history_text(r.id)
                found = image_signatures_in(text)
                if found:
                    signatures[r.id] = found
                if m is None:
                    continue
                activities = sum(1 for e in events if e.get("EventType") == TASK_SCHEDULED)
                rows.append(
                    {
                        "id": r.id,
                        "status": r.status,
                        "actions": m.actions_scheduled,
                        "history_bytes": m.history_bytes,
                        "episodes": m.episodes,
                        "activities": activities,
                        "dts_estimate": 1 + 2 * activities,
                    }
                )
            per_flow[flow] = rows
        all_text = stack.engine.all_history_text()
        for sig in image_signatures_in(all_text):
            signatures.setdefault("(any instance)", []).append(sig)
    result.details = {"per_flow": per_flow, "image_signatures": signatures, "repeats": repeats}
    for flow, rows in per_flow.items():
        ok = [r for r in rows if r["status"] == "succeeded"]
        actions = percentile([float(r["actions"]) for r in ok], 50)
        hist = percentile([float(r["history_bytes"]) for r in ok], 50)
        dts = percentile([float(r["dts_estimate"]) for r in ok], 50)
        goal_a = goal_h = None
        met_a = met_h = None
        if flow in ONE_IMAGE_SYNC:
            goal_a, goal_h = "≤ 4", "≤ 4 KB"
            met_a = None if actions is None else actions <= 4
            met_h = None if hist is None else hist <= 4096
        result.add(
            f"{flow}: actions",
            actions,
            reference=f"DTS 1+2k: {dts:g}" if dts is not None else None,
            goal=goal_a,
            met=met_a,
            headline=flow == ONE_IMAGE_SYNC[0],
        )
        result.add(
            f"{flow}: history",
            None if hist is None else hist / 1024,
            "KB",
            goal=goal_h,
            met=met_h,
            headline=flow == ONE_IMAGE_SYNC[0],
        )
        if len(ok) < len(rows) or len(rows) < repeats:
            result.notes.append(f"{flow}: {len(ok)}/{repeats} jobs succeeded")
    result.add(
        "histories with base64 image bytes",
        len(signatures),
        goal="0",
        met=not signatures,
        headline=True,
    )
    return result
