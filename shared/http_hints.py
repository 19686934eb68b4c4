"""The one reading of a server's "come back later" hint, for every HTTP peer the app talks to.

The image API (throttling, busy operations) and callback receivers (429/503) pace us with the
same headers, so they are read the same way: ``retry-after-ms`` (Azure OpenAI's finer hint) when
present, else ``Retry-After`` as delay-seconds or as an HTTP-date (RFC 9110 allows both). A value
that cannot be read, or is not a finite number, counts as no hint: the caller then backs off on
its own schedule rather than trusting garbage (an "inf" wait, or one that breaks JSON in history).
Pure: no I/O; the clock is a parameter, read only when the hint is a date.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def header(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header `name` (given in lower case), whatever case the peer sent it in: for
    plain dicts as for httpx.Headers, whose items already join a repeated header's values."""
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _seconds(text: str, scale: float = 1.0) -> float | None:
    try:
        value = float(text) / scale
    except ValueError:
        return None
    return max(0.0, value) if math.isfinite(value) else None


def _until(text: str, now: datetime | None) -> float | None:
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 850 / asctime dates carry no zone: they mean GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def retry_after_s(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds the server asks us to wait, or None when it gave no usable hint. A date in the
    past means "now" (0.0), as does a negative number."""
    ms = header(headers, "retry-after-ms")
    if ms:
        hint = _seconds(ms, 1000.0)
        if hint is not None:
            return hint
    value = header(headers, "retry-after")
    if not value:
        return None
    hint = _seconds(value)
    return hint if hint is not None else _until(value, now)
