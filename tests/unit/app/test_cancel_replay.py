"""Cancelling a job: the cancel event (`CANCEL_EVENT`) raced against every wait of the job until
its images are stored, replayed episode by episode through the real durable SDK.

The engine raises the event the way the host records it (EventRaised, `Name` + JSON `Input`) in
an episode of its own, so the activities in flight stay in flight: what the tests check is that
those are awaited (each scheduled exactly once), that nothing new is started (no retry, no poll,
no second call), that the job's blobs are discarded and that the result says "canceled".
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from shared.imaging.types import Family, Flavour
from shared.orchestration import calls as calls_module
from shared.orchestration.names import CANCEL_EVENT
from tests.unit.app.engine import RaiseEvent, scheduled, timer_pending
from tests.unit.app.fakes import (
    OPERATION,
    deleted,
    delivered,
    discarded,
    failed,
    generated,
    persisted,
    polled,
    submitted,
    throttled,
)

DALLE2 = (Family.DALLE2, Flavour.AZURE_DALLE2_ASYNC)
GPT = (Family.GPT_IMAGE, Flavour.AZURE_DEPLOYMENT)
GENERATE, DISCARD = "generate_images", "discard_job_blobs"
CALLBACK = "https://hooks.example/cb"


def cancel(when: Any = None, reason: Any = "the user changed their mind", **kw: Any) -> RaiseEvent:
    payload = {"reason": reason} if isinstance(reason, str) else reason
    return RaiseEvent(CANCEL_EVENT, payload, when=when, **kw)


def responder(**answers: Any) -> Any:
    """Each activity answered by `answers[name](payload)`; discard and delete answer ok."""

    def respond(name: str, payload: dict[str, Any]) -> dict[str, Any]:
        if name in answers:
            answer = answers[name]
            return answer(payload) if callable(answer) else answer
        if name == DISCARD:
            return discarded(payload)
        if name == "delete_operation":
            return deleted()
        if name == "notify_callback":
            return delivered()
        raise AssertionError(f"unexpected activity {name}")

    return respond


def assert_canceled(run: Any, reason: str | None = "the user changed their mind") -> None:
    out = run.output
    assert out["status"] == "canceled"
    assert out["images"] == []
    assert "inputs" not in out
    message = "the job was canceled" + (f": {reason}" if reason else "")
    assert out["error"] == {"code": "job_canceled", "message": message}
    assert out["completed"]
    stages = [s["stage"] for s in run.statuses]
    assert "canceling" in stages
    assert run.statuses[-1]["stage"] == "canceled"
    assert run.statuses[-1]["images_done"] == 0
    assert run.statuses[-1]["last_error"] == "job_canceled"
    # no signed URL anywhere (but in the event's own payload, which the host records as sent)
    assert "sig=" not in json.dumps([e for e in run.history if e["EventType"] != 15])
    assert "sig=" not in json.dumps([out, run.statuses])


def test_cancel_while_generating_awaits_the_call_in_flight_then_discards(replay, make_job):
    job = make_job(*GPT)
    run = replay(job, responder(generate_images=generated), events=[cancel(scheduled(GENERATE))])

    # The generate call in flight when cancel won is awaited (it was billed, and stores its
    # images), then the job's blobs are discarded: exactly one generate call, ever.
    assert run.outcome() == [
        ("scheduled", GENERATE),
        ("raised", CANCEL_EVENT),
        ("completed", 0),
        ("scheduled", DISCARD),
        ("completed", 1),
    ]
    assert run.calls[1].input == {"job_id": "job1", "created": job.created}
    assert run.timers == []
    assert_canceled(run)


def test_a_call_in_flight_that_answers_retry_is_not_retried_after_cancel(replay, make_job):
    run = replay(
        make_job(*GPT),
        responder(generate_images=throttled(7.0)),
        events=[cancel(scheduled(GENERATE))],
    )

    assert run.names() == [GENERATE, DISCARD]
    assert run.timers == []  # no retry timer either
    assert_canceled(run)


def test_every_call_in_flight_is_awaited_even_one_that_crashes(replay, make_job):
    """DALL-E 3 with n=2: two calls in parallel; one raises (TaskFailed) after cancel won."""

    def generate(payload: dict[str, Any]) -> dict[str, Any]:
        if payload["first_index"] == 1:
            raise RuntimeError("the worker died")
        return generated(payload)

    run = replay(
        make_job(n=2), responder(generate_images=generate), events=[cancel(scheduled(GENERATE))]
    )

    assert run.names() == [GENERATE, GENERATE, DISCARD]
    outcome = run.outcome()
    assert outcome.index(("raised", CANCEL_EVENT)) < outcome.index(("completed", 0))
    assert ("failed", 1) in outcome
    assert_canceled(run)


def test_cancel_while_waiting_to_retry_cancels_the_timer_and_calls_nothing_more(replay, make_job):
    run = replay(
        make_job(*GPT),
        responder(generate_images=throttled(30.0)),
        events=[cancel(timer_pending(1))],
    )

    assert run.names() == [GENERATE, DISCARD]
    assert run.timers == [30.0]
    assert run.cancelled_timers == [1]  # the retry timer (task 1) is cancelled, never fires
    assert not any(kind == "fired" for kind, _ in run.outcome())
    assert run.finished_at < run.calls[0].at + timedelta(seconds=30)  # not waited for
    assert_canceled(run)


def test_cancel_while_storing_awaits_the_persist_in_flight(replay, make_job):
    run = replay(
        make_job(),
        responder(
            generate_images=lambda p: generated(p, copy_fails=[0]),
            persist_image=persisted,
        ),
        events=[cancel(scheduled("persist_image"))],
    )

    assert run.names() == [GENERATE, "persist_image", DISCARD]
    assert_canceled(run)


def dalle2(statuses: list[str]) -> Any:
    answers = iter(statuses)
    return responder(
        submit_operation=submitted(),
        poll_operation=lambda p: polled(p, next(answers)),
    )


def test_cancel_during_dalle2_polling_polls_no_more_and_leaves_a_running_operation(
    replay, make_job
):
    # timers: 1 = the first poll's, 2 = the second's; cancel comes while the second waits
    run = replay(
        make_job(*DALLE2),
        dalle2(["running", "running", "succeeded"]),
        events=[cancel(timer_pending(2))],
    )

    assert run.names() == ["submit_operation", "poll_operation", DISCARD]
    # the operation was last seen running: the service refuses to delete it, so no delete
    assert "delete_operation" not in run.names()
    assert len(run.cancelled_timers) == 1
    assert_canceled(run)


def test_cancel_while_a_poll_is_in_flight_deletes_the_operation_it_saw_succeed(replay, make_job):
    run = replay(
        make_job(*DALLE2, n=2),
        dalle2(["running", "succeeded"]),
        events=[cancel(scheduled("poll_operation", count=2))],
    )

    # the poll in flight stored the images (discarded since) and saw the operation end:
    # deletable, so the existing except-path deletes it, then the blobs are discarded
    assert run.names() == [
        "submit_operation",
        "poll_operation",
        "poll_operation",
        "delete_operation",
        DISCARD,
    ]
    assert run.calls[3].input["operation_url"] == OPERATION
    assert_canceled(run)


def test_cancel_while_a_poll_is_in_flight_that_sees_it_running_deletes_nothing(replay, make_job):
    run = replay(
        make_job(*DALLE2),
        dalle2(["running", "running"]),
        events=[cancel(scheduled("poll_operation", count=2))],
    )

    assert run.names() == ["submit_operation", "poll_operation", "poll_operation", DISCARD]
    assert_canceled(run)


def test_cancel_before_the_first_episode_schedules_no_generate_at_all(replay, make_job):
    run = replay(make_job(*GPT), responder(), events=[cancel(before_start=True, reason=None)])

    # First episode: only the wait for the event (6) and the discard (0) — no generate call.
    assert run.first_actions == [6, 0]
    assert run.names() == [DISCARD]
    assert_canceled(run, reason=None)


def test_without_looking_at_the_first_episode_a_generate_would_be_bought(
    replay, make_job, monkeypatch
):
    """Why `canceled_before_start` exists: the SDK runs the orchestrator to its first yield
    while processing ExecutionStarted, before the EventRaised behind it, so the first race's
    WhenAny — the generate call in it — is in the episode's actions when cancel wins."""
    monkeypatch.setattr(calls_module, "canceled_before_start", lambda context: False)
    run = replay(
        make_job(*GPT), responder(generate_images=generated), events=[cancel(before_start=True)]
    )

    assert run.first_actions[0] == 0  # the generate call, scheduled in the very first episode
    assert run.names() == [GENERATE, DISCARD]  # awaited (billed), then discarded
    assert_canceled(run)


