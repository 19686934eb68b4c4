"""When a failed or throttled image call is retried, after how long, and when the job gives up
(the scenarios across attempts are in tests/unit/app/test_policies.py): the boundaries a job
crosses, each as the decision the orchestrator acts on."""

from __future__ import annotations

import pytest

from shared.orchestration.retry import decide_retry


@pytest.mark.parametrize(("hint", "wait"), [(0.0, 0.5), (0.2, 0.5), (0.7, 0.7), (1.0, 1.0)])
def test_a_small_hint_is_honoured_but_never_below_half_a_second(hint, wait):
    """Retry-After: 0 means "now": a short wait, not the backoff meant for unguided failures."""
    decision = decide_retry(1, 1, 5, hint, 100)
    assert (decision.retry, decision.wait_s) == (True, wait)


def test_a_negative_hint_is_no_hint_and_the_backoff_applies():
    assert decide_retry(1, 0, 5, -1.0, 100).wait_s == 2.0


def test_a_wait_that_would_end_exactly_at_the_deadline_is_too_late():
    decision = decide_retry(0, 1, 5, 10.0, 10.0)
    assert (decision.retry, decision.reason) == (False, "deadline")
    assert decide_retry(0, 1, 5, 10.0, 10.001).retry


def test_the_backoff_doubles_up_to_a_minute():
    waits = [decide_retry(f, 0, 99, None, 10_000).wait_s for f in range(0, 9)]
    assert waits == [2.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]


def test_throttled_answers_are_given_up_on_at_ten_per_attempt():
    assert decide_retry(0, 49, 5, 3.0, 10_000).retry
    assert decide_retry(0, 50, 5, 3.0, 10_000).reason == "attempts"
    assert decide_retry(4, 0, 5, None, 10_000).retry
    assert decide_retry(5, 0, 5, None, 10_000).reason == "attempts"
