"""Completion callbacks: which URLs may be called, and one delivery attempt.

A callback URL comes from the caller, so it is an outbound request the caller aims: only
``https`` is accepted (plain ``http`` only for hosts an operator lists in
``CALLBACK_ALLOW_HTTP_HOSTS``, for local development), no credentials in the URL, no IP literal
of a private, loopback or link-local network unless listed there too (the instance metadata
endpoint is one), and redirects are never followed (a redirect could point anywhere).
Power Automate's "HTTP Webhook" callback URLs carry a signature in their query string, so a
callback URL is only ever shown redacted.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
from collections.abc import Iterable, Mapping
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
from pydantic import AfterValidator, Field

ALLOW_HTTP_HOSTS_SETTING = "CALLBACK_ALLOW_HTTP_HOSTS"
CALLBACK_TIMEOUT_S = 15.0
MAX_URL_LENGTH = 2048
USER_AGENT = "aoai-image-durable-notify/1"
# Statuses that say "try again later"; every other non-2xx is the receiver's final word.
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def allowed_http_hosts(env: Mapping[str, str] | None = None) -> frozenset[str]:
    """Hosts that may be called over plain http (``CALLBACK_ALLOW_HTTP_HOSTS``, comma list)."""
    env = os.environ if env is None else env
    raw = env.get(ALLOW_HTTP_HOSTS_SETTING, "")
    return frozenset(h.strip().lower() for h in raw.split(",") if h.strip())


def callback_url_problem(url: str, http_hosts: Iterable[str] | None = None) -> str | None:
    """Why ``url`` may not be used as a callback, or None when it may."""
    if len(url) > MAX_URL_LENGTH:
        return f"longer than {MAX_URL_LENGTH} characters"
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        _ = parts.port  # raises on a malformed port
    except ValueError:
        return "not a valid URL"
    if not host:
        return "not an absolute URL with a host"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials before the host"
    allowed = allowed_http_hosts() if http_hosts is None else frozenset(http_hosts)
    if parts.scheme not in ("http", "https"):
        return "must use https"
    if parts.scheme == "http" and host not in allowed:
        return f"must use https (plain http only for hosts in {ALLOW_HTTP_HOSTS_SETTING})"
    if _is_internal_address(host) and host not in allowed:
        return "must not point at a private, loopback or link-local address"
    return None


def _is_internal_address(host: str) -> bool:
    """An IP literal the app's own network can reach but the caller should not aim it at."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False  # a name: resolved by DNS when called
    return not address.is_global


async def _resolves_inside(url: str) -> str | None:
    """A host NAME that resolves to a private, loopback or link-local address is refused like an
    IP literal would be: a callback must not make the app call into its own network. (Checked
    at delivery, in the activity; a name that does not resolve is left to the HTTP call.)"""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host or host in allowed_http_hosts() or _is_internal_address(host):
        return None  # no host, explicitly allowed, or an IP literal already judged
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, parts.port or 443)
    except OSError:
        return None
    if any(_is_internal_address(str(info[4][0])) for info in infos):
        return "resolves to a private, loopback or link-local address"
    return None


def check_callback_url(url: str) -> str:
    """Pydantic validator: the URL unchanged, or a ValueError naming the problem."""
    problem = callback_url_problem(url)
    if problem is not None:
        raise ValueError(f"callback_url {problem}")
    return url


CallbackUrl = Annotated[
    str,
    Field(
        max_length=MAX_URL_LENGTH,
        description=(
            "https URL that receives the job's result as a JSON POST when the job completes or "
            "fails (for example a Power Automate 'HTTP Webhook' listCallbackUrl())."
        ),
        json_schema_extra={"format": "uri"},
    ),
    AfterValidator(check_callback_url),
]
"""The type of a request's ``callback_url``: use it in the request model so bad URLs are a 400."""


def redact_url(url: str) -> str:
    """scheme://host[:port]/path with query, fragment and credentials removed (they may sign it)."""
    try:
        parts = urlsplit(url)
        netloc = parts.hostname or ""
        if parts.port is not None:
            netloc = f"{netloc}:{parts.port}"
    except ValueError:
        return "<invalid url>"
    return f"{parts.scheme}://{netloc}{parts.path}"


def _retry_after_s(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


async def post_callback(
    url: str,
    body: Mapping[str, Any],
    *,
    job_id: str,
    attempt: int,
    transport: httpx.AsyncBaseTransport | None = None,
) -> dict[str, Any]:
    """One delivery attempt. Never raises: returns what happened, for the orchestrator to decide.

    The result is ``{"delivered", "retryable", "http_status", "retry_after_s", "reason"}``.
    """
    problem = callback_url_problem(url) or await _resolves_inside(url)
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
        retry_after_s=_retry_after_s(response) if retryable else None,
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
