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
from typing import Any

import azure.durable_functions as df

from shared.notify.callback import redact_url

CALLBACK_ACTIVITY = "notify_callback"
RESULTS_QUEUE_ACTIVITY = "notify_results_queue"


@dataclass(frozen=True)
class NotifyPolicy:
    """How hard to try a callback: attempts, and the waits between them (durable timers)."""

    max_attempts: int = 5
    first_delay_s: float = 5.0
    backoff: float = 3.0
    max_delay_s: float = 300.0  # also the cap on a receiver's Retry-After

    def delay_s(self, failed_attempts: int, retry_after_s: float | None) -> float:
        if retry_after_s is not None and retry_after_s > 0:
            return min(retry_after_s, self.max_delay_s)
        return min(self.first_delay_s * self.backoff ** (failed_attempts - 1), self.max_delay_s)


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
         "callback": {"status", "attempts", "url" (redacted), "http_status"?, "reason"?} | None,
         "results_queue": {"status": "published" | "failed", "queue", ...} | None}
    """
    job_id = context.instance_id
    callback: dict[str, Any] | None = None
    if callback_url:
        callback = yield from _deliver_callback(context, job_id, callback_url, result, policy)

    queued: dict[str, Any] | None = None
    if results_queue:
        try:
            queued = yield context.call_activity_with_retry(
                RESULTS_QUEUE_ACTIVITY,
                df.RetryOptions(
                    first_retry_interval_in_milliseconds=2000, max_number_of_attempts=3
                ),
                {"job_id": job_id, "queue": results_queue, "result": dict(result)},
            )
        except Exception as exc:
            queued = {"status": "failed", "queue": results_queue, "reason": _reason(exc)}

    outcomes = [o["status"] for o in (callback, queued) if o is not None]
    status = "none"
    if outcomes:
        status = "failed" if "failed" in outcomes else "delivered"
    return {"status": status, "callback": callback, "results_queue": queued}


def _deliver_callback(
    context: df.DurableOrchestrationContext,
    job_id: str,
    url: str,
    result: Mapping[str, Any],
    policy: NotifyPolicy,
) -> Generator[Any, Any, dict[str, Any]]:
    record: dict[str, Any] = {"status": "failed", "attempts": 0, "url": redact_url(url)}
    for attempt in range(1, policy.max_attempts + 1):
        record["attempts"] = attempt
        try:
            outcome = yield context.call_activity(
                CALLBACK_ACTIVITY,
                {"url": url, "job_id": job_id, "attempt": attempt, "result": dict(result)},
            )
        except Exception as exc:  # the activity itself crashed: worth another try
            outcome = {"delivered": False, "retryable": True, "reason": _reason(exc)}
        if outcome.get("http_status") is not None:
            record["http_status"] = outcome["http_status"]
        if outcome.get("delivered"):
            record["status"] = "delivered"
            record.pop("reason", None)
            return record
        record["reason"] = outcome.get("reason") or "callback not delivered"
        if not outcome.get("retryable") or attempt == policy.max_attempts:
            break
        wait = policy.delay_s(attempt, outcome.get("retry_after_s"))
        yield context.create_timer(context.current_utc_datetime + timedelta(seconds=wait))
    if record["attempts"] == policy.max_attempts and record["status"] == "failed":
        record["reason"] = f"{record['reason']} (gave up after {policy.max_attempts} attempts)"
    return record


def _reason(exc: BaseException) -> str:
    text = str(exc).split("\n\n$OutOfProcData$", 1)[0].strip()
    return (text or type(exc).__name__)[:300]
