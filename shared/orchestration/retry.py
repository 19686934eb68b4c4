"""Whether and when to retry a throttled or unavailable call: one policy for every retried call.

Activities never sleep: they return the service's hint, and the orchestrator waits on a durable
timer. The wait honours the hint (Retry-After) and otherwise backs off exponentially; the job gives
up when attempts run out or the wait would end past the job's deadline. `Backoff` is the one
waiting rule: the image calls (generate, persist, submit, poll) and the completion notifications
use it with their own numbers.

A throttled answer with a Retry-After is the service saying "your turn comes later", not a fault:
under a small quota (6-12 requests per minute) a burst of jobs collects many of them and must not
fail while its deadline still allows it to be served. So the two are counted apart: failures
without guidance (5xx, dropped connections) are bounded by `max_attempts` and back off on their
own count; throttled answers are bounded by the deadline and by a generous multiple of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

THROTTLED_ATTEMPTS_FACTOR = 10  # throttled answers allowed per `max_attempts`


@dataclass(frozen=True)
class Backoff:
    """How long to wait after a failed attempt: the peer's hint if it gave one (kept within
    [`min_wait_s`, `max_hint_s`]: a longer hint is not trusted blindly, like the openai SDK),
    else `base_s * factor ** (failed - 1)`, at most `max_s`, without jitter (durable timers
    replay, so the wait must be a function of history)."""

    base_s: float = 2.0
    factor: float = 2.0
    max_s: float = 60.0
    min_wait_s: float = 0.5
    max_hint_s: float = 120.0

    def delay_s(self, failed: int) -> float:
        """The wait after the given (1-based) failed attempt when the peer gave no hint."""
        return min(self.base_s * self.factor ** max(failed - 1, 0), self.max_s)

    def wait_s(self, failed: int, hint_s: float | None) -> float:
        if hint_s is not None and hint_s >= 0:
            return min(max(hint_s, self.min_wait_s), self.max_hint_s)
        return self.delay_s(failed)


IMAGE_BACKOFF = Backoff()


@dataclass(frozen=True)
class RetryDecision:
    retry: bool
    wait_s: float = 0.0
    reason: Literal["", "attempts", "deadline"] = ""  # why not, when retry is False


def decide_retry(
    failures: int,
    throttled: int,
    max_attempts: int,
    retry_after_s: float | None,
    seconds_left: float,
    backoff: Backoff = IMAGE_BACKOFF,
) -> RetryDecision:
    """After `failures` unguided failures and `throttled` throttled answers (the last answer
    carried `retry_after_s`, or no hint), retry after `wait_s` or give up, and why."""
    if failures >= max_attempts or throttled >= max_attempts * THROTTLED_ATTEMPTS_FACTOR:
        return RetryDecision(False, reason="attempts")
    wait = backoff.wait_s(failures, retry_after_s)
    if wait >= seconds_left:
        return RetryDecision(False, wait_s=wait, reason="deadline")
    return RetryDecision(True, wait_s=wait)
