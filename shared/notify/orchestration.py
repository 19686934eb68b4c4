"""The orchestrator side of completion notifications: bounded retries on durable timers.

Used at the very end of the job's orchestrator, after its output is decided::

    output["notification"] = yield from notify_completion(context, callback_url, output)

It never raises: a callback that fails for good is recorded (``{"status": "failed", "reason"}``)
and the job keeps its own outcome. Waiting happens on durable timers, not in the activity, so a
slow receiver costs no worker time and a restart resumes the schedule where it was. Everything here
is deterministic (no clock, no I/O): the activities do the I/O and report back.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from shared.notify.urls import redact_url
from shared.orchestration.contracts import (
    CALLBACK,
    RESULTS_QUEUE,
    CallbackInput,
    Delivery,
    ResultsQueueInput,
    dump,
)
from shared.orchestration.retry import Backoff

if TYPE_CHECKING:
    import azure.durable_functions as df

CALLBACK_ACTIVITY = CALLBACK
RESULTS_QUEUE_ACTIVITY = RESULTS_QUEUE
# A receiver is given longer than the image service: 5 s, 15 s, 45 s, ... up to 5 minutes, and a
# Retry-After is honoured up to 5 minutes too.
NOTIFY_BACKOFF = Backoff(base_s=5.0, factor=3.0, max_s=300.0, max_hint_s=300.0)


@dataclass(frozen=True)
class NotifyPolicy:
    """How hard to try a callback: attempts, and the waits between them (durable timers)."""

    max_attempts: int = 5
    backoff: Backoff = NOTIFY_BACKOFF


DEFAULT_POLICY = NotifyPolicy()


def notify_completion(
    context: df.DurableOrchestrationContext,
    callback_url: str | None,
    result: Mapping[str, Any],
    *,
    results_queue: str | None = None,
    policy: NotifyPolicy = DEFAULT_POLICY,
) -> Generator[Any, Any, dict[str, Any]]:
    """Deliver ``result`` to ``callback_url`` and/or put it on ``results_queue`` (each if given).

    Both targets are decided when the job is accepted and travel in the job's input, so replays
    never depend on settings read later. Returns the ``notification`` record for the output::

        {"status": "delivered" | "failed" | "none",
         "callback": {"status": "delivered" | "failed", "attempts", "url" (redacted),
                      "http_status"?, "reason"?} | None,
         "results_queue": {"status": "published" | "failed", "queue", "attempts",
                           "reason"?} | None}
    """
    job_id = context.instance_id
    callback: dict[str, Any] | None = None
    if callback_url:
        callback = yield from _with_retries(
            context,
            CALLBACK_ACTIVITY,
            CallbackInput(url=callback_url, job_id=job_id, result=dict(result)),
            {"status": "failed", "attempts": 0, "url": redact_url(callback_url)},
            policy,
        )
    queued: dict[str, Any] | None = None
    if results_queue:
        queued = yield from _with_retries(
            context,
            RESULTS_QUEUE_ACTIVITY,
            ResultsQueueInput(queue=results_queue, job_id=job_id, result=dict(result)),
            {"status": "failed", "attempts": 0, "queue": results_queue},
            policy,
            success="published",
        )
    outcomes = [o["status"] for o in (callback, queued) if o is not None]
    status = "none"
    if outcomes:
        status = "failed" if "failed" in outcomes else "delivered"
    return {"status": status, "callback": callback, "results_queue": queued}


def _with_retries(
    context: df.DurableOrchestrationContext,
    activity: str,
    request: BaseModel,
    record: dict[str, Any],
    policy: NotifyPolicy,
    *,
    success: str = "delivered",
) -> Generator[Any, Any, dict[str, Any]]:
    """Call a notification activity until it delivers, it fails for good, or attempts run out;
    wait on a durable timer between attempts. Returns ``record`` filled in."""
    for attempt in range(1, policy.max_attempts + 1):
        record["attempts"] = attempt
        try:
            answer = yield context.call_activity(
                activity, dump(request.model_copy(update={"attempt": attempt}))
            )
            outcome = Delivery.model_validate(answer)
        except Exception as exc:  # the activity itself crashed: worth another try
            outcome = Delivery(delivered=False, retryable=True, reason=_reason(activity, exc))
        if outcome.http_status is not None:
            record["http_status"] = outcome.http_status
        if outcome.delivered:
            record["status"] = success
            record.pop("reason", None)
            return record
        record["reason"] = outcome.reason or "not delivered"
        if not outcome.retryable:
            return record
        if attempt < policy.max_attempts:
            wait = policy.backoff.wait_s(attempt, outcome.retry_after_s)
            yield context.create_timer(context.current_utc_datetime + timedelta(seconds=wait))
    record["reason"] = f"{record['reason']} (gave up after {policy.max_attempts} attempts)"
    return record


def _reason(activity: str, exc: BaseException) -> str:
    """A fixed phrase for a crashed activity: the exception's text is never copied. The SDK's
    failure carries the worker's message and, from the Functions host, its stack trace with the
    server's file paths; the job's status and the receiver's record are shown to callers."""
    return f"the {activity} activity failed ({type(exc).__name__})"