@pytest.mark.parametrize("when", ["notify_callback", "delete_operation"])
def test_a_cancel_after_the_images_are_stored_is_ignored(replay, make_job, when):
    family = DALLE2 if when == "delete_operation" else GPT
    job = make_job(*family).model_copy(update={"callback_url": CALLBACK})
    answers = dalle2(["succeeded"]) if family == DALLE2 else responder(generate_images=generated)

    run = replay(job, answers, events=[cancel(scheduled(when))])

    assert ("raised", CANCEL_EVENT) in run.outcome()
    assert DISCARD not in run.names()
    assert run.output["status"] == "succeeded"
    assert len(run.output["images"]) == 1
    assert run.statuses[-1]["stage"] == "completed"
    assert "canceling" not in [s["stage"] for s in run.statuses]


def test_the_notification_of_a_canceled_job_says_canceled(replay, make_job):
    job = make_job(*GPT).model_copy(update={"callback_url": CALLBACK})
    run = replay(job, responder(generate_images=generated), events=[cancel(scheduled(GENERATE))])

    assert run.names() == [GENERATE, DISCARD, "notify_callback"]
    sent = run.calls[2].input["result"]
    assert sent["status"] == "canceled"
    assert sent["images"] == []
    assert sent["error"]["code"] == "job_canceled"
    assert "notifying" in [s["stage"] for s in run.statuses]
    assert run.output["notification"]["status"] == "delivered"
    assert_canceled(run)


