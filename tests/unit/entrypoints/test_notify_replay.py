"""notify_completion replayed by the real durable SDK: retries wait on durable timers, a callback
that fails for good never fails the job, and the status says what happened."""

from __future__ import annotations

from typing import Any

import pytest

from shared.notify.orchestration import (
    CALLBACK_ACTIVITY,
    RESULTS_QUEUE_ACTIVITY,
    NotifyPolicy,
    notify_completion,
)
from shared.orchestration.retry import Backoff
from tests.unit.app.engine import replay


class ActivityError(Exception):
    """Raised by a test activity: the host records TaskFailed."""


RESULT = {"id": "job-1", "status": "succeeded", "images": [{"blob": "job-1/0.png"}]}
CALLBACK = "https://flows.example.com/hook?sig=SECRET-SIGNATURE&sp=x"


def orchestrator_for(callback_url: str | None, results_queue: str | None = None, **kw: Any):
    def orchestrator(context):
        output = dict(RESULT)
        output["notification"] = yield from notify_completion(
            context, callback_url, output, results_queue=results_queue, **kw
        )
        return output

    return orchestrator


def scripted(*outcomes: Any):
    """An activity answering the given outcomes in turn (an Exception instance is raised)."""
    remaining = list(outcomes)

    def activity(_arg: Any) -> Any:
        outcome = remaining.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return activity


OK = {"delivered": True, "retryable": False, "http_status": 200}
BUSY = {"delivered": False, "retryable": True, "http_status": 503, "reason": "HTTP 503"}
GONE = {"delivered": False, "retryable": False, "http_status": 404, "reason": "HTTP 404"}


def test_delivered_first_time_posts_once_and_waits_on_nothing():
    run = replay(orchestrator_for(CALLBACK), {CALLBACK_ACTIVITY: scripted(OK)})
    notification = run.output["notification"]
    assert notification["status"] == "delivered"
    assert notification["callback"]["attempts"] == 1
    assert run.names() == [CALLBACK_ACTIVITY]
    assert run.calls[0].input["result"] == RESULT
    assert run.calls[0].input["job_id"] == "job-1"
    assert run.timers == []


def test_retryable_failures_wait_on_durable_timers_then_deliver():
    policy = NotifyPolicy(max_attempts=5, backoff=Backoff(base_s=5, factor=3, max_s=300))
    run = replay(
        orchestrator_for(CALLBACK, policy=policy),
        {CALLBACK_ACTIVITY: scripted(BUSY, {**BUSY, "retry_after_s": 42}, OK)},
    )
    notification = run.output["notification"]
    assert notification["status"] == "delivered"
    assert notification["callback"]["attempts"] == 3
    # First wait is the policy's, the second honours the receiver's Retry-After.
    assert run.timers == [5.0, 42.0]
    assert [call.input["attempt"] for call in run.calls] == [1, 2, 3]


def test_a_permanent_failure_is_not_retried_and_does_not_fail_the_job():
    run = replay(orchestrator_for(CALLBACK), {CALLBACK_ACTIVITY: scripted(GONE)})
    assert run.output["status"] == "succeeded"
    callback = run.output["notification"]["callback"]
    assert run.output["notification"]["status"] == "failed"
    assert callback["status"] == "failed"
    assert callback["reason"] == "HTTP 404"
    assert callback["http_status"] == 404
    assert run.timers == []


def test_gives_up_after_the_last_attempt_with_a_reason():
    policy = NotifyPolicy(max_attempts=3, backoff=Backoff(base_s=1, factor=2, max_s=10))
    run = replay(
        orchestrator_for(CALLBACK, policy=policy),
        {CALLBACK_ACTIVITY: scripted(BUSY, BUSY, BUSY)},
    )
    callback = run.output["notification"]["callback"]
    assert callback["status"] == "failed"
    assert callback["attempts"] == 3
    assert "gave up after 3 attempts" in callback["reason"]
    assert len(run.timers) == 2  # no pointless wait after the last attempt


def test_a_crashing_activity_is_retried():
    run = replay(
        orchestrator_for(CALLBACK),
        {CALLBACK_ACTIVITY: scripted(ActivityError("worker died"), OK)},
    )
    assert run.output["notification"]["callback"]["status"] == "delivered"
    assert run.output["notification"]["callback"]["attempts"] == 2


