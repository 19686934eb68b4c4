"""What a job id may be: one rule for every place that accepts, derives or parses one.

Ids are chosen by callers (a queue message's `id`, an Idempotency-Key becomes one) and end up in
URL paths, Durable instance ids and blob names, so they are limited to characters all three take
without escaping: letters, digits, `_` and `-`, starting with a letter or digit, at most 100.
"""

from __future__ import annotations

import re

JOB_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$"
_JOB_ID = re.compile(JOB_ID_PATTERN)
JOB_ID_RULE = "1-100 characters of letters, digits, '_' or '-', starting with a letter or digit"


def is_job_id(value: object) -> bool:
    """Whether `value` is a usable job id (the whole string: "id\\n" is not one)."""
    return isinstance(value, str) and _JOB_ID.fullmatch(value) is not None
