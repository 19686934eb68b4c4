"""When to poll a DALL-E 2 operation next.

Two goals pull against each other: notice success quickly (median ≤ 1 s from "succeeded" to the
job completing) and do not hammer the service (about one poll per 2 s of generation time). No
schedule meets both for a duration it does not know, so the poll activity learns how long this
deployment's operations take (`expected_s`, from the bounds each finished job saw) and returns
it in its result; the orchestrator passes the latest one from history, so replays see the same
number.

The hard cap is the allowance: by any moment at most `elapsed / SECONDS_PER_POLL + BANK` polls.

With an estimate E the schedule aims one poll at `E + AIM_MARGIN_S` and one `AIM_BEFORE_S`
before it; earlier polls lie on the long-run grid (every 2 s, counted back from there, never
before `FIRST_POLL_S`), so an estimate that is too long still sees success within one long-run
interval. After the aim it polls every `AFTER_AIM_INTERVAL_S` as long as the bank lasts, then at
the long-run rate — so an estimate that is too short costs at most one long-run interval too.
Without an estimate (a cold worker) it polls sparsely early and densely later, around a default
duration. The service's own `retry-after` always wins.
"""

from __future__ import annotations

import math
import statistics

SECONDS_PER_POLL = 2.0  # long-run rate: one poll per this many seconds of generation time
BANK = 1.5  # polls allowed on top of the long-run rate
DENSE_INTERVAL_S = 1.0  # cold: the interval once dense
FIRST_POLL_S = 1.0
MIN_INTERVAL_S = 0.5
MAX_INTERVAL_S = 30.0
MIN_GAP_S = 0.1  # our own schedule never waits less than this
# With an estimate: the aimed poll lands this long after it, the one before it this much earlier.
# The margin is half that gap, so the learnt midpoint of a success seen by the aimed poll is the
# estimate itself (the learning settles instead of drifting).
AIM_BEFORE_S = 0.5
AIM_MARGIN_S = AIM_BEFORE_S / 2
AFTER_AIM_INTERVAL_S = 0.5  # after the aim, while the allowance lasts (an estimate a bit short)
# Without an estimate (cold): sparse early, dense from DENSE_FROM of a default duration.
DEFAULT_EXPECTED_S = 8.0
SPARSE_FRACTION = 0.3  # sparse interval as a fraction of the typical duration...
SPARSE_MIN_S, SPARSE_MAX_S = 3.0, 10.0  # ...within these bounds
DENSE_FROM = 0.8


def earliest_allowed_s(polls_done: int) -> float:
    """The elapsed time from which poll number `polls_done + 1` fits the allowance."""
    return SECONDS_PER_POLL * (polls_done + 1 - BANK)


def _aimed_delay(elapsed_s: float, expected_s: float) -> float:
    """The wait until the next poll a schedule with estimate `expected_s` wants (before the
    allowance thins them out): the long-run grid before the aim, the aim pair, then dense."""
    aim = expected_s + AIM_MARGIN_S
    before = aim - AIM_BEFORE_S
    if elapsed_s < before:
        # the first grid point (counted back from `before` in long-run steps) that is neither
        # past nor earlier than the first poll may be
        steps_back = math.floor((before - max(elapsed_s, FIRST_POLL_S)) / SECONDS_PER_POLL)
        wanted = before - SECONDS_PER_POLL * steps_back
    elif elapsed_s < aim:
        wanted = aim
    else:
        after = math.floor((elapsed_s - aim) / AFTER_AIM_INTERVAL_S) + 1
        wanted = aim + AFTER_AIM_INTERVAL_S * after
    return wanted - elapsed_s


def _cold_delay(elapsed_s: float, polls_done: int) -> float:
    if polls_done == 0:
        return FIRST_POLL_S
    expected = DEFAULT_EXPECTED_S
    sparse = min(max(SPARSE_FRACTION * expected, SPARSE_MIN_S), SPARSE_MAX_S)
    if elapsed_s + sparse < expected * DENSE_FROM:
        return sparse
    return DENSE_INTERVAL_S


def next_poll_delay(
    elapsed_s: float,
    polls_done: int,
    *,
    expected_s: float | None = None,
    retry_after_s: float | None = None,
) -> float:
    """Seconds to wait before the next poll; deterministic in its arguments. `elapsed_s` is the
    time since the operation was submitted, `polls_done` the polls made so far."""
    if retry_after_s is not None and retry_after_s > 0:
        return min(max(retry_after_s, MIN_INTERVAL_S), MAX_INTERVAL_S)
    if expected_s is not None and expected_s > 0:
        wanted = _aimed_delay(elapsed_s, expected_s)
    else:
        wanted = _cold_delay(elapsed_s, polls_done)
    allowed = earliest_allowed_s(polls_done) - elapsed_s
    floor = FIRST_POLL_S if polls_done == 0 else MIN_GAP_S
    return min(max(wanted, allowed, floor), MAX_INTERVAL_S)


class DurationEstimate:
    """A robust running estimate of one deployment's operation durations, kept by the poll
    activity in process memory (never by the orchestrator).

    Each finished operation gives bounds: the last poll that saw it queued/running and the first
    that saw it succeed; its sample is their middle (the late upper bound alone would bias the
    estimate by up to a poll interval). The estimate is the median of the last `WINDOW` samples,
    so one odd operation does not move it; when the `SHIFT_AFTER` newest samples all lie beyond
    `SHIFT_RATIO` of it on the same side, the durations have changed (another load, another
    size) and the older samples are dropped, so a shift is followed after a couple of jobs."""

    WINDOW = 20
    SHIFT_AFTER = 2
    SHIFT_RATIO = 1.5

    def __init__(self) -> None:
        self._samples: list[float] = []

    def add_bounds(self, running_until_s: float, succeeded_by_s: float) -> None:
        lower = max(0.0, min(running_until_s, succeeded_by_s))
        self.add((lower + max(succeeded_by_s, lower)) / 2)

    def add(self, sample_s: float) -> None:
        if sample_s <= 0 or not math.isfinite(sample_s):
            return
        self._samples.append(sample_s)
        del self._samples[: -self.WINDOW]
        newest = self._samples[-self.SHIFT_AFTER :]
        older = self._samples[: -self.SHIFT_AFTER]
        if len(newest) == self.SHIFT_AFTER and older:
            typical = statistics.median(older)
            if all(s > typical * self.SHIFT_RATIO for s in newest) or all(
                s * self.SHIFT_RATIO < typical for s in newest
            ):
                self._samples = newest

    def value(self) -> float | None:
        """The median of the recent samples (None before the first)."""
        return statistics.median(self._samples) if self._samples else None
