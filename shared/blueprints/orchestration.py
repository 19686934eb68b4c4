"""The image job orchestration and the registration of its activities.

The orchestrator is deterministic: it reads time only from `context.current_utc_datetime`, waits
only on durable timers and sees only small JSON (parameters, operation URLs, blob names) — image
bytes are written to Blob Storage inside activities and never pass through history, and neither do
our own SAS URLs (the status endpoint signs them on read).

Activities never raise for an image-API failure and never sleep: they answer an envelope
`{"outcome": "ok" | "retry" | "error", ...}` (see shared/blueprints/activities.py). "retry" carries
the service's `retry_after`, and the orchestrator waits on a durable timer before trying again,
bounded by the job's attempts and deadline.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.durable_functions as df

from shared.blueprints import activities
from shared.imaging.types import ErrorCode, Flavour
from shared.models import CAPABILITIES, ImageRecord, JobErrorBody, JobInput, JobOutput, Progress
from shared.notify import notify_completion
from shared.orchestration.polling import next_poll_delay
from shared.orchestration.retry import decide_retry

ORCHESTRATOR = "image_job"

bp = df.Blueprint()

Json = dict[str, Any]
Gen = Generator[Any, Any, Any]


class JobFailed(Exception):
    """Ends the job with a failed result that names a code the caller can act on."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _Job:
    """One run of the orchestrator: the input, the deadline and the progress shown to callers."""

    def __init__(self, context: df.DurableOrchestrationContext, job: JobInput) -> None:
        self.context = context
        self.job = job
        created = _aware(datetime.fromisoformat(job.created))
        self.deadline = created + timedelta(seconds=job.deadline_seconds)
        self.progress = Progress(stage="queued", images_total=job.params.n)
        self.images: list[ImageRecord | None] = [None] * job.params.n

    @property
    def now(self) -> datetime:
        """Replay-safe time, always timezone-aware UTC."""
        return _aware(self.context.current_utc_datetime)

    def seconds_left(self) -> float:
        return (self.deadline - self.now).total_seconds()

    def show(self, **changes: Any) -> None:
        self.progress = self.progress.model_copy(update=changes)
        self.progress.images_done = sum(1 for i in self.images if i is not None)
        self.context.set_custom_status(self.progress.model_dump(mode="json", exclude_none=True))

    def timer(self, seconds: float) -> Any:
        return self.context.create_timer(self.now + timedelta(seconds=seconds))


def _aware(when: datetime) -> datetime:
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


def _is_throttled(result: Json) -> bool:
    """A 429 with a Retry-After: the quota's "your turn comes later", bounded by the deadline
    (and 10x max attempts). Anything else that asks for a retry, a 5xx with a Retry-After
    included, is a failure bounded by `max_attempts` (see shared/orchestration/retry.py)."""
    return result.get("code") == ErrorCode.THROTTLED and result.get("retry_after") is not None


