"""Whether and when to retry a throttled or unavailable image API call.

Activities never sleep: they return the service's hint, and the orchestrator waits on a durable
timer. The wait honours the hint (Retry-After) and otherwise backs off exponentially; the job gives
up when attempts run out or the wait would end past the job's deadline.

A throttled answer with a Retry-After is the service saying "your turn comes later", not a fault:
under a small quota (6-12 requests per minute) a burst of jobs collects many of them and must not
fail while its deadline still allows it to be served. So the two are counted apart: failures
without guidance (5xx, dropped connections) are bounded by `max_attempts` and back off on their
own count; throttled answers are bounded by the deadline and by a generous multiple of it.
"""

from __future__ import annotations

from dataclasses import dataclass

BASE_BACKOFF_S = 2.0
MAX_BACKOFF_S = 60.0
MIN_WAIT_S = 0.5
MAX_HINT_S = 120.0  # like the openai SDK: a longer hint is not trusted blindly
THROTTLED_ATTEMPTS_FACTOR = 10  # throttled answers allowed per `max_attempts`


@dataclass(frozen=True)
class RetryDecision:
    retry: bool
    wait_s: float = 0.0
    reason: str = ""  # why not, when retry is False: "attempts" | "deadline"


def backoff_s(attempt: int) -> float:
    """Exponential backoff after the given (1-based) failed attempt, without jitter."""
    return min(BASE_BACKOFF_S * (2 ** max(attempt - 1, 0)), MAX_BACKOFF_S)


def decide_retry(
    failures: int,
    throttled: int,
    max_attempts: int,
    retry_after_s: float | None,
    seconds_left: float,
) -> RetryDecision:
    """After `failures` unguided failures and `throttled` throttled answers (the last answer
    carried `retry_after_s`, or no hint), retry after `wait_s` or give up, and why."""
    if failures >= max_attempts or throttled >= max_attempts * THROTTLED_ATTEMPTS_FACTOR:
        return RetryDecision(False, reason="attempts")
    if retry_after_s is not None and retry_after_s >= 0:
        wait = min(max(retry_after_s, MIN_WAIT_S), MAX_HINT_S)
    else:
        wait = backoff_s(failures)
    if wait >= seconds_left:
        return RetryDecision(False, wait_s=wait, reason="deadline")
    return RetryDecision(True, wait_s=wait)
