"""One way for the image job to call an activity that may answer "try again later".

Every retried call of the job — generate, persist, submit, poll — goes through
`call_with_retries`: the activity answers `Ok` / `Retry` / `Failed` (shared/orchestration/
contracts.py), a `Retry` waits on a durable timer by `decide_retry` (throttled answers bounded by
the deadline, unguided failures by the job's attempts), and a `Failed`, or running out of
attempts or time, ends the job with a `JobFailed` naming a code the caller can act on.

Deterministic: it reads time only from the orchestration context and waits only on its timers.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from shared.models import JobInput, Progress
from shared.orchestration.contracts import Failed, Ok, Retry, dump, read_result
from shared.orchestration.retry import decide_retry
from shared.storage.records import ImageRecord

if TYPE_CHECKING:
    import azure.durable_functions as df

P = TypeVar("P", bound=BaseModel)
K = TypeVar("K")
Gen = Generator[Any, Any, Any]

DEADLINE_EXCEEDED = "deadline_exceeded"
INTERNAL_ERROR = "internal_error"


class JobFailed(Exception):
    """Ends the job with a failed result that names a code the caller can act on."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def aware(when: datetime) -> datetime:
    """`when` as timezone-aware UTC (the SDK's clock is naive UTC)."""
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


class JobRun:
    """One run of the orchestrator: the input, the deadline, the images stored so far and the
    progress shown to callers (customStatus)."""

    def __init__(self, context: df.DurableOrchestrationContext, job: JobInput) -> None:
        self.context = context
        self.job = job
        self.deadline = aware(datetime.fromisoformat(job.created)) + timedelta(
            seconds=job.deadline_seconds
        )
        self.progress = Progress(stage="queued", images_total=job.params.n)
        self.images: list[ImageRecord | None] = [None] * job.params.n

    @property
    def now(self) -> datetime:
        """Replay-safe time, always timezone-aware UTC."""
        return aware(self.context.current_utc_datetime)

    def seconds_left(self) -> float:
        return (self.deadline - self.now).total_seconds()

    def show(self, **changes: Any) -> None:
        self.progress = self.progress.model_copy(update=changes)
        self.progress.images_done = sum(1 for i in self.images if i is not None)
        self.context.set_custom_status(dump(self.progress))

    def timer(self, seconds: float) -> Any:
        return self.context.create_timer(self.now + timedelta(seconds=seconds))

    def keep(self, index: int, image: ImageRecord) -> None:
        """Record a stored image at its place; an index outside the job's count is ignored (a
        service that returns more images than asked does not grow the job)."""
        if 0 <= index < len(self.images):
            self.images[index] = image


def call_with_retries(
    run: JobRun,
    activity: str,
    inputs: Mapping[K, Callable[[], BaseModel]],
    payload: type[P],
    *,
    stage: str,
    waiting_stage: str = "waiting_to_retry",
    on_retry: Callable[[], None] | None = None,
) -> Generator[Any, Any, dict[K, P]]:
    """Call `activity` once per input, in parallel; retry the ones that answer `Retry` after a
    durable timer until each is `Ok`, and return their payloads by key.

    Inputs are built anew for each attempt (a poll says when it is made). One timer serves a
    round: the longest hint among the throttled answers, or the backoff of the most-failed
    input. A `Failed` answer, or running out of attempts or time, raises JobFailed."""
    ctx = run.context
    pending = dict(inputs)
    attempts = dict.fromkeys(inputs, 0)
    failures = dict.fromkeys(inputs, 0)  # unguided "retry" answers (5xx even with a hint, drops)
    throttled = dict.fromkeys(inputs, 0)  # 429s with the service's Retry-After
    done: dict[K, P] = {}
    while pending:
        for key in pending:
            attempts[key] += 1
        run.show(stage=stage, attempts=max(attempts.values()), retry_after_seconds=None)
        keys = list(pending)
        tasks = [ctx.call_activity(activity, dump(pending[k]())) for k in keys]
        answers = yield ctx.task_all(tasks)
        retry: dict[K, Retry] = {}
        for key, raw in zip(keys, answers, strict=True):
            result = read_result(payload, raw)
            if isinstance(result, Ok):
                done[key] = result.value
                del pending[key]
            elif isinstance(result, Retry):
                retry[key] = result
                if result.throttled:
                    throttled[key] += 1
                else:
                    failures[key] += 1
            else:
                assert isinstance(result, Failed)
                raise JobFailed(result.code, result.message)
        if not retry:
            break
        if on_retry is not None:
            on_retry()
        hint = max(
            (r.retry_after for r in retry.values() if r.retry_after is not None), default=None
        )
        worst = max(retry, key=lambda k: (failures[k], throttled[k]))
        decision = decide_retry(
            max(failures[k] for k in retry),
            max(throttled[k] for k in retry),
            run.job.max_attempts,
            hint,
            run.seconds_left(),
        )
        last = retry[worst]
        if not decision.retry:
            if decision.reason == "deadline":
                raise JobFailed(
                    DEADLINE_EXCEEDED,
                    f"the job's deadline ({run.job.deadline_seconds} s) passed while the image "
                    f"service kept answering {last.code}: {last.message}",
                )
            raise JobFailed(last.code, f"gave up after {attempts[worst]} attempts: {last.message}")
        run.show(stage=waiting_stage, retry_after_seconds=decision.wait_s, last_error=last.code)
        yield run.timer(decision.wait_s)
    return done
