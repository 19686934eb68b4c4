"""Talking to the app the way a caller does: ``POST /api/images``, then the job's status URL.

Completion is observed by polling the status URL on a short interval (the benchmark's own
resolution, reported with the figures); where the job's output carries its own ``completed``
timestamp, that is preferred, so the client's poll interval does not inflate the delay.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

TERMINAL_HTTP = (200,)


@dataclass
class JobRun:
    """One job as the caller saw it."""

    id: str | None
    status_url: str | None
    posted_at: float  # time.time() just before the POST
    accepted_at: float | None = None
    done_at: float | None = None  # time.time() when a poll first saw an end state
    http_status: int | None = None
    status: str | None = None  # succeeded | failed | deadline | rejected
    body: dict[str, Any] = field(default_factory=dict)
    polls: int = 0

    @property
    def completed_ts(self) -> float | None:
        """The job's own completion time (output ``completed``), else when the client noticed."""
        text = self.body.get("completed") if self.body else None
        if isinstance(text, str):
            try:
                return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
            except ValueError:
                pass
        return self.done_at

    @property
    def error_code(self) -> str | None:
        err = self.body.get("error") if self.body else None
        return err.get("code") if isinstance(err, dict) else None


def is_finished(status_code: int, body: dict[str, Any]) -> bool:
    """An end state, read from the reply: 200 with a final ``status``, or a 4xx/5xx job error."""
    status = str(body.get("status", "")).lower()
    if status in ("succeeded", "completed", "failed", "terminated", "canceled"):
        return True
    return status_code not in (202,) and status_code >= 400 and "error" in body


async def post_job(
    client: httpx.AsyncClient, base_url: str, body: dict[str, Any], *, route: str = "images"
) -> JobRun:
    """POST a job (`route`: images, or images/edits) and read its 202."""
    run = JobRun(id=None, status_url=None, posted_at=time.time())
    r = await client.post(f"{base_url}/api/{route}", json=body)
    run.accepted_at = time.time()
    run.http_status = r.status_code
    try:
        data = r.json()
    except ValueError:
        data = {}
    if r.status_code != 202:
        run.status = "rejected"
        run.body = data if isinstance(data, dict) else {}
        return run
    run.id = data.get("id")
    run.status_url = data.get("statusQueryGetUri") or r.headers.get("location")
    if run.status_url and run.status_url.startswith("/"):
        run.status_url = base_url + run.status_url
    return run


async def wait_job(
    client: httpx.AsyncClient, run: JobRun, *, interval_s: float = 0.1, deadline_s: float = 600.0
) -> JobRun:
    """Poll the job's status URL until an end state or the deadline."""
    if run.status_url is None:
        return run
    give_up = time.monotonic() + deadline_s
    while time.monotonic() < give_up:
        try:
            r = await client.get(run.status_url)
        except httpx.TransportError:
            # The host may be restarting (crash scenarios): that is not the job's end.
            await asyncio.sleep(interval_s)
            continue
        run.polls += 1
        try:
            data = r.json()
        except ValueError:
            data = {}
        if isinstance(data, dict) and is_finished(r.status_code, data):
            run.done_at = time.time()
            run.http_status = r.status_code
            run.body = data
            run.status = str(data.get("status", "failed")).lower()
            return run
        await asyncio.sleep(interval_s)
    run.status = "deadline"
    return run


async def run_job(
    client: httpx.AsyncClient,
    base_url: str,
    body: dict[str, Any],
    *,
    interval_s: float = 0.1,
    deadline_s: float = 600.0,
    route: str = "images",
) -> JobRun:
    run = await post_job(client, base_url, body, route=route)
    return await wait_job(client, run, interval_s=interval_s, deadline_s=deadline_s)
