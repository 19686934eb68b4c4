"""The pure schedules: DALL-E 2 poll pacing and the retry policy."""

from __future__ import annotations

import statistics

import pytest

from shared.orchestration.polling import next_poll_delay
from shared.orchestration.retry import decide_retry

ROUND_TRIP_S = 0.2  # simulated poll activity time


def simulate(done_at: float, expected: float | None) -> tuple[float, int]:
    """(seconds from "succeeded" to the poll that sees it, polls made) for one operation."""
    t, polls = 0.0, 0
    while True:
        t += next_poll_delay(t, polls, expected_s=expected)
        t += ROUND_TRIP_S
        polls += 1
        if t >= done_at:
            return t - done_at, polls


@pytest.mark.parametrize("typical", [3.0, 5.0, 8.0, 10.0, 20.0, 40.0, 90.0])
@pytest.mark.parametrize("spread", [0.2, 0.5])
def test_success_is_noticed_within_a_second_at_the_median(typical, spread):
    # Operations finish around their usual duration (± spread), as learnt by the poll activity.
    cases = [typical * (1 - spread + 2 * spread * i / 40) for i in range(41)]
    runs = [simulate(done_at, typical) for done_at in cases]
    assert statistics.median(lag for lag, _ in runs) <= 1.0
    rate = statistics.mean(polls / done_at for (_, polls), done_at in zip(runs, cases, strict=True))
    # About one poll per 2 s; short operations trade polls for latency (at most ~1 per second).
    assert rate <= (0.6 if typical >= 10 else 1.05)


def test_without_a_learnt_duration_polling_stays_near_one_per_two_seconds():
    for done_at in (5.0, 10.0, 30.0, 60.0):
        lag, polls = simulate(done_at, None)
        assert polls <= done_at / 2 + 2
        assert lag <= 2.2


def test_a_long_operation_settles_at_one_poll_per_two_seconds():
    _, polls = simulate(300.0, 8.0)
    assert polls <= 300 / 2 + 2


def test_service_retry_after_wins_and_is_bounded():
    assert next_poll_delay(10, 5, retry_after_s=7) == 7
    assert next_poll_delay(10, 5, retry_after_s=0.01) == 0.5
    assert next_poll_delay(10, 5, retry_after_s=3600) == 30


def test_retry_honours_the_hint_then_backs_off_and_respects_limits():
    assert decide_retry(1, 5, 7.0, 100).wait_s == 7.0
    assert [decide_retry(a, 9, None, 1000).wait_s for a in (1, 2, 3)] == [2.0, 4.0, 8.0]
    assert decide_retry(1, 5, 1000.0, 10_000).wait_s == 120.0  # an absurd hint is capped
    out_of_attempts = decide_retry(5, 5, 1.0, 100)
    assert (out_of_attempts.retry, out_of_attempts.reason) == (False, "attempts")
    too_late = decide_retry(1, 5, 30.0, 20)
    assert (too_late.retry, too_late.reason) == (False, "deadline")
