"""Requests-per-minute quota per deployment, as a sliding 60-second window."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

WINDOW_SECONDS = 60.0


class SlidingWindowQuota:
    """Admits at most ``rpm`` requests in any 60 s; a refusal says when the next slot frees."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._admitted: dict[str, deque[float]] = {}

    def try_admit(self, deployment: str, rpm: int) -> float | None:
        """None if admitted (and recorded); else seconds until a slot frees (> 0)."""
        if rpm <= 0:
            return None
        now = self._clock()
        window = self._admitted.setdefault(deployment, deque())
        while window and window[0] <= now - WINDOW_SECONDS:
            window.popleft()
        if len(window) < rpm:
            window.append(now)
            return None
        # The slot that frees first belongs to the (len - rpm + 1)-th oldest request.
        oldest = window[len(window) - rpm]
        return max(0.001, oldest + WINDOW_SECONDS - now)

    def clear(self) -> None:
        self._admitted.clear()


def retry_after_headers(wait_seconds: float) -> dict[str, str]:
    return {
        "Retry-After": str(max(1, math.ceil(wait_seconds))),
        "retry-after-ms": str(max(1, math.ceil(wait_seconds * 1000))),
    }
