"""When to poll a DALL-E 2 operation next.

Two goals pull against each other: notice success quickly (median ≤ 1 s from "succeeded" to the
job completing) and do not hammer the service (about one poll per 2 s of generation time). The
schedule keeps a budget of polls that grows by one per `SECONDS_PER_POLL` of elapsed time; while the
operation is young (well before its typical duration) it polls sparsely and so saves budget, then
spends the savings on 1-second polls around the time it usually finishes. The typical duration is
learnt by the poll activity (it is returned in the activity's result, so replays see the same
number); the service's own `retry-after` always wins when it sends one.
"""

from __future__ import annotations

SECONDS_PER_POLL = 2.0  # long-run rate: one poll per this many seconds of generation time
DENSE_INTERVAL_S = 1.0  # around the expected completion
SPARSE_INTERVAL_S = 3.0  # early on, saving budget
FIRST_POLL_S = 1.0
DEFAULT_EXPECTED_S = 8.0
MIN_INTERVAL_S = 0.5
MAX_INTERVAL_S = 30.0
DENSE_FROM = 0.6  # start dense polling at this fraction of the expected duration


def next_poll_delay(
    elapsed_s: float,
    polls_done: int,
    *,
    expected_s: float | None = None,
    retry_after_s: float | None = None,
) -> float:
    """Seconds to wait before the next poll; deterministic in its arguments."""
    if retry_after_s is not None and retry_after_s > 0:
        return min(max(retry_after_s, MIN_INTERVAL_S), MAX_INTERVAL_S)
    if polls_done == 0:
        return FIRST_POLL_S
    expected = expected_s if expected_s and expected_s > 0 else DEFAULT_EXPECTED_S
    credit = (elapsed_s + DENSE_INTERVAL_S) / SECONDS_PER_POLL + 1.0 - polls_done
    if elapsed_s + SPARSE_INTERVAL_S < expected * DENSE_FROM:
        return SPARSE_INTERVAL_S
    if credit >= 1.0:
        return DENSE_INTERVAL_S
    # Out of savings (a slow operation): settle at the long-run rate.
    return SECONDS_PER_POLL
