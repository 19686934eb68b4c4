"""When to poll a DALL-E 2 operation next.

Two goals pull against each other: notice success quickly (median ≤ 1 s from "succeeded" to the
job completing) and do not hammer the service (about one poll per 2 s of generation time). The
schedule allows `elapsed / SECONDS_PER_POLL + BANK` polls by any moment. While the operation is
young (well before its typical duration) it polls sparsely and so saves allowance; from
`DENSE_FROM` of the typical duration it polls every second for as long as the savings last, then
settles at the long-run rate. The typical duration is learnt by the poll activity and comes back
in its result, so replays see the same number; the service's own `retry-after` always wins.

For operations shorter than ~8 s the two goals cannot both hold (a 1 s median needs ~1 poll/s);
the schedule then favours latency.
"""

from __future__ import annotations

SECONDS_PER_POLL = 2.0  # long-run rate: one poll per this many seconds of generation time
BANK = 1.5  # polls allowed on top of the long-run rate
DENSE_INTERVAL_S = 1.0
FIRST_POLL_S = 1.0
DEFAULT_EXPECTED_S = 8.0
SPARSE_FRACTION = 0.3  # sparse interval as a fraction of the typical duration...
SPARSE_MIN_S, SPARSE_MAX_S = 3.0, 10.0  # ...within these bounds
DENSE_FROM = 0.8  # poll densely from this fraction of the typical duration
MIN_INTERVAL_S = 0.5
MAX_INTERVAL_S = 30.0


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
    sparse = min(max(SPARSE_FRACTION * expected, SPARSE_MIN_S), SPARSE_MAX_S)
    if elapsed_s + sparse < expected * DENSE_FROM:
        return sparse
    # The earliest moment the next poll fits the allowance, but never sooner than 1 s.
    earliest = SECONDS_PER_POLL * (polls_done + 1 - BANK) - elapsed_s
    return min(max(DENSE_INTERVAL_S, earliest), MAX_INTERVAL_S)
