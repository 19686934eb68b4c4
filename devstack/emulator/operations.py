"""DALL-E 2 asynchronous operations, whose status is a pure function of elapsed time.

Nothing runs in the background: the outcome (succeed, filtered, timed out) and the generation
latency are drawn at submit, and each poll reads the clock. That keeps the emulator cheap under
load and makes the state walk notRunning → running → end state reproducible with a seed.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from devstack.emulator.models import ImageRequest

Outcome = Literal["succeeded", "failed", "canceled"]
END_STATES = frozenset({"succeeded", "failed", "canceled", "deleted"})
QUEUED_FRACTION = 0.25  # the first quarter of the latency is spent `notRunning`


@dataclass
class Operation:
    id: str
    request: ImageRequest
    created: int  # unix seconds, as the API reports it
    started: float  # monotonic
    latency: float
    outcome: Outcome
    timeout: float
    expires: int
    submitted_at: float = 0.0  # wall clock (unix seconds) of the submit, for `ready_at`
    deleted: bool = False
    polls: int = 0  # status GETs answered for this operation
    seen_done_at: float | None = None  # wall clock of the first poll that saw the end state
    polls_until_done: int | None = None  # polls up to and including that one
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def ends_after(self) -> float:
        """Seconds from submit to the end state."""
        return self.timeout if self.outcome == "canceled" else self.latency

    def status(self, now: float) -> str:
        if self.deleted:
            return "deleted"
        elapsed = now - self.started
        if elapsed >= self.ends_after:
            return self.outcome
        if elapsed < self.ends_after * QUEUED_FRACTION:
            return "notRunning"
        return "running"

    def remaining(self, now: float) -> float:
        return max(0.0, self.ends_after - (now - self.started))

    @property
    def ready_at(self) -> float:
        """Wall clock (unix seconds) at which the operation reaches its end state."""
        return self.submitted_at + self.ends_after

    def record_poll(self, status: str) -> None:
        """Count one answered status GET; remember the first one that saw the end state."""
        self.polls += 1
        if self.seen_done_at is None and status in END_STATES:
            self.seen_done_at = time.time()
            self.polls_until_done = self.polls

    def timeline(self, now: float) -> dict[str, object]:
        """What `GET /_emulator/operations` shows: when it was ready, how often it was polled."""
        return {
            "id": self.id,
            "prompt": self.request.prompt,
            "n": self.request.n,
            "outcome": self.outcome,
            "status": self.status(now),
            "submitted_at": self.submitted_at,
            "ready_at": self.ready_at,
            "polls": self.polls,
            "seen_done_at": self.seen_done_at,
            "polls_until_done": self.polls_until_done,
        }


class OperationStore:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._ops: OrderedDict[str, Operation] = OrderedDict()

    def add(self, op: Operation) -> None:
        self._purge()
        self._ops[op.id] = op

    def get(self, op_id: str) -> Operation | None:
        op = self._ops.get(op_id)
        if op is not None and op.expires <= time.time():
            self._ops.pop(op_id, None)
            return None
        return op

    def all(self) -> list[Operation]:
        """Every live operation, oldest submit first."""
        self._purge()
        return list(self._ops.values())

    def clear(self) -> None:
        self._ops.clear()

    def _purge(self) -> None:
        wall = time.time()
        while self._ops:
            first = next(iter(self._ops.values()))
            if first.expires > wall:
                break
            self._ops.popitem(last=False)