def test_a_discard_that_keeps_failing_leaves_the_job_canceled(replay, make_job):
    def discard(payload: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("Blob Storage is down")

    run = replay(
        make_job(*GPT),
        responder(generate_images=generated, discard_job_blobs=discard),
        events=[cancel(scheduled(GENERATE))],
    )

    assert run.names() == [GENERATE, DISCARD, DISCARD, DISCARD]
    assert run.timers == [2.0, 4.0]  # not raced, plain backoff between the attempts
    assert_canceled(run)


def test_a_discard_refused_for_good_is_not_tried_again(replay, make_job):
    run = replay(
        make_job(*GPT),
        responder(
            generate_images=generated,
            discard_job_blobs={"outcome": "error", "code": "internal_error", "message": "no"},
        ),
        events=[cancel(scheduled(GENERATE))],
    )

    assert run.names() == [GENERATE, DISCARD]
    assert_canceled(run)


def test_a_discard_that_leaves_blobs_is_called_again_at_once(replay, make_job):
    answers = iter([True, False])
    run = replay(
        make_job(*GPT),
        responder(
            generate_images=generated,
            discard_job_blobs=lambda p: discarded(p, more=next(answers)),
        ),
        events=[cancel(scheduled(GENERATE))],
    )

    assert run.names() == [GENERATE, DISCARD, DISCARD]
    assert run.timers == []
    assert_canceled(run)


@pytest.mark.filterwarnings("ignore:Potential duplicate Task completion")
def test_a_second_cancel_event_changes_nothing(replay, make_job):
    run = replay(
        make_job(*GPT),
        responder(generate_images=generated),
        events=[cancel(scheduled(GENERATE)), cancel(scheduled(DISCARD), reason="again")],
    )

    assert run.names() == [GENERATE, DISCARD]
    assert_canceled(run)


@pytest.mark.parametrize(
    "payload",
    [
        None,
        {"reason": "x" * 201},
        {"reason": "see https://evil.example/?sig=1"},
        {"reason": 7},
        {"reason": "two\nlines"},
        {"other": "field"},
    ],
)
def test_a_reason_that_is_not_short_plain_text_is_not_echoed(replay, make_job, payload):
    run = replay(
        make_job(*GPT),
        responder(generate_images=generated),
        events=[RaiseEvent(CANCEL_EVENT, payload, when=scheduled(GENERATE))],
    )

    assert_canceled(run, reason=None)


def test_a_canceled_edit_names_no_inputs(replay, make_job):
    from tests.unit.app.test_edit_jobs import edit_job

    run = replay(
        edit_job(make_job),
        responder(generate_images=generated),
        events=[cancel(scheduled(GENERATE))],
    )

    assert run.names() == [GENERATE, DISCARD]
    assert_canceled(run)  # "inputs" absent: the staged inputs were in the folder discarded


# -- the cancel marker: a cancel delivered in the same batch as what schedules the next call ----


def test_a_billed_call_that_finds_the_cancel_marker_ends_the_job_canceled(replay, make_job):
    """The generate activity answers job_canceled (DELETE wrote the marker) before the event
    reached the orchestrator: the job is canceled, not failed, and nothing is retried."""
    run = replay(
        make_job(*GPT),
        responder(generate_images=failed("job_canceled", "the service was not called")),
    )

    assert run.names() == [GENERATE, DISCARD]
    assert run.timers == []
    assert_canceled(run, reason=None)


def test_a_cancel_in_the_batch_of_a_retry_timer_buys_nothing_more(replay, make_job):
    """History [..., TimerFired(retry), EventRaised(cancel)]: the SDK resumes on the timer and
    schedules the next generate before it reads the event (no orchestrator code can see it in
    time). The activity then finds the marker the DELETE wrote first, and answers job_canceled
    without calling the service: one billed call in all."""
    bought: list[int] = []
    canceled = False

    def generate(payload: dict[str, Any]) -> dict[str, Any]:
        if canceled:  # the marker is there: the real activity does not call the service
            return failed("job_canceled", "the service was not called")
        bought.append(1)
        return throttled(5.0)

    def on_timer(fired: int) -> None:
        nonlocal canceled
        canceled = True  # DELETE: marker, then the event (delivered with this timer)

    run = replay(
        make_job(*GPT),
        responder(generate_images=generate),
        events=[cancel(with_timer=1)],
        on_timer=on_timer,
    )

    assert run.names() == [GENERATE, GENERATE, DISCARD]
    outcome = run.outcome()
    assert outcome.index(("raised", CANCEL_EVENT)) < outcome.index(("scheduled", GENERATE), 1)
    assert bought == [1]
    assert_canceled(run)
