"""Which callback URLs a caller may give: the pure part of the callback policy.

A callback URL comes from the caller, so it is an outbound request the caller aims: only
``https`` is accepted (plain ``http`` only for hosts an operator lists in
``CALLBACK_ALLOW_HTTP_HOSTS``, for local development), no credentials in the URL, no IP literal
of a private, loopback or link-local network unless listed there too (the instance metadata
endpoint is one). Power Automate's "HTTP Webhook" callback URLs carry a signature in their query
string, so a callback URL is only ever shown redacted.

No I/O and no settings here: request models use `CallbackUrl` (the allowed http hosts come in
the validation context, `{"callback_allow_http_hosts": [...]}`); delivery is
shared/notify/callback.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, ValidationInfo

from shared.addresses import is_internal_address

ALLOW_HTTP_HOSTS_SETTING = "CALLBACK_ALLOW_HTTP_HOSTS"
HTTP_HOSTS_CONTEXT = "callback_allow_http_hosts"
MAX_URL_LENGTH = 2048


def callback_url_problem(url: str, http_hosts: Iterable[str] = ()) -> str | None:
    """Why ``url`` may not be used as a callback, or None when it may. ``http_hosts`` are the
    hosts that may be called over plain http (and may be internal addresses)."""
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
    allowed = frozenset(h.lower() for h in http_hosts)
    if parts.scheme not in ("http", "https"):
        return "must use https"
    if parts.scheme == "http" and host not in allowed:
        return f"must use https (plain http only for hosts in {ALLOW_HTTP_HOSTS_SETTING})"
    if is_internal_address(host) and host not in allowed:
        return "must not point at a private, loopback or link-local address"
    return None


def check_callback_url(url: str, info: ValidationInfo) -> str:
    """Pydantic validator: the URL unchanged, or a ValueError naming the problem."""
    context = info.context if isinstance(info.context, dict) else {}
    problem = callback_url_problem(url, context.get(HTTP_HOSTS_CONTEXT, ()))
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
