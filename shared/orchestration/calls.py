"""One way for the image job to call an activity that may answer "try again later".

Every retried call of the job — generate, persist, submit, poll — goes through
`call_with_retries`: the activity answers `Ok` / `Retry` / `Failed` (shared/orchestration/
contracts.py), a `Retry` waits on a durable timer by `decide_retry` (throttled answers bounded by
the deadline, unguided failures by the job's attempts), and a `Failed`, or running out of
attempts or time, ends the job with a `JobFailed` naming a code the caller can act on.

Cancelling (`DELETE /api/images/{id}` raises the external event `CANCEL_EVENT`): `JobRun` waits
for that event with ONE task, made when the run starts, and every wait of the job until its images
are stored — each round of activity calls, each retry timer, each DALL-E 2 poll timer — is raced
against it (`JobRun.race`). When cancel wins, the race waits for the activity calls that were in
flight (scheduled, so billed, and about to store images) and raises `JobCanceled`; the
orchestrator then starts nothing new, discards the job's blobs and ends it "canceled"
(shared/orchestration/image_job.py). Waits after the images are stored (the DALL-E 2 delete,
notifications) are not raced: a cancel arriving then is ignored.

Deterministic: it reads time only from the orchestration context, waits only on its timers and
its one external event, and reads history only to find the cancel event of the first episode.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from shared.models import JobInput, Progress
from shared.orchestration.contracts import Failed, Ok, Retry, dump, read_result
from shared.orchestration.names import CANCEL_EVENT
from shared.orchestration.retry import decide_retry
from shared.storage.records import ImageRecord

if TYPE_CHECKING:
    import azure.durable_functions as df

P = TypeVar("P", bound=BaseModel)
K = TypeVar("K")
Gen = Generator[Any, Any, Any]

DEADLINE_EXCEEDED = "deadline_exceeded"
INTERNAL_ERROR = "internal_error"
JOB_CANCELED = "job_canceled"
MAX_REASON_CHARS = 200  # a longer (or not plain) cancel reason is not echoed in the result


class JobFailed(Exception):
    """Ends the job with a failed result that names a code the caller can act on."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class JobCanceled(Exception):
    """The job's cancel event won a race: the job starts nothing new and ends "canceled".

    `settled` holds the answers (raw, as history has them; None for a call that raised) of the
    activity calls that were in flight when cancel won, awaited before this was raised: a caller
    that must know what they did (the DALL-E 2 poll: is the operation deletable now?) reads them
    and raises this again."""

    def __init__(self, reason: str | None, settled: Sequence[Any] = ()) -> None:
        super().__init__("the job was canceled")
        self.reason = reason
        self.settled = list(settled)

    @property
    def message(self) -> str:
        base = "the job was canceled"
        return f"{base}: {self.reason}" if self.reason else base


def cancel_reason(payload: Any) -> str | None:
    """The reason of a cancel event's payload (`{"reason": "..."}`, or a bare string) when it is
    short, plain text (printable, no URL): anything else is not echoed in the job's result."""
    value = payload.get("reason") if isinstance(payload, Mapping) else payload
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > MAX_REASON_CHARS or not text.isprintable() or "://" in text:
        return None
    return text


def canceled_before_start(context: df.DurableOrchestrationContext) -> bool:
    """Whether the cancel event is among the events of the job's FIRST episode (raised before the
    orchestrator first ran, delivered with ExecutionStarted).

    Racing alone cannot keep such a job from buying an image. The SDK processes ExecutionStarted
    first: the orchestrator runs up to its first `yield` — the race of the first generate call —
    and that WhenAny's actions (the CallActivity among them) are already in the episode's action
    list when the SDK reaches the EventRaised event behind it and cancel wins. Checking
    `cancel.is_completed` right after first yielding does not help either: the generator is
    suspended at that yield until the event is processed, and the action is emitted by then. So
    the job looks at the first episode's events itself — deterministic: that slice of history
    (up to the second OrchestratorStarted) is the same in every replay — and when cancel is
    there, yields only the cancel task (which resolves in the same episode) and schedules
    nothing billed. A cancel raised later is only seen by the races (tests/unit/app/
    test_cancel_replay.py shows both)."""
    from azure.durable_functions.models.history import HistoryEventType

    for index, event in enumerate(context.histories):
        if index > 0 and event.event_type == HistoryEventType.ORCHESTRATOR_STARTED:
            return False
        if event.event_type == HistoryEventType.EVENT_RAISED and event.Name == CANCEL_EVENT:
            return True
    return False


