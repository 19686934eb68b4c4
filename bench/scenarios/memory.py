"""4. Memory: peak RSS growth of the host process while it persists one ~20 MB image.

The host's RSS (with any children) is sampled every 5 ms by psutil from a thread; the baseline is
the median of samples taken just before the job, after one warm-up job of the same flow (imports,
pools and caches are not per-image cost). Two flows: a URL reply (DALL-E 3: streamed download
into Blob Storage) and a base64 reply (gpt-image: the whole reply is in memory by design).

The images are made ~20 MB by the emulator itself (``image_min_bytes``: a private PNG chunk of
incompressible bytes, same picture), so the app talks to the emulator directly.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from contextlib import suppress
from typing import Any

import psutil

from bench.harness import open_stack
from bench.jobs import JobRun, run_job
from bench.report import Result

MB = 1024 * 1024
FLOWS = {
    "url": {"model": "dall-e-3", "n": 1, "size": "1024x1024"},
    "base64": {"model": "gpt-image-1", "n": 1, "size": "1024x1024", "output_format": "png"},
}


def tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with suppress(psutil.Error):
            total += p.memory_info().rss
    return total


class RssSampler:
    """Samples a process tree's RSS in a background thread until stopped."""

    def __init__(self, pid: int, interval_s: float = 0.005) -> None:
        self.proc = psutil.Process(pid)
        self.interval_s = interval_s
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), tree_rss(self.proc)))
            self._stop.wait(self.interval_s)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


async def measure_job(
    stack: Any, body: dict[str, Any], *, route: str = "images"
) -> tuple[JobRun, dict[str, Any]]:
    """Run one job (POST /api/`route`) while sampling the host's RSS: the run, and a row of its
    status, error, baseline, peak and growth (MB) and sample count."""
    with RssSampler(stack.host_pid) as sampler:
        settle = time.monotonic() + 0.5
        while time.monotonic() < settle:  # a short quiet window for the baseline
            await _idle(0.05)
        mark = time.monotonic()
        run = await run_job(
            stack.http, stack.api_url, body, interval_s=0.1, deadline_s=300, route=route
        )
        await _idle(0.2)
    before = [rss for t, rss in sampler.samples if t < mark]
    during = [rss for t, rss in sampler.samples if t >= mark]
    baseline = statistics.median(before) if before else 0
    peak = max(during) if during else 0
    return run, {
        "status": run.status,
        "error": run.error_code,
        "baseline_mb": baseline / MB,
        "peak_mb": peak / MB,
        "growth_mb": (peak - baseline) / MB,
        "samples": len(sampler.samples),
    }


async def _measure(stack: Any, flow: str, body: dict[str, Any], tag: str, i: int) -> dict[str, Any]:
    run, row = await measure_job(stack, {**body, "prompt": f"bench memory {tag} {flow} #{i}"})
    row["stored_bytes"] = (run.body.get("images") or [{}])[0].get("bytes") if run.body else None
    return row


async def _idle(seconds: float) -> None:
    await asyncio.sleep(seconds)  # the sampler thread needs wall time to observe, not a wait-for


async def run(*, quick: bool = False, echo: bool = False) -> Result:
    target = (8 if quick else 20) * MB
    repeats = 1 if quick else 3
    tag = str(int(time.time()))
    result = Result("memory", "4. Host peak RSS growth per persisted image", quick)
    rows: dict[str, list[dict[str, Any]]] = {}
    async with open_stack(echo=echo, IMAGE_MAX_BYTES=str(64 * MB)) as stack:
        await stack.emulator_reset()
        await stack.emulator_config(image_min_bytes=target)
        for flow, body in FLOWS.items():
            await run_job(
                stack.http,
                stack.api_url,
                {**body, "prompt": f"bench memory warm-up {tag} {flow}"},
                interval_s=0.1,
                deadline_s=300,
            )
            rows[flow] = [await _measure(stack, flow, body, tag, i) for i in range(repeats)]
    result.details = {"target_bytes": target, "per_flow": rows}
    size_mb = target / MB
    for flow, measured in rows.items():
        ok = [m for m in measured if m["status"] == "succeeded"]
        growth = max((m["growth_mb"] for m in ok), default=None)
        if flow == "url":
            goal, limit = "≤ 8 MB", 8.0
        else:
            goal, limit = f"≤ 2.5× image ({2.5 * size_mb:g} MB)", 2.5 * size_mb
        result.add(
            f"{flow} reply, {size_mb:g} MB image: peak RSS growth (max of {len(ok)})",
            growth,
            "MB",
            goal=goal,
            met=None if growth is None else growth <= limit,
            headline=True,
        )
        if len(ok) < len(measured):
            result.notes.append(f"{flow}: {len(ok)}/{len(measured)} jobs succeeded: {measured}")
        sizes = {m["stored_bytes"] for m in ok}
        if sizes and sizes != {target}:
            result.notes.append(f"{flow}: stored sizes {sorted(map(str, sizes))}, target {target}")
    return result
