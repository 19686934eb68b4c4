"""The DALL-E 2 poll schedule at the moments it turns: where the aimed polls land around a learnt
duration, how a cold worker spaces its polls, what a service hint does, and how the learnt
duration follows the operations (the end-to-end simulation is in tests/unit/app/test_policies.py).

Each case is a state the orchestrator can be in (`elapsed_s`, `polls_done`) and the wait it gets;
the allowance (at most `elapsed / 2 s + 1.5` polls) is kept in every case."""

from __future__ import annotations

import math

import pytest

from shared.orchestration.polling import DurationEstimate, next_poll_delay

# ------------------------------------------------------------------ with a learnt duration


def test_with_an_estimate_the_aimed_pair_straddles_it():
    """E = 10 s: one poll half a second before E + 0.25 s, the next one at it."""
    assert next_poll_delay(7.85, 4, expected_s=10.0) == pytest.approx(9.75 - 7.85)
    assert next_poll_delay(9.75, 5, expected_s=10.0) == 0.5  # from the earlier of the pair


def test_earlier_polls_lie_on_the_two_second_grid_counted_back_from_the_aim():
    assert next_poll_delay(0.0, 0, expected_s=10.0) == 1.75
    assert next_poll_delay(1.95, 1, expected_s=10.0) == pytest.approx(3.75 - 1.95)


def test_a_short_estimate_is_still_aimed_at_after_the_first_second():
    assert next_poll_delay(0.0, 0, expected_s=2.75) == 2.5
    assert next_poll_delay(2.5, 1, expected_s=2.75) == 0.5  # the aim: 3.0 s


@pytest.mark.parametrize(
    ("elapsed", "wait"),
    [(3.0, 0.5), (3.5, 0.5), (3.7, 0.3), (4.1, 0.4)],
)
def test_past_the_aim_polls_land_every_half_second_while_the_bank_lasts(elapsed, wait):
    """E = 2.75 s (aim 3.0 s), one poll so far (a Retry-After held polling back)."""
    assert next_poll_delay(elapsed, 1, expected_s=2.75) == pytest.approx(wait)


def test_past_the_aim_the_allowance_paces_once_the_bank_is_spent():
    assert next_poll_delay(3.5, 3, expected_s=2.75) == 1.5  # poll 4 may come at 5.0 s


def test_even_a_tiny_estimate_never_polls_before_the_first_second():
    assert next_poll_delay(0.0, 0, expected_s=0.1) == 1.0


def test_two_polls_are_never_closer_than_a_tenth_of_a_second():
    """On the aim exactly (a zero-time poll in a replay), the next one still waits."""
    assert next_poll_delay(1.75, 1, expected_s=10.0) == 0.1


@pytest.mark.parametrize("expected", [None, 0.0, -1.0])
def test_no_estimate_or_a_meaningless_one_means_the_cold_schedule(expected):
    assert next_poll_delay(0.0, 0, expected_s=expected) == 1.0
    assert next_poll_delay(1.0, 1, expected_s=expected) == 3.0


def test_an_estimate_under_a_second_is_aimed_at_too():
    """E = 0.8 s: the aim (1.05 s) is due right after the first poll, so only the gap waits."""
    assert next_poll_delay(1.0, 1, expected_s=0.8) == 0.1


# ------------------------------------------------------------------ cold worker


def test_cold_polls_are_sparse_until_the_next_would_reach_80_percent_of_8_s_then_dense():
    assert next_poll_delay(0.0, 0) == 1.0
    assert next_poll_delay(1.0, 1) == 3.0
    assert next_poll_delay(3.3, 2) == 3.0  # lands at 6.3 s: still sparse
    assert next_poll_delay(3.4, 2) == 1.0  # would land at 6.4 s: dense from there
    assert next_poll_delay(7.0, 4) == 1.0


# ------------------------------------------------------------------ the service's hint


def test_the_services_retry_after_wins_and_is_bounded():
    assert next_poll_delay(10, 5, retry_after_s=7) == 7
    assert next_poll_delay(10, 5, expected_s=10.5, retry_after_s=7) == 7
    assert next_poll_delay(10, 5, retry_after_s=0.01) == 0.5
    assert next_poll_delay(10, 5, retry_after_s=3600) == 30


def test_a_retry_after_of_zero_leaves_the_schedule_in_charge():
    assert next_poll_delay(0.0, 0, retry_after_s=0) == 1.0
    assert next_poll_delay(1.0, 1, retry_after_s=0.0) == 3.0


# ------------------------------------------------------------------ the learnt duration


def test_a_sample_is_the_middle_of_the_bounds_even_for_a_sub_second_operation():
    estimate = DurationEstimate()
    estimate.add_bounds(0.2, 0.6)
    assert estimate.value() == pytest.approx(0.4)


def test_bounds_in_the_wrong_order_or_before_the_start_are_clamped():
    estimate = DurationEstimate()
    estimate.add_bounds(-1.0, 3.0)  # "running until" before the submit: from 0
    assert estimate.value() == 1.5


@pytest.mark.parametrize("sample", [0.0, -2.0, math.inf, math.nan])
def test_meaningless_samples_are_ignored(sample):
    estimate = DurationEstimate()
    estimate.add(sample)
    assert estimate.value() is None


def test_a_half_second_sample_counts():
    estimate = DurationEstimate()
    estimate.add(0.5)
    assert estimate.value() == 0.5


def _estimate_after(*samples: float) -> float | None:
    estimate = DurationEstimate()
    for s in samples:
        estimate.add(s)
    return estimate.value()


def test_a_pair_exactly_half_again_as_long_is_noise_but_longer_is_a_change():
    assert _estimate_after(*[10.0] * 5, 15.0, 15.0) == 10.0
    assert _estimate_after(*[10.0] * 5, 15.5, 15.5) == 15.5


def test_a_pair_exactly_two_thirds_as_long_is_noise_but_shorter_is_a_change():
    assert _estimate_after(*[15.0] * 5, 10.0, 10.0) == 15.0
    assert _estimate_after(*[15.0] * 5, 9.5, 9.5) == 9.5


def test_a_pair_a_little_faster_is_noise():
    assert _estimate_after(*[10.0] * 5, 8.0, 8.0) == 10.0


def test_a_change_is_measured_against_the_recent_typical_duration_not_the_first_samples():
    """First 10 s, then many 13 s (within the noise): 8 s is now a third faster than typical."""
    assert _estimate_after(10.0, 10.0, *[13.0] * 6, 8.0, 8.0) == 8.0
