"""A client that behaves like Power Automate's HTTP action with the asynchronous pattern on.

It sends the request, and while the answer is 202 with a ``Location`` it waits the ``Retry-After``
the service asked for (Power Automate's default is 20 s; here the wait is capped so tests stay
quick) and GETs the ``Location``; the first non-202 answer is the action's result. Power Automate
treats 2xx as success, 4xx (but 408/429) as an immediate failure and retries 408/429/5xx; a flow
whose whole async run exceeds its deadline times out.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx

DEFAULT_POLL_S = 20.0


@dataclass
class ActionRun:
    response: httpx.Response
    polls: int = 0
    retry_after_seen: list[float] = field(default_factory=list)
    locations: list[str] = field(default_factory=list)

    @property
    def status(self) -> int:
        return self.response.status_code

    @property
    def succeeded(self) -> bool:
        return 200 <= self.status < 300

    @property
    def failed_for_good(self) -> bool:
        """What Power Automate does not retry: a 4xx other than 408 and 429."""
        return 400 <= self.status < 500 and self.status not in (408, 429)


async def http_action(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    json: Any = None,
    headers: dict[str, str] | None = None,
    max_wait_s: float = 0.5,
    deadline_s: float = 120.0,
) -> ActionRun:
    """Run the action: ``headers`` (the function key among them) go on the first request only —
    Power Automate re-applies only the action's ``authentication`` property when it follows
    Location, not custom headers (Azure/logicapps#611) — so every poll carries no key."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + deadline_s
    response = await client.request(method, url, json=json, headers=headers)
    run = ActionRun(response)
    while response.status_code == 202:
        location = response.headers.get("location")
        if not location:
            break  # without Location, a 202 is the final answer
        raw = response.headers.get("retry-after")
        retry_after = float(raw) if raw is not None else DEFAULT_POLL_S
        run.retry_after_seen.append(retry_after)
        run.locations.append(location)
        wait = min(retry_after, max_wait_s)
        if loop.time() + wait > deadline:
            raise TimeoutError(f"still 202 after {deadline_s}s ({run.polls} polls)")
        await asyncio.sleep(wait)  # the service's own pacing (capped), as the real action does
        response = await client.get(location)  # no custom headers on a poll
        run.polls += 1
        run.response = response
    return run
