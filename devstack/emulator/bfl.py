"""Black Forest Labs' asynchronous tasks (`POST /v1/<model>` → poll `get_result`).

Like the DALL-E 2 operations, nothing runs in the background: the outcome and the generation
time are drawn at submit and each poll reads the clock. That keeps hundreds of pending tasks free,
makes "over N active tasks → 429" a count rather than a scheduler, and gives `/_emulator/
operations` an exact ready time for a benchmark to measure ready → stored against.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from devstack.emulator.flux import BflRequest
from devstack.emulator.urls import Servable

Outcome = Literal["Ready", "Request Moderated", "Content Moderated", "Error"]
PENDING = "Pending"
MAX_TASKS = 100_000  # a load test must not grow the emulator without bound


@dataclass
class BflTask:
    id: str
    path: str
    request: BflRequest
    outcome: Outcome
    started: float  # monotonic
    submitted_at: float  # wall clock (unix seconds)
    ends_after: float  # seconds from submit to the end state (0 for a moderated request)
    error: str | None = None  # `details` of an `Error` outcome
    polls: int = 0
    seen_done_at: float | None = None
    polls_until_done: int | None = None

    def status(self, now: float) -> str:
        return self.outcome if now - self.started >= self.ends_after else PENDING

    def progress(self, now: float) -> float:
        """0 at submit, approaching 1 at the end; a Pending task never reports 1."""
        if self.ends_after <= 0:
            return 1.0
        return round(min(0.99, max(0.0, (now - self.started) / self.ends_after)), 2)

    def remaining(self, now: float) -> float:
        return max(0.0, self.ends_after - (now - self.started))

    @property
    def ready_at(self) -> float:
        """Wall clock at which the task leaves Pending (also for moderated and failed tasks)."""
        return self.submitted_at + self.ends_after

    def record_poll(self, status: str) -> None:
        self.polls += 1
        if self.seen_done_at is None and status != PENDING:
            self.seen_done_at = time.time()
            self.polls_until_done = self.polls

    def timeline(self, now: float) -> dict[str, object]:
        """An entry of `GET /_emulator/operations`, shaped like the DALL-E 2 ones."""
        return {
            "api": "bfl",
            "id": self.id,
            "model": self.request.model,
            "path": self.path,
            "prompt": self.request.prompt,
            "n": 1,
            "outcome": self.outcome,
            "status": self.status(now),
            "submitted_at": self.submitted_at,
            "ready_at": self.ready_at,
            "polls": self.polls,
            "seen_done_at": self.seen_done_at,
            "polls_until_done": self.polls_until_done,
        }


@dataclass(frozen=True)
class Sample:
    """What a `result.sample` URL stands for, and when its task became Ready (wall clock).

    A generation's sample is a spec rendered on download; an edit's is kept by its bytes.
    """

    spec: Servable
    ready_at: float


class BflTaskStore:
    """Tasks (cleared by reset) and their samples (kept, like image URLs, until they expire)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._tasks: OrderedDict[str, BflTask] = OrderedDict()
        self._samples: OrderedDict[str, Sample] = OrderedDict()

    def add(self, task: BflTask, sample: Sample | None) -> None:
        self._tasks[task.id] = task
        if sample is not None:
            self._samples[task.id] = sample
        for table in (self._tasks, self._samples):
            while len(table) > MAX_TASKS:
                table.popitem(last=False)

    def get(self, task_id: str) -> BflTask | None:
        return self._tasks.get(task_id)

    def sample(self, task_id: str) -> Sample | None:
        return self._samples.get(task_id)

    def all(self) -> list[BflTask]:
        return list(self._tasks.values())

    def pending(self, now: float) -> list[BflTask]:
        return [t for t in self._tasks.values() if t.status(now) == PENDING]

    def clear(self) -> None:
        """Forget the tasks; samples already handed out stay downloadable until they expire."""
        self._tasks.clear()
