"""Whether and when to retry a throttled or unavailable image API call.

Activities never sleep: they return the service's hint, and the orchestrator waits on a durable
timer. The wait honours the hint (Retry-After) and otherwise backs off exponentially; the job gives
up when attempts run out or the wait would end past the job's deadline.
"""

from __future__ import annotations

from dataclasses import dataclass

BASE_BACKOFF_S = 2.0
MAX_BACKOFF_S = 60.0
MIN_WAIT_S = 0.5
MAX_HINT_S = 120.0  # like the openai SDK: a longer hint is not trusted blindly


@dataclass(frozen=True)
class RetryDecision:
    retry: bool
    wait_s: float = 0.0
    reason: str = ""  # why not, when retry is False: "attempts" | "deadline"


def backoff_s(attempt: int) -> float:
    """Exponential backoff after the given (1-based) failed attempt, without jitter."""
    return min(BASE_BACKOFF_S * (2 ** max(attempt - 1, 0)), MAX_BACKOFF_S)


def decide_retry(
    attempts_made: int,
    max_attempts: int,
    retry_after_s: float | None,
    seconds_left: float,
) -> RetryDecision:
    """After `attempts_made` failed attempts, retry (after `wait_s`) or give up, and why."""
    if attempts_made >= max_attempts:
        return RetryDecision(False, reason="attempts")
    if retry_after_s is not None and retry_after_s >= 0:
        wait = min(max(retry_after_s, MIN_WAIT_S), MAX_HINT_S)
    else:
        wait = backoff_s(attempts_made)
    if wait >= seconds_left:
        return RetryDecision(False, wait_s=wait, reason="deadline")
    return RetryDecision(True, wait_s=wait)
