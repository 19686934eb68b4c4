"""4b. Edits: host peak RSS growth editing a 20 MB input, and the durable cost of an edit job.

Memory: a ~20 MB PNG (a simple picture padded with a chunk decoders skip) is put in the images
container once, then edited by
`{"blob": name}` reference on gpt-image-2 (the Azure deployment route, multipart). The host
copies it into the job's `inputs/` folder (ranged reads into staged blocks) and the generating
activity streams it from there into the multipart body: neither holds it whole, so the growth
should stay near the block and read sizes, not the image's. Sampled as in `memory` (the host's
RSS every 5 ms; baseline just before the job, after a warm-up edit of the same flow). An inline
upload is not measured: its bytes are in the request body, which the Functions host hands over
whole by design.

Durable cost: a 1-image edit job from a small inline image — actions, history bytes, and a scan
of the history for image bytes (there must be none: inputs travel by blob name).
"""

from __future__ import annotations

import base64
import io
import os
import time
from typing import Any

from azure.storage.blob.aio import BlobServiceClient
from PIL import Image

from bench.engine_db import image_signatures_in
from bench.harness import open_stack
from bench.jobs import run_job
from bench.report import Result
from bench.scenarios.memory import MB, measure_job
from bench.stats import percentile
from devstack.emulator.images import pad

CONTAINER = "images"
EDIT = {"model": "gpt-image-2", "size": "1024x1024", "output_format": "png"}


def padded_png(target_bytes: int) -> bytes:
    """A ~`target_bytes` PNG whose picture is simple (a 2048x2048 gradient) and whose bulk is a
    private ancillary chunk every decoder skips (the emulator's own `pad`): 20 MB really cross
    every layer, while the edited image the service answers stays small, so the figure is the
    input's cost, not the reply's (that is `memory`'s base64 flow)."""
    picture = Image.linear_gradient("L").resize((2048, 2048)).convert("RGB")
    out = io.BytesIO()
    picture.save(out, "PNG")
    return pad(out.getvalue(), "png", target_bytes)


def noise_png(target_bytes: int) -> bytes:
    """A PNG of random pixels (it does not compress) of about `target_bytes`."""
    side = int((target_bytes / 3) ** 0.5) + 1
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, "PNG")
    return out.getvalue()


async def _put_blob(connection: str, name: str, data: bytes) -> None:
    async with BlobServiceClient.from_connection_string(connection) as service:
        container = service.get_container_client(CONTAINER)
        if not await container.exists():
            await container.create_container()
        await container.upload_blob(name, data, overwrite=True)


async def _measure(stack: Any, body: dict[str, Any]) -> dict[str, Any]:
    run, row = await measure_job(stack, body, route="images/edits")
    inputs = run.body.get("inputs") or [{}] if run.body else [{}]
    row["input_bytes"] = inputs[0].get("bytes")
    return row


async def run(*, quick: bool = False, echo: bool = False) -> Result:
    target = (8 if quick else 20) * MB
    repeats = 1 if quick else 3
    cost_repeats = 2 if quick else 5
    tag = str(int(time.time()))
    result = Result("edits", "4b. Edits: memory and durable cost", quick)
    source = padded_png(target)
    name = f"bench/edits-{tag}.png"
    async with open_stack(echo=echo) as stack:
        await stack.emulator_reset()
        await stack.emulator_config(latency_seconds=0.0)
        await _put_blob(stack.storage, name, source)
        body = {**EDIT, "images": [{"blob": name}]}
        warm = await run_job(
            stack.http,
            stack.api_url,
            {**body, "prompt": f"bench edit warm-up {tag}"},
            interval_s=0.1,
            deadline_s=300,
            route="images/edits",
        )
        rows = [
            await _measure(stack, {**body, "prompt": f"bench edit memory {tag} #{i}"})
            for i in range(repeats)
        ]
        small = base64.b64encode(noise_png(20_000)).decode()
        cost_rows: list[dict[str, Any]] = []
        signatures: dict[str, list[str]] = {}
        for i in range(cost_repeats):
            job = await run_job(
                stack.http,
                stack.api_url,
                {**EDIT, "prompt": f"bench edit cost {tag} #{i}", "images": [{"b64_json": small}]},
                interval_s=0.2,
                deadline_s=120,
                route="images/edits",
            )
            if job.id is None:
                continue
            metrics = stack.engine.metrics(job.id)
            found = image_signatures_in(stack.engine.history_text(job.id))
            if found:
                signatures[job.id] = found
            if metrics is not None:
                cost_rows.append(
                    {
                        "id": job.id,
                        "status": job.status,
                        "actions": metrics.actions_scheduled,
                        "history_bytes": metrics.history_bytes,
                    }
                )
    result.details = {
        "input_bytes": len(source),
        "warm_up": warm.status,
        "memory": rows,
        "cost": cost_rows,
        "image_signatures": signatures,
    }
    size_mb = len(source) / MB
    ok = [r for r in rows if r["status"] == "succeeded"]
    growth = max((r["growth_mb"] for r in ok), default=None)
    result.add(
        f"edit, {size_mb:.0f} MB input by blob: peak RSS growth (max of {len(ok)})",
        growth,
        "MB",
        goal="≤ 8 MB",
        met=None if growth is None else growth <= 8.0,
        headline=True,
    )
    if len(ok) < len(rows):
        result.notes.append(f"memory: {len(ok)}/{len(rows)} edits succeeded: {rows}")
    done = [r for r in cost_rows if r["status"] == "succeeded"]
    actions = percentile([float(r["actions"]) for r in done], 50)
    history = percentile([float(r["history_bytes"]) for r in done], 50)
    result.add(
        "1-image edit job: actions",
        actions,
        goal="≤ 4",
        met=None if actions is None else actions <= 4,
        headline=True,
    )
    result.add(
        "1-image edit job: history",
        None if history is None else history / 1024,
        "KB",
        goal="≤ 4 KB",
        met=None if history is None else history <= 4096,
        headline=True,
    )
    result.add(
        "edit histories with image bytes",
        len(signatures),
        goal="0",
        met=not signatures,
        headline=True,
    )
    if len(done) < cost_repeats:
        result.notes.append(f"cost: {len(done)}/{cost_repeats} edits succeeded: {cost_rows}")
    return result
