"""Completion callbacks: one delivery attempt.

Which URLs may be called is shared/notify/urls.py (checked at the POST, and again here at
delivery, where a host NAME resolving into the app's own network is refused too). Redirects are
never followed (a redirect could point anywhere).

Every ``reason`` returned is a fixed phrase (at most an HTTP status, an httpx exception class name
or a rule of `shared.addresses.url_problem`): it goes into the job's status and the completion
record, so no exception text — which could carry a server path or a traceback — ever does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from shared.addresses import is_internal_address, origin
from shared.http_hints import retry_after_s
from shared.notify.urls import callback_url_problem

CALLBACK_TIMEOUT_S = 15.0
USER_AGENT = "aoai-image-durable-notify/1"
# Statuses that say "try again later"; every other non-2xx is the receiver's final word.
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


async def _resolves_inside(url: str, http_hosts: Iterable[str]) -> str | None:
    """A host NAME that resolves to a private, loopback or link-local address is refused like an
    IP literal would be: a callback must not make the app call into its own network. (Checked
    at delivery, in the activity; a name that does not resolve is left to the HTTP call.)"""
    _scheme, host, port = origin(url)  # a URL that passed callback_url_problem
    host = host.strip("[]")
    if not host or host in http_hosts or is_internal_address(host):
        return None  # no host, explicitly allowed, or an IP literal already judged
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port)
    except OSError:
        return None
    if any(is_internal_address(str(info[4][0])) for info in infos):
        return "resolves to a private, loopback or link-local address"
    return None


async def post_callback(
    url: str,
    body: Mapping[str, Any],
    *,
    job_id: str,
    attempt: int,
    http_hosts: Iterable[str] = (),
    transport: httpx.AsyncBaseTransport | None = None,
) -> dict[str, Any]:
    """One delivery attempt. Never raises: returns what happened, for the orchestrator to decide.

    The result is ``{"delivered", "retryable", "http_status", "retry_after_s", "reason"}``.
    """
    hosts = frozenset(h.lower() for h in http_hosts)
    problem = callback_url_problem(url, hosts) or await _resolves_inside(url, hosts)
    if problem is not None:
        return _outcome(False, False, reason=f"callback_url {problem}")
    headers = {
        "User-Agent": USER_AGENT,
        # Lets a receiver drop a duplicate if an attempt is replayed after a crash.
        "Idempotency-Key": f"{job_id}-completion",
        "X-Image-Job-Id": job_id,
        "X-Notification-Attempt": str(attempt),
    }
    try:
        async with httpx.AsyncClient(
            timeout=CALLBACK_TIMEOUT_S, follow_redirects=False, transport=transport
        ) as client:
            response = await client.post(url, json=dict(body), headers=headers)
    except httpx.InvalidURL:  # the client read the checked URL differently: never call it
        return _outcome(False, False, reason="callback_url could not be used by the HTTP client")
    except httpx.TimeoutException:
        return _outcome(False, True, reason="callback timed out")
    except httpx.HTTPError as exc:
        return _outcome(False, True, reason=f"callback unreachable ({type(exc).__name__})")
    status = response.status_code
    if 200 <= status < 300:
        return _outcome(True, False, http_status=status)
    retryable = status in RETRYABLE_STATUSES
    return _outcome(
        False,
        retryable,
        http_status=status,
        retry_after_s=retry_after_s(response.headers) if retryable else None,
        reason=f"callback answered HTTP {status}",
    )


def _outcome(
    delivered: bool,
    retryable: bool,
    *,
    http_status: int | None = None,
    retry_after_s: float | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    return {
        "delivered": delivered,
        "retryable": retryable,
        "http_status": http_status,
        "retry_after_s": retry_after_s,
        "reason": reason,
    }
