"""The pure schedules: DALL-E 2 poll pacing (with the learnt duration) and the retry policy.

The poll schedule is simulated the way the orchestrator runs it: wait `next_poll_delay`, poll
(the service's state is read a little later, the answer comes back `ROUND_TRIP_S` after that),
and feed the bounds each finished operation saw to a `DurationEstimate`, as the poll activity
does."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import pytest

from shared.orchestration.polling import (
    BANK,
    SECONDS_PER_POLL,
    DurationEstimate,
    next_poll_delay,
)
from shared.orchestration.retry import decide_retry

ROUND_TRIP_S = 0.2  # simulated poll activity time
DISPATCH_S = 0.05  # from the orchestrator's poll time to the service reading the state


@dataclass
class Operation:
    lag_s: float  # from "succeeded" to the orchestrator holding the answer that says so
    polls: int
    running_until_s: float  # the bounds the poll activity learns from
    succeeded_by_s: float


def simulate(done_at: float, expected: float | None) -> Operation:
    t, polls, running_until = 0.0, 0, 0.0
    while True:
        t += next_poll_delay(t, polls, expected_s=expected)
        polls += 1
        assert polls <= t / SECONDS_PER_POLL + BANK + 1e-9, "a poll beyond the allowance"
        polled_at = t
        t += ROUND_TRIP_S
        if polled_at + DISPATCH_S >= done_at:
            return Operation(t - done_at, polls, running_until, polled_at)
        running_until = polled_at


def warm_estimate(duration: float, operations: int = 5) -> DurationEstimate:
    """The estimate a worker holds after `operations` earlier operations of this duration."""
    estimate = DurationEstimate()
    for _ in range(operations):
        op = simulate(duration, estimate.value())
        estimate.add_bounds(op.running_until_s, op.succeeded_by_s)
    return estimate


@pytest.mark.parametrize("duration", [3.0, 10.0, 30.0])
def test_a_warm_estimate_sees_success_within_a_second_on_budget(duration):
    expected = warm_estimate(duration).value()
    # operations of this duration, give or take a little
    runs = [simulate(duration + jitter / 10, expected) for jitter in range(-2, 3)]

    assert statistics.median(op.lag_s for op in runs) <= 1.0
    assert statistics.median(op.polls for op in runs) <= duration / 2 + 1.5


@pytest.mark.parametrize("duration", [3.0, 10.0, 30.0])
def test_the_estimate_is_learnt_from_the_bounds_not_the_late_poll(duration):
    cold = simulate(duration, None)
    assert cold.succeeded_by_s - duration > 0.5  # the late poll alone would overestimate

    expected = warm_estimate(duration).value()

    assert expected is not None
    assert abs(expected - duration) <= 0.5


@pytest.mark.parametrize("duration", [3.0, 5.0, 10.0, 30.0, 60.0])
def test_without_an_estimate_polling_stays_within_the_allowance(duration):
    op = simulate(duration, None)  # the allowance is asserted at every poll

    assert op.lag_s <= SECONDS_PER_POLL + ROUND_TRIP_S


@pytest.mark.parametrize("duration", [3.0, 10.0, 30.0])
@pytest.mark.parametrize("wrong_by", [0.3, 0.5, 0.8, 1.25, 2.0, 5.0])
def test_a_wrong_estimate_misses_by_at_most_the_long_run_interval(duration, wrong_by):
    op = simulate(duration, duration * wrong_by)  # the allowance is asserted at every poll

    assert op.lag_s <= SECONDS_PER_POLL + ROUND_TRIP_S


def test_a_long_operation_settles_at_one_poll_per_two_seconds():
    assert simulate(300.0, 8.0).polls <= 300 / SECONDS_PER_POLL + 2


def test_the_estimate_shrugs_off_one_odd_operation_but_follows_a_change():
    estimate = DurationEstimate()
    assert estimate.value() is None
    for _ in range(10):
        estimate.add_bounds(9.5, 10.5)
    assert estimate.value() == 10.0

    estimate.add_bounds(39.5, 40.5)  # one slow operation
    assert estimate.value() == 10.0

    for _ in range(2):  # the deployment got slower
        estimate.add_bounds(29.0, 31.0)
    assert estimate.value() == 30.0
    for _ in range(2):  # and faster again
        estimate.add_bounds(2.5, 3.5)
    assert estimate.value() == 3.0


def test_the_estimate_keeps_only_recent_operations():
    estimate = DurationEstimate()
    for _ in range(DurationEstimate.WINDOW):
        estimate.add(10.0)
    for _ in range(DurationEstimate.WINDOW // 2 + 1):
        estimate.add(12.0)  # within the noise: no change is detected, the window moves on
    assert estimate.value() == 12.0


def test_retry_honours_the_hint_then_backs_off_and_respects_limits():
    assert decide_retry(0, 1, 5, 7.0, 100).wait_s == 7.0
    assert [decide_retry(f, 0, 9, None, 1000).wait_s for f in (1, 2, 3)] == [2.0, 4.0, 8.0]
    assert decide_retry(0, 1, 5, 1000.0, 10_000).wait_s == 120.0  # an absurd hint is capped
    out_of_attempts = decide_retry(5, 0, 5, None, 100)
    assert (out_of_attempts.retry, out_of_attempts.reason) == (False, "attempts")
    too_late = decide_retry(0, 1, 5, 30.0, 20)
    assert (too_late.retry, too_late.reason) == (False, "deadline")


def test_throttled_answers_are_not_faults_but_are_bounded_too():
    # Five 429s with Retry-After under max_attempts=5: the job waits its turn...
    assert decide_retry(0, 5, 5, 3.0, 1000).retry
    # ...and the backoff after a 5xx counts only the 5xx, not the 429s before it.
    assert decide_retry(1, 5, 5, None, 1000).wait_s == 2.0
    # A service that only ever throttles is given up on, far later.
    endless = decide_retry(0, 50, 5, 3.0, 10_000)
    assert (endless.retry, endless.reason) == (False, "attempts")