# What the Functions host puts in a TaskFailed of a Python activity: the message, then the stack
# with the server's file paths (and the SDK's out-of-process marker).
CRASH_TEXT = (
    "Result: Failure\nException: PermissionError: [Errno 13] Permission denied: "
    "'/home/site/wwwroot/.python_packages/lib/site-packages/secret.cfg'\n"
    'Stack:   File "/azure-functions-host/workers/python/3.11/LINUX/X64/azure_functions_worker/'
    'dispatcher.py", line 512, in _handle__invocation_request\n'
    'Traceback (most recent call last):\n  File "/home/site/wwwroot/shared/notify/callback.py",'
    ' line 77, in post_callback\n\n$OutOfProcData$ {"internal": true}'
)
LEAKS = ("/home/site", "wwwroot", "Traceback", "line 77", "Errno", "secret.cfg", "Stack", "$OutOf")


def test_a_crashing_activity_is_recorded_by_a_fixed_reason_without_its_text():
    policy = NotifyPolicy(max_attempts=2, backoff=Backoff(base_s=1, factor=2, max_s=10))
    run = replay(
        orchestrator_for(CALLBACK, policy=policy),
        {CALLBACK_ACTIVITY: scripted(ActivityError(CRASH_TEXT), ActivityError(CRASH_TEXT))},
    )
    callback = run.output["notification"]["callback"]
    assert callback["status"] == "failed"
    assert callback["reason"] == (
        f"the {CALLBACK_ACTIVITY} activity failed (Exception) (gave up after 2 attempts)"
    )
    shown = str(run.output) + str(run.statuses)
    for leak in LEAKS:
        assert leak not in shown


def test_a_crashing_results_queue_activity_is_named_as_such():
    run = replay(
        orchestrator_for(None, results_queue="image-results", policy=NotifyPolicy(max_attempts=1)),
        {RESULTS_QUEUE_ACTIVITY: scripted(ActivityError(CRASH_TEXT))},
    )
    queued = run.output["notification"]["results_queue"]
    assert queued["reason"].startswith(f"the {RESULTS_QUEUE_ACTIVITY} activity failed (")
    assert not any(leak in str(run.output) for leak in LEAKS)


def test_the_status_never_shows_the_callback_signature():
    run = replay(orchestrator_for(CALLBACK), {CALLBACK_ACTIVITY: scripted(GONE)})
    assert run.output["notification"]["callback"]["url"] == "https://flows.example.com/hook"
    assert "SECRET" not in str(run.output)
    assert "SECRET" not in str(run.statuses)


def test_results_queue_only():
    run = replay(
        orchestrator_for(None, results_queue="image-results"),
        {RESULTS_QUEUE_ACTIVITY: scripted({"delivered": True, "message_id": "m1"})},
    )
    notification = run.output["notification"]
    assert notification["callback"] is None
    assert notification["results_queue"] == {
        "status": "published",
        "attempts": 1,
        "queue": "image-results",
    }
    assert notification["status"] == "delivered"
    assert run.calls[0].input["queue"] == "image-results"


@pytest.mark.parametrize(
    ("callback_outcome", "queue_outcome", "expected"),
    [
        (OK, {"delivered": True}, "delivered"),
        (GONE, {"delivered": True}, "failed"),
        (OK, {"delivered": False, "retryable": False, "reason": "no queue"}, "failed"),
    ],
)
def test_both_targets_summarised(callback_outcome, queue_outcome, expected):
    run = replay(
        orchestrator_for(CALLBACK, results_queue="image-results"),
        {
            CALLBACK_ACTIVITY: scripted(callback_outcome),
            RESULTS_QUEUE_ACTIVITY: scripted(queue_outcome),
        },
    )
    assert run.output["notification"]["status"] == expected


def test_nothing_to_notify_calls_nothing():
    run = replay(orchestrator_for(None), {})
    assert run.output["notification"] == {"status": "none", "callback": None, "results_queue": None}
    assert run.calls == []


def test_a_delivery_after_a_failed_attempt_keeps_no_reason():
    run = replay(orchestrator_for(CALLBACK), {CALLBACK_ACTIVITY: scripted(BUSY, OK)})
    assert run.output["notification"]["callback"] == {
        "status": "delivered",
        "attempts": 2,
        "url": "https://flows.example.com/hook",
        "http_status": 200,
    }


def test_a_refusal_without_a_reason_is_recorded_as_not_delivered():
    run = replay(orchestrator_for(CALLBACK), {CALLBACK_ACTIVITY: scripted({"delivered": False})})
    assert run.output["notification"]["callback"] == {
        "status": "failed",
        "attempts": 1,
        "url": "https://flows.example.com/hook",
        "reason": "not delivered",
    }
