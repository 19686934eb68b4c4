"""Which callback URLs a caller may give: the pure part of the callback policy.

A callback URL comes from the caller, so it is an outbound request the caller aims: it must be
canonical (`shared.addresses.url_problem`: no control characters, whitespace, credentials,
fragment or non-canonical host spelling, so the URL checked is the URL called), only
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

from pydantic import BeforeValidator, Field, ValidationInfo

from shared.addresses import MAX_URL_LENGTH, is_internal_address, origin, url_problem

ALLOW_HTTP_HOSTS_SETTING = "CALLBACK_ALLOW_HTTP_HOSTS"
HTTP_HOSTS_CONTEXT = "callback_allow_http_hosts"


def callback_url_problem(url: str, http_hosts: Iterable[str] = ()) -> str | None:
    """Why ``url`` may not be used as a callback, or None when it may. ``http_hosts`` are the
    hosts that may be called over plain http (and may be internal addresses).

    The canonical-form rules come first and are the app's one URL check (`url_problem`), so
    a callback and any other URL a request carries are refused for the same reasons."""
    problem = url_problem(url, max_length=MAX_URL_LENGTH)
    if problem is not None:
        return problem
    scheme, host, _port = origin(url)
    host = host.strip("[]")  # an IPv6 host is listed without its URL brackets
    allowed = frozenset(h.lower().strip("[]") for h in http_hosts)
    if scheme == "http" and host not in allowed:
        return f"must use https (plain http only for hosts in {ALLOW_HTTP_HOSTS_SETTING})"
    if is_internal_address(host) and host not in allowed:
        return "must not point at a private, loopback or link-local address"
    return None


def check_callback_url(url: object, info: ValidationInfo) -> object:
    """Pydantic validator: the URL unchanged, or a ValueError naming the problem.

    It runs BEFORE pydantic's own str handling: a request model may strip whitespace, and a URL
    sent with a trailing CR/LF must be refused, not quietly repaired. A value that is not a str
    is left to pydantic's type check."""
    if not isinstance(url, str):
        return url
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
    BeforeValidator(check_callback_url),
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
