"""The image job orchestration: generate (or submit and poll), store, notify.

The orchestrator is deterministic: it reads time only from `context.current_utc_datetime`, waits
only on durable timers and its cancel event (shared/orchestration/calls.py) and sees only small
JSON (parameters, operation URLs, blob names) — image bytes are written to Blob Storage inside
activities and never pass through history, and neither do our own SAS URLs (the status endpoint
signs them on read). It builds and reads only the messages of shared/orchestration/contracts.py;
every retried call goes through `call_with_retries`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from shared.imaging.types import ErrorCode, Flavour
from shared.models import CAPABILITIES, JobErrorBody, JobInput, JobOutput
from shared.notify.orchestration import notify_completion
from shared.orchestration import contracts as c
from shared.orchestration.calls import (
    DEADLINE_EXCEEDED,
    INTERNAL_ERROR,
    JOB_CANCELED,
    Gen,
    JobCanceled,
    JobFailed,
    JobRun,
    call_with_retries,
)
from shared.orchestration.names import ORCHESTRATOR as ORCHESTRATOR
from shared.orchestration.polling import next_poll_delay
from shared.orchestration.retry import IMAGE_BACKOFF

if TYPE_CHECKING:
    import azure.durable_functions as df


def _blobs(job: JobInput) -> dict[str, Any]:
    """The fields every storing activity needs to name the job's blobs."""
    return {"job_id": job.id, "model": job.model, "created": job.created}


def _described(job: JobInput) -> dict[str, Any]:
    """... and to tag them, for the inputs that carry no `params`."""
    return {**_blobs(job), "prompt": job.params.prompt, "size": job.params.size}


def _keep(run: JobRun, result: c.Generated) -> list[int]:
    """Record the images an activity stored; return the indexes of those it could not store."""
    for image in result.images:
        run.keep(image.index, image.record())
    return sorted({s.index for s in result.sources if 0 <= s.index < run.job.params.n})


def _generate_sync(run: JobRun) -> Gen:
    """gpt-image / DALL-E 3: one call (or one per image for DALL-E 3 with n>1)."""
    job = run.job
    caps = CAPABILITIES[job.deployment.family]
    if caps.single_image_per_call:
        single = job.params.model_copy(update={"n": 1})
        firsts = range(job.params.n)
    else:
        single, firsts = job.params, range(1)
    edit = job.edit.blobs() if job.edit is not None else None
    streamed = job.partial_images

    def generate(first: int) -> c.GenerateInput:
        return c.GenerateInput(
            **_blobs(job), params=single, first_index=first, edit=edit, partial_images=streamed
        )

    inputs = {i: (lambda i=i: generate(i)) for i in firsts}
    results = yield from call_with_retries(run, c.GENERATE, inputs, c.Generated, stage="generating")
    left: dict[int, dict[str, Any]] = {}
    for first in sorted(results):  # each call's images are in the receipt of its first_index
        left.update({index: {"first_index": first} for index in _keep(run, results[first])})
    # previews a call could not delete, or of images stored later by persist_image (whose own
    # clean-up is not reported): deleted before the job ends
    if streamed and (left or any(r.previews_left for r in results.values())):
        run.previews_left = True
    yield from _persist(run, left)


def _persist(run: JobRun, left: Mapping[int, Mapping[str, Any]]) -> Gen:
    """Store the images the generating activity could not store itself, one activity per image,
    in parallel (their retries never generate again). `left` says where each image is found
    (`first_index` of its receipt, or the DALL-E 2 `operation_url`): never by a signed URL.

    The attempt after which the orchestrator will give up is marked `final`, so the activity
    drops the image's URL/blocks from the receipt if that attempt fails too: attempts are
    counted here (each input is built once per attempt) and the deadline is judged as it stands
    when the attempt starts, so a `final` attempt that answers "retry" surely ends the job."""
    if not left:
        return
    blobs = _described(run.job)
    if run.job.partial_images > 0:  # its previews are deleted once the image is stored
        blobs["partial_images"] = run.job.partial_images

    def attempts_of(index: int, where: Mapping[str, Any]) -> Callable[[], c.PersistInput]:
        tries = 0

        def build() -> c.PersistInput:
            nonlocal tries
            tries += 1
            final = tries >= run.job.max_attempts or (
                IMAGE_BACKOFF.delay_s(tries) >= run.seconds_left()
            )
            return c.PersistInput(**blobs, **where, index=index, final=final or None)

        return build

    inputs = {index: attempts_of(index, where) for index, where in left.items()}
    results = yield from call_with_retries(run, c.PERSIST, inputs, c.Persisted, stage="storing")
    for result in results.values():
        run.keep(result.image.index, result.image.record())


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

    def unknown(self) -> None:
        self.status = None  # it may have ended since the last answer