def _run_with_retries(
    run: _Job, activity: str, inputs: Mapping[int, Json], stage: str
) -> Generator[Any, Any, dict[int, Json]]:
    """Call `activity` once per input, in parallel; retry the ones that answer "retry" after a
    durable timer, until each is ok. Any "error", or running out of attempts or time, fails the
    job. Returns the ok results by key."""
    ctx = run.context
    pending = dict(inputs)
    attempts = dict.fromkeys(inputs, 0)
    failures = dict.fromkeys(inputs, 0)  # other "retry" answers (5xx even with a hint, drops)
    throttled = dict.fromkeys(inputs, 0)  # 429s with the service's Retry-After
    done: dict[int, Json] = {}
    while pending:
        for key in pending:
            attempts[key] += 1
        run.show(stage=stage, attempts=max(attempts.values()), retry_after_seconds=None)
        keys = list(pending)
        tasks = [ctx.call_activity(activity, pending[k]) for k in keys]
        results = yield ctx.task_all(tasks)
        retry: dict[int, Json] = {}
        for key, result in zip(keys, results, strict=True):
            outcome = result.get("outcome")
            if outcome == "ok":
                done[key] = result
                del pending[key]
            elif outcome == "retry":
                retry[key] = result
                if _is_throttled(result):
                    throttled[key] += 1
                else:
                    failures[key] += 1
            else:
                raise JobFailed(
                    str(result.get("code") or "internal_error"),
                    str(result.get("message") or f"{activity} failed"),
                )
        if not retry:
            break
        # One timer for the whole round: the longest hint among the throttled calls.
        hints = [r.get("retry_after") for r in retry.values()]
        hint = max((float(h) for h in hints if h is not None), default=None)
        worst = max(retry, key=lambda k: (failures[k], throttled[k]))
        decision = decide_retry(
            max(failures[k] for k in retry),
            max(throttled[k] for k in retry),
            run.job.max_attempts,
            hint,
            run.seconds_left(),
        )
        last = retry[worst]
        code = str(last.get("code") or ErrorCode.UNAVAILABLE)
        message = str(last.get("message") or "the image service is unavailable")
        if not decision.retry:
            if decision.reason == "deadline":
                raise JobFailed(
                    "deadline_exceeded",
                    f"the job's deadline ({run.job.deadline_seconds} s) passed while the image "
                    f"service kept answering {code}: {message}",
                )
            raise JobFailed(code, f"gave up after {attempts[worst]} attempts: {message}")
        run.show(stage="waiting_to_retry", retry_after_seconds=decision.wait_s, last_error=code)
        yield run.timer(decision.wait_s)
    return done


def _generate_sync(run: _Job) -> Gen:
    """DALL-E 3 / gpt-image: one call (or one per image for DALL-E 3 with n>1)."""
    job = run.job
    # The activity resolves the deployment from `model`; history need not repeat it.
    base = {"job_id": job.id, "model": job.model, "created": job.created}
    caps = CAPABILITIES[job.deployment.family]
    if caps.single_image_per_call and job.params.n > 1:
        single = job.params.model_copy(update={"n": 1}).model_dump(mode="json")
        inputs = {i: {**base, "params": single, "first_index": i} for i in range(job.params.n)}
    else:
        inputs = {0: {**base, "params": job.params.model_dump(mode="json"), "first_index": 0}}
    results = yield from _run_with_retries(run, activities.GENERATE, inputs, "generating")
    sources: dict[int, Json] = {}
    for key in sorted(results):
        result = results[key]
        for image in result.get("images", []):
            if 0 <= int(image["index"]) < job.params.n:
                run.images[int(image["index"])] = ImageRecord.model_validate(image)
        for source in result.get("sources", []):
            if 0 <= int(source["index"]) < job.params.n:
                sources[int(source["index"])] = source
    yield from _persist(run, sources)


def _persist(run: _Job, sources: Mapping[int, Json]) -> Gen:
    """Copy the URL results the generating activity could not store itself, one activity per
    image, in parallel (their retries never generate again)."""
    if not sources:
        return
    job = run.job
    inputs = {
        index: {
            "job_id": job.id,
            "model": job.model,
            "created": job.created,
            "prompt": job.params.prompt,
            "index": index,
            "url": source["url"],
            "revised_prompt": source.get("revised_prompt"),
        }
        for index, source in sources.items()
    }
    run.show(stage="storing")
    results = yield from _run_with_retries(run, activities.PERSIST, inputs, "storing")
    for index, result in results.items():
        run.images[index] = ImageRecord.model_validate(result["image"])


class _Operation:
    """A submitted DALL-E 2 operation and the last status a poll saw (None: not known, e.g.
    while polls are throttled)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.status: str | None = "notRunning"

    @property
    def deletable(self) -> bool:
        """Whether a delete may succeed: the service deletes only an operation in an end state,
        so one last seen queued or running (or already deleted) is not tried."""
        return self.status not in ("notRunning", "running", "deleted")


def _generate_async(run: _Job) -> Gen:
    """DALL-E 2: submit, poll on durable timers, store, delete the operation.

    Once submitted, a job that fails for any reason (failed/canceled operation, deadline, giving
    up on polls, images that cannot be stored) still tries to delete the operation, so it is not
    left on the service — unless a poll last saw it queued or running, which the service refuses
    to delete (409). A delete that fails does not change the job's error."""
    job = run.job
    submit_input = {"model": job.model, "params": job.params.model_dump(mode="json")}
    submitted = yield from _run_with_retries(
        run, activities.SUBMIT, {0: submit_input}, "generating"
    )
    operation = _Operation(str(submitted[0]["operation_url"]))
    try:
        yield from _poll_and_store(run, operation, submitted[0].get("expected_s"))
    except Exception:
        if operation.deletable:
            yield from _delete_operation(run, operation.url)
        raise
    run.show(stage="cleaning_up")
    yield from _delete_operation(run, operation.url)