def streaming(job: JobInput) -> dict[str, Any]:
    """What the status of a job that streams previews carries, from its input: when it was
    accepted (the status routes find its preview blobs by it) and how many partial images it
    asks for. Nothing for any other job: its status stays as it was."""
    if job.partial_images <= 0:
        return {}
    return {"created": job.created, "partial_images": job.partial_images}


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
        self.progress = Progress(stage="queued", images_total=job.params.n, **streaming(job))
        self.images: list[ImageRecord | None] = [None] * job.params.n
        # a streaming job's preview blobs may outlive its calls: deleted before the job ends
        self.previews_left = False
        # The one task that waits for the cancel event, raced against every wait until the
        # images are stored. Reusing it in successive task_any calls is safe: once scheduled
        # its action is never emitted again, and each WhenAny becomes its parent in turn.
        self.cancel = context.wait_for_external_event(CANCEL_EVENT)
        self._canceled_before_start = canceled_before_start(context)

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

    def race(self, task: Any, *, in_flight: Sequence[Any] = ()) -> Gen:
        """Wait for `task` or the cancel event, whichever comes first, and answer `task`'s
        value; a failed `task` raises its exception, as `yield task` would (WhenAny itself
        succeeds with a failed child: the failure is re-raised here).

        When cancel wins — or has already (a cancel that came during a wait that is not raced,
        or in the first episode: `canceled_before_start`, and then `task` is never yielded, so
        nothing of it is scheduled) — show "canceling", wait for each of `in_flight` (the
        atomic activity tasks inside `task`: scheduled, billed, about to store images) and raise
        JobCanceled with their answers. Each is yielded on its own: an atomic task already
        scheduled emits no action again; a compound task (the task_all) is never yielded
        again."""
        from azure.durable_functions.models.Task import TaskState

        already = self.cancel.is_completed or self._canceled_before_start
        if not already:
            winner = yield self.context.task_any([task, self.cancel])
            if winner is not self.cancel:
                if winner.state is TaskState.FAILED:  # its value is the exception
                    raise winner.result
                return winner.result
        elif not self.cancel.is_completed:
            yield self.cancel  # in this (first) episode's history: resolves at once
        self.show(stage="canceling", retry_after_seconds=None)
        settled: list[Any] = []
        if not already:
            for call in in_flight:
                try:
                    settled.append((yield call))
                except Exception:  # a crashed call: nothing it could have stored to wait for
                    settled.append(None)
        raise JobCanceled(cancel_reason(self.cancel.result), settled)

    def canceled(self) -> JobCanceled:
        """The JobCanceled to raise when an activity answers that the job is canceled (its
        marker, written by the DELETE before the event, was there): the event itself may not
        have reached this episode yet."""
        reason = cancel_reason(self.cancel.result) if self.cancel.is_completed else None
        self.show(stage="canceling", retry_after_seconds=None)
        return JobCanceled(reason)

    def race_timer(self, seconds: float) -> Gen:
        """A durable timer raced against the cancel event (see `race`); the timer is cancelled
        when cancel wins (an uncancelled one may keep the instance open until it fires)."""
        timer = self.timer(seconds)
        try:
            yield from self.race(timer)
        except JobCanceled:
            if not timer.is_completed:
                timer.cancel()
            raise

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
    input. A `Failed` answer, or running out of attempts or time, raises JobFailed; the cancel
    event winning a round or a retry timer raises JobCanceled (`JobRun.race`)."""
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
        answers = yield from run.race(ctx.task_all(tasks), in_flight=tasks)
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
                if result.code == JOB_CANCELED:  # a billed activity found the cancel marker
                    raise run.canceled()
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
        yield from run.race_timer(decision.wait_s)
    return done