# The asynchronous flavours: submit, poll on durable timers, store. Only Azure's DALL-E 2 keeps
# finished operations until they are deleted; Black Forest Labs forgets its tasks on its own.
ASYNC_FLAVOURS = frozenset({Flavour.AZURE_DALLE2_ASYNC, Flavour.BFL})
DELETES_OPERATIONS = frozenset({Flavour.AZURE_DALLE2_ASYNC})


def _generate_async(run: JobRun) -> Gen:
    """DALL-E 2 and BFL: submit, poll on durable timers, store, delete the operation.

    Once submitted, a job that fails for any reason (failed/canceled operation, deadline, giving
    up on polls, images that cannot be stored) still tries to delete the operation, so it is not
    left on the service — unless a poll last saw it queued or running, which the service refuses
    to delete (409). A delete that fails does not change the job's error. A BFL task has no
    delete, so no delete activity is scheduled for one (it would cost two actions for nothing).
    """
    job = run.job
    edit = job.edit.blobs() if job.edit is not None else None
    submit = c.SubmitInput(
        model=job.model, params=job.params, edit=edit, job_id=job.id, created=job.created
    )
    submitted = yield from call_with_retries(
        run, c.SUBMIT, {0: lambda: submit}, c.Submitted, stage="generating"
    )
    operation = _Operation(submitted[0].operation_url)
    if job.deployment.flavour not in DELETES_OPERATIONS:
        yield from _poll_and_store(run, operation, submitted[0].expected_s)
        return
    try:
        yield from _poll_and_store(run, operation, submitted[0].expected_s)
    except Exception:
        if operation.deletable:
            yield from _delete_operation(run, operation.url)
        raise
    run.show(stage="cleaning_up")
    yield from _delete_operation(run, operation.url)


def _poll_and_store(run: JobRun, operation: _Operation, expected: float | None) -> Gen:
    """Poll until the operation ends and store its images; raise JobFailed otherwise.

    Each poll tells the activity when it was made and when the operation was last seen queued or
    running (both from history), so the activity learns the duration from those bounds; its
    answer carries the deployment's learnt duration (`expected_s`), which paces the next polls.
    A poll answering "retry" is retried like any other call (`call_with_retries`); both counts
    start again once a poll gets an answer."""
    job = run.job
    run.show(stage="polling", operation_status="notRunning")
    started = run.now
    polls = 0
    running_until = 0.0  # elapsed time of the last poll that saw notRunning/running
    hint: float | None = None
    while True:
        elapsed = (run.now - started).total_seconds()
        delay = next_poll_delay(elapsed, polls, expected_s=expected, retry_after_s=hint)
        if delay >= run.seconds_left():
            raise JobFailed(
                DEADLINE_EXCEEDED,
                f"the image operation did not finish within the job's deadline "
                f"({job.deadline_seconds} s)",
            )
        yield from run.race_timer(delay)

        made_at: list[float] = []  # when each attempt of this poll was made (the last one answered)

        def poll_input(until: float = running_until, made_at: list[float] = made_at) -> c.PollInput:
            made_at.append((run.now - started).total_seconds())
            return c.PollInput(
                **_described(job),
                operation_url=operation.url,
                n=job.params.n,
                elapsed_s=made_at[-1],
                running_until_s=until,
            )

        try:
            answers = yield from call_with_retries(
                run,
                c.POLL,
                {0: poll_input},
                c.Polled,
                stage="polling",
                waiting_stage="polling",
                on_retry=operation.unknown,
            )
        except JobCanceled as canceled:
            _saw(operation, canceled.settled)  # so the delete is tried if it may succeed
            raise
        result = answers[0]
        polls += 1
        operation.status = result.status
        hint = result.retry_after
        # a worker that has learnt nothing yet (fresh, scaled out) answers None: keep ours
        expected = result.expected_s or expected
        # (call_with_retries showed stage "polling" and no wait for the attempt that answered)
        run.show(operation_status=result.status, last_error=None)
        if result.status in ("notRunning", "running"):
            running_until = made_at[-1]
            continue
        if result.status == "succeeded":
            left = _keep(run, result)
            if not left and not any(run.images):
                raise JobFailed(
                    ErrorCode.OPERATION_FAILED, "the operation succeeded without images"
                )
            # re-polling is free (billed at submit): persist asks the operation for a fresh URL
            yield from _persist(run, {index: {"operation_url": operation.url} for index in left})
            return
        if result.status in ("failed", "canceled"):
            default = (
                "the image operation was canceled (it timed out)"
                if result.status == "canceled"
                else "the image operation failed"
            )
            error = result.error
            raise JobFailed(
                error.code if error else ErrorCode.OPERATION_FAILED,
                error.message if error else default,
            )
        raise JobFailed(
            ErrorCode.OPERATION_FAILED,
            f"the image operation is {result.status!r}: it was deleted before its images were "
            "stored",
        )


def _saw(operation: _Operation, settled: list[Any]) -> None:
    """What a poll that was in flight when the job was canceled saw of the operation."""
    for raw in settled:
        try:
            result = c.read_result(c.Polled, raw)
        except ValueError:  # the call raised (None) or answered nothing readable
            continue
        if isinstance(result, c.Ok):
            operation.status = result.value.status
        elif isinstance(result, c.Retry):
            operation.unknown()