def _poll_and_store(run: _Job, operation: _Operation, expected: float | None) -> Gen:
    """Poll until the operation ends and store its images; raise JobFailed otherwise.

    Each poll tells the activity when it was made and when the operation was last seen queued or
    running (both from history), so the activity learns the duration from those bounds; its
    answer carries the deployment's learnt duration (`expected_s`), which paces the next polls.
    A poll answering "retry" is retried by the same rule as any other call (`decide_retry`):
    unguided failures bounded by `max_attempts` with their own backoff, 429s with a Retry-After
    by the deadline; both counts start again once a poll gets an answer."""
    job = run.job
    run.show(stage="polling", operation_status="notRunning")
    started = run.now
    polls = 0
    failures = 0  # "retry" answers since the last answer, other than throttling (5xx, drops)
    throttled = 0  # 429s with a Retry-After since the last answer
    running_until = 0.0  # elapsed time of the last poll that saw notRunning/running
    hint: float | None = None
    wait: float | None = None  # set by a retry decision: the next poll comes after it
    while True:
        elapsed = (run.now - started).total_seconds()
        if wait is None:
            delay = next_poll_delay(elapsed, polls, expected_s=expected, retry_after_s=hint)
        else:
            delay = wait
        if delay >= run.seconds_left():
            raise JobFailed(
                "deadline_exceeded",
                f"the image operation did not finish within the job's deadline "
                f"({job.deadline_seconds} s)",
            )
        yield run.timer(delay)
        elapsed = (run.now - started).total_seconds()
        result = yield run.context.call_activity(
            activities.POLL,
            {
                "model": job.model,
                "operation_url": operation.url,
                "elapsed_s": elapsed,
                "running_until_s": running_until,
                # what storing the images needs, once the operation has succeeded
                "job_id": job.id,
                "created": job.created,
                "prompt": job.params.prompt,
                "size": job.params.size,
                "n": job.params.n,
            },
        )
        polls += 1
        outcome = result.get("outcome")
        if outcome == "retry":
            operation.status = None  # it may have ended since the last answer
            if _is_throttled(result):
                throttled += 1
            else:
                failures += 1
            code = str(result.get("code") or ErrorCode.UNAVAILABLE)
            message = str(result.get("message") or "the image service is unavailable")
            decision = decide_retry(
                failures, throttled, job.max_attempts, result.get("retry_after"), run.seconds_left()
            )
            if not decision.retry:
                if decision.reason == "deadline":
                    raise JobFailed(
                        "deadline_exceeded",
                        f"the job's deadline ({job.deadline_seconds} s) passed while the image "
                        f"service kept answering {code}: {message}",
                    )
                raise JobFailed(
                    code, f"gave up polling after {failures + throttled} attempts: {message}"
                )
            wait = decision.wait_s
            run.show(
                stage="polling",
                last_error=code,
                attempts=failures + throttled + 1,
                retry_after_seconds=wait,
            )
            continue
        if outcome != "ok":
            raise JobFailed(str(result.get("code") or "internal_error"), str(result.get("message")))
        failures = throttled = 0
        wait = None
        status = str(result.get("status"))
        operation.status = status
        hint = result.get("retry_after")
        # a worker that has learnt nothing yet (fresh, scaled out) answers None: keep ours
        expected = result.get("expected_s") or expected
        run.show(
            stage="polling", operation_status=status, last_error=None, retry_after_seconds=None
        )
        if status in ("notRunning", "running"):
            running_until = elapsed
            continue
        if status == "succeeded":
            for image in result.get("images", []):
                if 0 <= int(image["index"]) < job.params.n:
                    run.images[int(image["index"])] = ImageRecord.model_validate(image)
            sources = {
                int(s["index"]): s
                for s in result.get("sources", [])
                if 0 <= int(s["index"]) < job.params.n
            }
            if not sources and not any(run.images):
                raise JobFailed(
                    ErrorCode.OPERATION_FAILED, "the operation succeeded without images"
                )
            yield from _persist(run, sources)
            return
        if status in ("failed", "canceled"):
            error = result.get("error") or {}
            default = (
                "the image operation was canceled (it timed out)"
                if status == "canceled"
                else "the image operation failed"
            )
            raise JobFailed(
                str(error.get("code") or ErrorCode.OPERATION_FAILED),
                str(error.get("message") or default),
            )
        raise JobFailed(
            ErrorCode.OPERATION_FAILED,
            f"the image operation is {status!r}: it was deleted before its images were stored",
        )


