"""Blob metadata for an image: model, size, job id, prompt, revised prompt.

Metadata travels as HTTP headers, so values must be ASCII and all of it must stay under 8 KB.
Values are percent-encoded (UTF-8, nothing left unescaped but unreserved characters) and long
prompts are cut on a character boundary; `decode_metadata` gives the text back.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote, unquote

ENCODING_KEY = "meta_encoding"
ENCODING = "pct-utf8"
TRUNCATED_KEY = "truncated"
MAX_TOTAL = 8 * 1024  # the service's limit for all names and values together
BUDGET = MAX_TOTAL - 512  # headroom for names and our own keys
# Which values are cut first when over budget: the long free-text ones.
SHRINKABLE = ("revised_prompt", "prompt")


def _enc(value: str) -> str:
    return quote(value, safe="")


def _fit(value: str, limit: int) -> str:
    """The longest prefix of `value` whose encoding fits `limit` bytes (binary search)."""
    lo, hi = 0, len(value)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if len(_enc(value[:mid])) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return _enc(value[:lo])


def encode_metadata(values: Mapping[str, str | None]) -> dict[str, str]:
    """ASCII-safe metadata under the size limit. Keys must be identifiers (C# rules)."""
    out: dict[str, str] = {ENCODING_KEY: ENCODING}
    for key, value in values.items():
        if not key.isidentifier() or not key.isascii():
            raise ValueError(f"metadata key must be an ASCII identifier: {key!r}")
        if value:  # None and "" are left out: the service refuses empty values
            out[key.lower()] = _enc(value)
    truncated: list[str] = []

    def total() -> int:
        return sum(len(k) + len(v) for k, v in out.items()) + len(TRUNCATED_KEY) + 40

    for key in SHRINKABLE:
        if total() <= BUDGET:
            break
        if key in out:
            others = total() - len(out[key])
            out[key] = _fit(unquote(out[key]), max(0, BUDGET - others))
            truncated.append(key)
    while total() > BUDGET:  # other long values (unexpected): cut the longest
        key = max((k for k in out if k != ENCODING_KEY), key=lambda k: len(out[k]))
        others = total() - len(out[key])
        out[key] = _fit(unquote(out[key]), max(0, BUDGET - others))
        truncated.append(key)
    if truncated:
        out[TRUNCATED_KEY] = ",".join(dict.fromkeys(truncated))
    return out


def decode_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """The original (possibly truncated) values of metadata written by `encode_metadata`."""
    encoded = {k.lower(): v for k, v in metadata.items()}.get(ENCODING_KEY) == ENCODING
    out: dict[str, str] = {}
    for key, value in metadata.items():
        k = key.lower()
        if k in (ENCODING_KEY, TRUNCATED_KEY):
            continue
        out[k] = unquote(value) if encoded else value
    return out


def truncated_keys(metadata: Mapping[str, str]) -> list[str]:
    raw = {k.lower(): v for k, v in metadata.items()}.get(TRUNCATED_KEY, "")
    return [k for k in raw.split(",") if k]