def _delete_operation(run: JobRun, operation_url: str) -> Gen:
    """Best effort: a failed delete neither fails a job whose images are stored nor replaces the
    error of one that failed (the activity answers "ok" even when the service refuses; this
    also swallows the activity itself failing)."""
    try:
        yield run.context.call_activity(
            c.DELETE, c.dump(c.DeleteInput(model=run.job.model, operation_url=operation_url))
        )
    except Exception:  # best effort, see above
        return


# A canceled job's blobs: a discard that answers "retry" (or raises) is tried again after a
# durable timer, this many times in all; one that says blobs are left is called again at once.
DISCARD_ATTEMPTS = 3
# Leftover previews are what a storage outage leaves (their call's own delete timed out): more
# attempts, so the last one comes ~30 s on, after a short outage has passed.
PREVIEWS_DISCARD_ATTEMPTS = 5


def _discard(run: JobRun, *, previews_only: bool = False) -> Gen:
    """Delete every blob of the canceled job (images, edit inputs, receipts: its folder), best
    effort and not raced: a discard that keeps failing leaves the job canceled all the same (its
    output names no blob, and a lifecycle rule on the container expires what is left).
    `previews_only`: just a streaming job's leftover preview blobs (its images are kept)."""
    job = run.job
    only = True if previews_only else None
    payload = c.dump(c.DiscardInput(job_id=job.id, created=job.created, previews_only=only))
    attempts = PREVIEWS_DISCARD_ATTEMPTS if previews_only else DISCARD_ATTEMPTS
    for attempt in range(1, attempts + 1):
        try:
            result = c.read_result(
                c.Discarded, (yield run.context.call_activity(c.DISCARD, payload))
            )
        except Exception:  # the activity crashed: try again, like an answer of "retry"
            result = None
        if isinstance(result, c.Failed) or (isinstance(result, c.Ok) and not result.value.more):
            return
        if attempt < attempts and not isinstance(result, c.Ok):
            yield run.timer(IMAGE_BACKOFF.delay_s(attempt))


def run_image_job(context: df.DurableOrchestrationContext) -> Gen:
    """The orchestrator body (registered as `image_job` by shared/blueprints/orchestration.py).

    A cancel event (`CANCEL_EVENT`) that wins a race before the images are stored ends the job
    "canceled": the calls in flight are awaited (`JobRun.race`), nothing new is started (a
    DALL-E 2 operation is still deleted when it may be), the job's blobs are discarded and the
    output keeps no image and no input, with the error `job_canceled`; notifications still go
    out. A cancel event arriving later (notifying) is ignored."""
    job = JobInput.model_validate(context.get_input())
    run = JobRun(context, job)
    error: JobErrorBody | None = None
    canceled: JobCanceled | None = None
    try:
        if job.deployment.flavour in ASYNC_FLAVOURS:
            yield from _generate_async(run)
        else:
            yield from _generate_sync(run)
        if any(image is None for image in run.images):
            raise JobFailed(
                ErrorCode.OPERATION_FAILED, "the service returned fewer images than asked"
            )
    except JobCanceled as exc:
        canceled = exc
    except JobFailed as exc:
        error = JobErrorBody(code=exc.code, message=exc.message)
    except Exception as exc:  # an activity crashed (TaskFailed): fail the job, not the host
        error = JobErrorBody(code=INTERNAL_ERROR, message=f"the job failed: {type(exc).__name__}")
    if canceled is not None:
        yield from _discard(run)
        run.images = [None] * job.params.n  # deleted: none is shown done, none is in the output
        error = JobErrorBody(code=JOB_CANCELED, message=canceled.message)
    elif job.partial_images and (run.previews_left or error is not None):
        # a call could not delete its previews, or the job failed (its last call's clean-up
        # may have failed with it): no preview blob may outlive the job
        run.show(stage="cleaning_up")
        yield from _discard(run, previews_only=True)
    output = JobOutput(
        id=job.id,
        status="canceled" if canceled else "failed" if error is not None else "succeeded",
        model=job.model,
        prompt=job.params.prompt,
        created=job.created,
        completed=run.now.isoformat(),
        images=[i for i in run.images if i is not None],
        inputs=list(job.edit.inputs) if job.edit is not None and not canceled else None,
        error=error,
    )
    final_stage = "canceled" if canceled else "failed" if error is not None else "completed"
    last_error = error.code if error is not None else None
    if job.callback_url or job.results_queue:
        run.show(stage="notifying", retry_after_seconds=None, last_error=last_error)
        result = c.dump(output)
        output.notification = yield from notify_completion(
            context, job.callback_url, result, results_queue=job.results_queue
        )
    run.show(stage=final_stage, retry_after_seconds=None, last_error=last_error)
    return c.dump(output)