def _delete_operation(run: _Job, operation_url: str) -> Gen:
    """Best effort: a failed delete neither fails a job whose images are stored nor replaces the
    error of one that failed (the activity answers "ok" even when the service refuses; this
    also swallows the activity itself failing)."""
    try:
        yield run.context.call_activity(
            activities.DELETE, {"model": run.job.model, "operation_url": operation_url}
        )
    except Exception:  # best effort, see above
        return


def run_image_job(context: df.DurableOrchestrationContext) -> Gen:
    """The orchestrator body (registered below as `image_job`)."""
    job = JobInput.model_validate(context.get_input())
    run = _Job(context, job)
    error: JobErrorBody | None = None
    try:
        if job.deployment.flavour is Flavour.AZURE_DALLE2_ASYNC:
            yield from _generate_async(run)
        else:
            yield from _generate_sync(run)
        if any(image is None for image in run.images):
            raise JobFailed(
                ErrorCode.OPERATION_FAILED, "the service returned fewer images than asked"
            )
    except JobFailed as exc:
        error = JobErrorBody(code=exc.code, message=exc.message)
    except Exception as exc:  # an activity crashed (TaskFailed): fail the job, not the host
        error = JobErrorBody(code="internal_error", message=f"the job failed: {type(exc).__name__}")
    completed = run.now.isoformat()
    output = JobOutput(
        id=job.id,
        status="failed" if error is not None else "succeeded",
        model=job.model,
        prompt=job.params.prompt,
        created=job.created,
        completed=completed,
        images=[i for i in run.images if i is not None],
        error=error,
    )
    final_stage = "failed" if error is not None else "completed"
    last_error = error.code if error is not None else None
    if job.callback_url or job.results_queue:
        run.show(stage="notifying", retry_after_seconds=None, last_error=last_error)
        result = output.model_dump(mode="json", exclude_none=True)
        output.notification = yield from notify_completion(
            context, job.callback_url, result, results_queue=job.results_queue
        )
    run.show(stage=final_stage, retry_after_seconds=None, last_error=last_error)
    return output.model_dump(mode="json", exclude_none=True)


@bp.orchestration_trigger(context_name="context", orchestration=ORCHESTRATOR)
def image_job(context: df.DurableOrchestrationContext) -> Gen:
    return (yield from run_image_job(context))


@bp.activity_trigger(input_name="payload", activity=activities.GENERATE)
async def generate_images(payload: Json) -> Json:
    return await activities.generate_images(payload)


@bp.activity_trigger(input_name="payload", activity=activities.PERSIST)
async def persist_image(payload: Json) -> Json:
    return await activities.persist_image(payload)


@bp.activity_trigger(input_name="payload", activity=activities.SUBMIT)
async def submit_operation(payload: Json) -> Json:
    return await activities.submit_operation(payload)


@bp.activity_trigger(input_name="payload", activity=activities.POLL)
async def poll_operation(payload: Json) -> Json:
    return await activities.poll_operation(payload)


@bp.activity_trigger(input_name="payload", activity=activities.DELETE)
async def delete_operation(payload: Json) -> Json:
    return await activities.delete_operation(payload)


__all__ = ["ORCHESTRATOR", "bp", "run_image_job"]
