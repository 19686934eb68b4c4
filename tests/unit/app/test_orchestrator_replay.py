"""The image_job orchestrator, replayed episode by episode through the real durable SDK.

The activities are played by tests/unit/app/fakes.py, which validate what they are sent and
answer with the contract's types, as the real activities do."""

from __future__ import annotations

import itertools
import json
import time
from datetime import timedelta
from typing import Any

import pytest

from shared.imaging.types import Family, Flavour
from shared.orchestration import contracts
from tests.unit.app.fakes import (
    OPERATION,
    deleted,
    delivered,
    failed,
    generated,
    persisted,
    polled,
    stored_image,
    submitted,
    throttled,
    unavailable,
)

DALLE2 = (Family.DALLE2, Flavour.AZURE_DALLE2_ASYNC)
GPT = (Family.GPT_IMAGE, Flavour.AZURE_DEPLOYMENT)


def test_sync_url_model_whose_copy_failed_persists_each_image_without_generating_again(
    replay, make_job
):
    def respond(name, payload):
        if name == "generate_images":
            return generated(payload, copy_fails=[0])
        return persisted(payload)

    run = replay(make_job(), respond)

    assert run.names() == ["generate_images", "persist_image"]
    persist = run.calls[1].input
    assert persist["index"] == 0
    assert persist["first_index"] == 0  # the receipt of the call that bought it holds the URL
    assert "url" not in persist
    assert "operation_url" not in persist
    assert "revised_prompt" not in persist  # the receipt has it too
    assert "final" not in persist  # a first attempt is not the last: no field for it
    assert "sig=" not in json.dumps(run.history)  # no signed URL anywhere in history
    out = run.output
    assert out["status"] == "succeeded"
    assert out["id"] == "job1"
    assert out["model"] == "dall-e-3"
    assert out["prompt"] == "a badger wearing a tuxedo"
    assert [i["blob"] for i in out["images"]] == ["2026/03/01/job1/0.png"]
    assert out["images"][0]["revised_prompt"] == "revised 0"
    assert "url" not in out["images"][0]  # SAS URLs are made on read, never kept in history
    assert "index" not in out["images"][0]
    assert run.statuses[-1]["stage"] == "completed"
    assert run.statuses[-1]["images_done"] == 1
    assert run.timers == []


def test_sync_url_model_copied_by_the_generating_activity_needs_no_persist(replay, make_job):
    run = replay(make_job(), lambda name, payload: generated(payload))

    assert run.names() == ["generate_images"]
    assert run.output["status"] == "succeeded"
    assert run.output["images"][0]["width"] == 1024


def test_base64_model_is_stored_by_the_generating_activity_and_needs_no_persist(replay, make_job):
    def respond(name, payload):
        assert name == "generate_images"
        return generated(payload)

    run = replay(make_job(*GPT, n=2), respond)

    assert run.names() == ["generate_images"]
    assert run.calls[0].input["params"]["n"] == 2  # one call for all images
    assert run.output["status"] == "succeeded"
    assert [i["bytes"] for i in run.output["images"]] == [1000, 1001]


def test_throttled_generation_waits_on_a_durable_timer_for_retry_after_then_retries(
    replay, make_job
):
    answers = iter([throttled(7.0), None])

    def respond(name, payload):
        if name == "generate_images":
            answer = next(answers)
            return answer or generated(payload)
        raise AssertionError(name)

    run = replay(make_job(*GPT), respond)

    assert run.names() == ["generate_images", "generate_images"]
    assert run.timers == [7.0]
    waiting = [s for s in run.statuses if s["stage"] == "waiting_to_retry"]
    assert waiting
    assert waiting[0]["retry_after_seconds"] == 7.0
    assert waiting[0]["last_error"] == "throttled"
    assert any(s["stage"] == "generating" and s["attempts"] == 2 for s in run.statuses)
    assert run.output["status"] == "succeeded"


def test_without_retry_after_the_wait_backs_off(replay, make_job):
    def respond(name, payload):
        return throttled(None)

    run = replay(make_job(*GPT, max_attempts=4), respond)

    assert run.timers == [2.0, 4.0, 8.0]
    assert run.output["error"]["code"] == "throttled"


def test_unguided_failures_are_bounded_by_attempts(replay, make_job):
    run = replay(make_job(*GPT, max_attempts=3), lambda name, payload: unavailable())

    assert run.names() == ["generate_images"] * 3
    assert run.output["status"] == "failed"
    assert run.output["error"]["code"] == "unavailable"
    assert "3 attempts" in run.output["error"]["message"]
    assert run.statuses[-1]["stage"] == "failed"


def test_throttling_waits_its_turn_beyond_max_attempts(replay, make_job):
    # A small quota answers 429 + Retry-After many times before a job's turn comes: that is not
    # a fault, so it does not use up the attempts meant for 5xx and dropped connections.
    answers = itertools.chain([throttled(1.0)] * 7, itertools.repeat(None))

    def respond(name, payload):
        return next(answers) or generated(payload)

    run = replay(make_job(*GPT, max_attempts=3), respond)

    assert run.names() == ["generate_images"] * 8
    assert run.timers == [1.0] * 7
    assert run.output["status"] == "succeeded"


def test_a_service_that_only_throttles_is_given_up_on(replay, make_job):
    run = replay(make_job(*GPT, max_attempts=2), lambda name, payload: throttled(1.0))

    assert run.names() == ["generate_images"] * 20
    assert run.output["error"]["code"] == "throttled"
    assert "20 attempts" in run.output["error"]["message"]


def test_job_deadline_stops_retrying(replay, make_job):
    run = replay(
        make_job(*GPT, deadline_seconds=30, max_attempts=50),
        lambda name, payload: throttled(20.0),
    )

    assert run.timers == [20.0]  # a second 20 s wait would end past the 30 s deadline
    assert run.output["status"] == "failed"
    assert run.output["error"]["code"] == "deadline_exceeded"


@pytest.mark.parametrize(
    "code", ["content_filter", "invalid_request", "auth_failed", "deployment_not_found"]
)
def test_terminal_errors_fail_at_once_with_their_code(replay, make_job, code):
    message = "Your request was rejected as a result of our safety system."

    run = replay(
        make_job(),
        lambda name, payload: failed(code, message),
    )

    assert run.names() == ["generate_images"]
    assert run.timers == []
    assert run.output["status"] == "failed"
    assert run.output["error"] == {"code": code, "message": message}
    assert run.output["images"] == []


def test_dalle3_with_n3_fans_out_three_parallel_single_image_calls(replay, make_job):
    persist_answers: dict[int, list[dict[str, Any]]] = {1: [throttled(3.0)]}

    def respond(name, payload):
        if name == "generate_images":
            return generated(payload, copy_fails=[payload["first_index"]])
        queued = persist_answers.get(payload["index"])
        if queued:
            return queued.pop(0)
        return persisted(payload)

    run = replay(make_job(n=3), respond)

    generations = [c for c in run.calls if c.name == "generate_images"]
    assert [c.input["params"]["n"] for c in generations] == [1, 1, 1]
    assert [c.input["first_index"] for c in generations] == [0, 1, 2]
    assert len({c.at for c in generations}) == 1  # scheduled together: in parallel
    persists = [c for c in run.calls if c.name == "persist_image"]
    assert sorted(c.input["index"] for c in persists[:3]) == [0, 1, 2]
    # each image is read from the receipt of its own call, and no input carries a URL
    assert all(c.input["first_index"] == c.input["index"] for c in persists)
    assert all("url" not in c.input for c in persists)
    assert "sig=" not in json.dumps(run.history)
    assert len({c.at for c in persists[:3]}) == 1
    assert [c.input["index"] for c in persists[3:]] == [1]  # only the throttled one again
    assert run.timers == [3.0]
    assert run.output["status"] == "succeeded"
    assert [i["blob"] for i in run.output["images"]] == [
        f"2026/03/01/job1/{i}.png" for i in range(3)
    ]


def test_the_persist_attempt_after_which_the_job_gives_up_is_marked_final(replay, make_job):
    # The activity drops the image's URL from the receipt on a failed final attempt: the
    # orchestrator must mark exactly the attempt whose "retry" it will not follow.
    def respond(name, payload):
        if name == "generate_images":
            return generated(payload, copy_fails=[0])
        return unavailable()

    run = replay(make_job(max_attempts=3), respond)

    persists = [c.input for c in run.calls if c.name == "persist_image"]
    assert [p.get("final") for p in persists] == [None, None, True]
    assert run.output["error"]["code"] == "unavailable"
    assert "3 attempts" in run.output["error"]["message"]


def test_a_persist_attempt_whose_retry_would_pass_the_deadline_is_marked_final(replay, make_job):
    # 2 s, 4 s, 8 s of backoff: with 10 s to the deadline, the third wait no longer fits.
    def respond(name, payload):
        if name == "generate_images":
            return generated(payload, copy_fails=[0])
        return unavailable()

    run = replay(make_job(deadline_seconds=10, max_attempts=50), respond)

    persists = [c.input for c in run.calls if c.name == "persist_image"]
    assert [p.get("final") for p in persists] == [None, None, True]
    assert run.timers == [2.0, 4.0]
    assert run.output["error"]["code"] == "deadline_exceeded"


def test_a_crashing_activity_fails_the_job_with_a_clean_error(replay, make_job):
    def respond(name, payload):
        raise RuntimeError("boom at https://x.blob.core.windows.net/c/b?sig=secret")

    run = replay(make_job(), respond)

    assert run.output["status"] == "failed"
    # the exception's class only: its text may carry a signed URL or a server path
    assert run.output["error"] == {"code": "internal_error", "message": "the job failed: Exception"}
    assert "sig=" not in json.dumps(run.output)


def dalle2_responder(statuses: list[dict[str, Any]], *, copy_fails: tuple[int, ...] = ()):
    """A DALL-E 2 service whose polls answer `statuses` in turn (dicts of `polled` keywords);
    a succeeded poll stores the images itself, except those in `copy_fails`."""
    polls = iter(statuses)

    def respond(name, payload):
        if name == "submit_operation":
            return submitted()
        if name == "poll_operation":
            answer = dict(next(polls))
            status = answer.pop("status")
            return polled(payload, status, copy_fails=copy_fails, **answer)
        if name == "persist_image":
            return persisted(payload)
        if name == "delete_operation":
            return deleted()
        raise AssertionError(name)

    return respond


DALLE2_STATUSES = [
    {"status": "notRunning"},
    {"status": "running", "retry_after": 5},
    {"status": "running"},
    {"status": "succeeded"},
]


def test_dalle2_submits_polls_on_timers_stores_then_deletes(replay, make_job):
    run = replay(make_job(*DALLE2, n=2), dalle2_responder(DALLE2_STATUSES))

    assert run.names() == ["submit_operation"] + ["poll_operation"] * 4 + ["delete_operation"]
    assert len(run.timers) == 4  # one durable timer before each poll
    assert run.timers[2] == 5.0  # the service's retry-after is honoured
    assert run.output["status"] == "succeeded"
    assert [i["blob"] for i in run.output["images"]] == [
        "2026/03/01/job1/0.png",
        "2026/03/01/job1/1.png",
    ]
    assert any(s.get("operation_status") == "running" for s in run.statuses)


def test_dalle2_images_the_poll_could_not_copy_are_persisted_before_the_delete(replay, make_job):
    respond = dalle2_responder(DALLE2_STATUSES, copy_fails=(0, 1))

    run = replay(make_job(*DALLE2, n=2), respond)

    assert run.names() == [
        "submit_operation",
        "poll_operation",
        "poll_operation",
        "poll_operation",
        "poll_operation",
        "persist_image",
        "persist_image",
        "delete_operation",
    ]
    assert len(run.timers) == 4  # one durable timer before each poll
    assert run.timers[2] == 5.0  # the service's retry-after is honoured
    persists = [c.input for c in run.calls if c.name == "persist_image"]
    # persist polls the operation again for a fresh URL: history holds no image URL
    assert [(p["index"], p["operation_url"]) for p in persists] == [(0, OPERATION), (1, OPERATION)]
    assert all("url" not in p and "first_index" not in p for p in persists)
    assert run.output["status"] == "succeeded"
    assert len(run.output["images"]) == 2
    assert any(s.get("operation_status") == "running" for s in run.statuses)


@pytest.mark.parametrize(
    ("status", "error", "job_error"),
    [
        (
            "failed",
            {"code": "content_filter", "message": "filtered"},
            {"code": "content_filter", "message": "filtered"},  # the service's own words
        ),
        ("failed", None, {"code": "operation_failed", "message": "the image operation failed"}),
        (
            "canceled",
            None,
            {
                "code": "operation_failed",
                "message": "the image operation was canceled (it timed out)",
            },
        ),
    ],
)
def test_dalle2_failed_or_canceled_operation_fails_the_job_and_is_deleted(
    replay, make_job, status, error, job_error
):
    answer: dict[str, Any] = {"status": status}
    if error:
        answer["error"] = error
    run = replay(make_job(*DALLE2), dalle2_responder([{"status": "running"}, answer]))

    assert run.names()[-1] == "delete_operation"
    assert "persist_image" not in run.names()
    assert run.output["status"] == "failed"
    assert run.output["error"] == job_error


def test_dalle2_deleted_operation_fails_without_images(replay, make_job):
    run = replay(make_job(*DALLE2), dalle2_responder([{"status": "deleted"}]))

    assert run.output["status"] == "failed"
    assert run.output["error"] == {
        "code": "operation_failed",
        "message": "the image operation is 'deleted': it was deleted before its images were stored",
    }
    assert run.output["images"] == []
    assert "delete_operation" not in run.names()  # it is gone already


def test_dalle2_poll_throttling_is_retried_then_completes(replay, make_job):
    polls = iter([throttled(4.0), None])
    base = dalle2_responder([{"status": "succeeded"}])

    def respond(name, payload):
        if name == "poll_operation":
            answer = next(polls)
            if answer is not None:
                return answer
        return base(name, payload)

    run = replay(make_job(*DALLE2), respond)

    assert run.timers[1] == 4.0
    assert run.output["status"] == "succeeded"


def test_dalle2_operation_that_never_finishes_hits_the_deadline_without_hammering(replay, make_job):
    run = replay(
        make_job(*DALLE2, deadline_seconds=60),
        dalle2_responder([{"status": "running"}] * 1000),
        activity_s=0.2,
    )

    assert run.output["status"] == "failed"
    assert run.output["error"]["code"] == "deadline_exceeded"
    polls = run.names().count("poll_operation")
    assert polls <= 60 / 2 + 2  # about one poll per 2 s of generation time
    assert "delete_operation" not in run.names()  # a running operation cannot be deleted


def dalle2_with_polls(answers: list[dict[str, Any]], copy_fails: tuple[int, ...] = (), **overrides):
    """A DALL-E 2 service whose polls first give `answers` (retry envelopes, or `polled`
    keywords), then succeed; `overrides` replace whole activities (name -> responder)."""
    queued = iter(answers)
    base = dalle2_responder([{"status": "succeeded"}], copy_fails=copy_fails)

    def respond(name, payload):
        if name in overrides:
            return overrides[name](payload)
        if name == "poll_operation":
            answer = next(queued, None)
            if answer is not None:
                if "outcome" in answer:
                    return answer
                answer = dict(answer)
                return polled(payload, answer.pop("status"), **answer)
        return base(name, payload)

    return respond


def test_dalle2_throttled_polls_wait_their_turn_beyond_max_attempts(replay, make_job):
    run = replay(make_job(*DALLE2, max_attempts=6), dalle2_with_polls([throttled(5.0)] * 8))

    assert run.names().count("poll_operation") == 9
    assert run.timers == [1.0] + [5.0] * 8  # the first poll, then the service's Retry-After
    assert any(
        s["stage"] == "polling" and s.get("retry_after_seconds") == 5.0 for s in run.statuses
    )
    assert run.output["status"] == "succeeded"
    assert run.names()[-1] == "delete_operation"


def test_dalle2_unguided_poll_failures_are_bounded_by_attempts_and_back_off(replay, make_job):
    run = replay(make_job(*DALLE2, max_attempts=4), dalle2_with_polls([unavailable()] * 1000))

    assert run.names().count("poll_operation") == 4
    assert run.timers == [1.0, 2.0, 4.0, 8.0]
    assert run.output["status"] == "failed"
    assert run.output["error"]["code"] == "unavailable"
    assert "4 attempts" in run.output["error"]["message"]
    # The operation may have ended unseen: it is not left on the service.
    assert run.names()[-1] == "delete_operation"


def test_dalle2_a_poll_answer_starts_the_failure_count_again(replay, make_job):
    answers = [unavailable(), unavailable(), {"status": "running"}, unavailable(), unavailable()]

    run = replay(make_job(*DALLE2, max_attempts=3), dalle2_with_polls(answers))

    assert run.output["status"] == "succeeded"
    assert run.names().count("poll_operation") == 6


@pytest.mark.parametrize("flavour", ["sync", "dalle2"])
def test_a_5xx_with_retry_after_counts_toward_max_attempts(replay, make_job, flavour):
    if flavour == "sync":
        run = replay(make_job(*GPT, max_attempts=3), lambda name, payload: unavailable(3.0))
        calls, waits = run.names().count("generate_images"), run.timers
    else:
        run = replay(make_job(*DALLE2, max_attempts=3), dalle2_with_polls([unavailable(3.0)] * 99))
        calls, waits = run.names().count("poll_operation"), run.timers[1:]

    assert calls == 3  # not the 30 a 429 with the same Retry-After would get
    assert waits == [3.0, 3.0]  # its hint is still honoured for the wait
    assert run.output["status"] == "failed"
    assert run.output["error"]["code"] == "unavailable"
    assert "3 attempts" in run.output["error"]["message"]


def test_dalle2_deadline_while_polls_are_throttled_fails_and_deletes_the_operation(
    replay, make_job
):
    answers = [{"status": "running"}] + [throttled(100.0)] * 1000

    run = replay(make_job(*DALLE2, deadline_seconds=300), dalle2_with_polls(answers))

    assert run.timers[-2:] == [100.0, 100.0]  # a third wait would end past the deadline
    assert (run.finished_at - run.calls[0].at).total_seconds() < 300
    assert run.output["status"] == "failed"
    assert run.output["error"]["code"] == "deadline_exceeded"
    assert run.names()[-1] == "delete_operation"
    assert run.calls[-1].input["operation_url"] == OPERATION


def test_dalle2_images_that_cannot_be_stored_fail_the_job_and_delete_the_operation(
    replay, make_job
):
    refused = failed("image_download_failed", "gone")

    run = replay(
        make_job(*DALLE2, n=2),
        dalle2_with_polls([], copy_fails=(0, 1), persist_image=lambda payload: refused),
    )

    assert run.output["status"] == "failed"
    assert run.output["error"] == {"code": "image_download_failed", "message": "gone"}
    assert run.names()[-1] == "delete_operation"


def test_dalle2_a_failing_delete_does_not_replace_the_jobs_error(replay, make_job):
    def crash(payload):
        raise RuntimeError("delete crashed")

    run = replay(
        make_job(*DALLE2, max_attempts=2),
        dalle2_with_polls([unavailable()] * 99, delete_operation=crash),
    )

    assert run.names()[-1] == "delete_operation"
    assert run.output["error"]["code"] == "unavailable"


def operation_done_at(done_s: float, expected_s: float | None, *, submit_knows: bool = True):
    """A DALL-E 2 service whose operation succeeds `done_s` after the submit (in the
    orchestrator's time, which the poll reports as `elapsed_s`), and whose activities have
    learnt `expected_s` for the deployment (the submit only if `submit_knows`)."""
    base = dalle2_responder([])

    def respond(name, payload):
        if name == "submit_operation":
            return submitted(expected_s if submit_knows else None)
        if name == "poll_operation":
            status = "running" if payload["elapsed_s"] < done_s else "succeeded"
            return polled(payload, status, expected_s=expected_s)
        return base(name, payload)

    return respond


def poll_inputs(run) -> list[dict[str, Any]]:
    return [c.input for c in run.calls if c.name == "poll_operation"]


def test_dalle2_each_poll_carries_the_bounds_the_activity_learns_from(replay, make_job):
    run = replay(make_job(*DALLE2), operation_done_at(6.0, None), activity_s=0.25)

    polls = poll_inputs(run)
    assert len(polls) >= 3
    assert run.calls[0].name == "submit_operation"
    started = run.calls[0].at + timedelta(seconds=0.25)  # when the submit's answer came back
    for poll, call in zip(polls, [c for c in run.calls if c.name == "poll_operation"], strict=True):
        assert poll["elapsed_s"] == (call.at - started).total_seconds()  # from history
    # The lower bound is the last poll that saw the operation still running...
    assert polls[0]["running_until_s"] == 0
    for before, after in itertools.pairwise(polls):
        assert after["running_until_s"] == before["elapsed_s"]
    # ...and the upper bound the poll that saw it succeed: the two straddle the real duration.
    assert polls[-1]["running_until_s"] < 6.0 <= polls[-1]["elapsed_s"]
    assert run.output["status"] == "succeeded"


@pytest.mark.parametrize("duration", [3.0, 10.0, 30.0])
def test_dalle2_a_learnt_duration_puts_a_poll_just_after_it(replay, make_job, duration):
    run = replay(make_job(*DALLE2), operation_done_at(duration, duration), activity_s=0.2)

    polls = poll_inputs(run)
    seen = polls[-1]["elapsed_s"]
    assert duration <= seen <= duration + 0.5  # success is seen within half a second
    assert len(polls) <= duration / 2 + 1.5  # about one poll per 2 s of generation time
    assert run.output["status"] == "succeeded"


def test_dalle2_an_estimate_from_history_is_kept_when_a_worker_has_none(replay, make_job):
    submit_knows = replay(make_job(*DALLE2), operation_done_at(10.0, 10.0), activity_s=0.2)

    def polls_know_nothing(name, payload):
        answer = operation_done_at(10.0, 10.0)(name, payload)
        if name == "poll_operation":
            answer["value"].pop("expected_s")
        return answer

    later_workers_cold = replay(make_job(*DALLE2), polls_know_nothing, activity_s=0.2)

    assert poll_inputs(later_workers_cold) == poll_inputs(submit_knows)


def test_dalle2_the_first_poll_answer_paces_the_rest_when_the_submit_knew_nothing(replay, make_job):
    run = replay(
        make_job(*DALLE2), operation_done_at(10.0, 10.0, submit_knows=False), activity_s=0.2
    )

    polls = poll_inputs(run)
    assert polls[0]["elapsed_s"] == 1.0  # cold: the first poll after a second
    assert 10.0 <= polls[-1]["elapsed_s"] <= 11.0
    assert run.output["status"] == "succeeded"


@pytest.mark.parametrize(("duration", "learnt"), [(10.0, 4.0), (10.0, 25.0), (30.0, 90.0)])
def test_dalle2_a_wrong_learnt_duration_costs_at_most_one_long_run_interval(
    replay, make_job, duration, learnt
):
    run = replay(make_job(*DALLE2), operation_done_at(duration, learnt), activity_s=0.2)

    polls = poll_inputs(run)
    assert duration <= polls[-1]["elapsed_s"] <= duration + 2.0
    for number, poll in enumerate(polls, start=1):
        assert number <= poll["elapsed_s"] / 2 + 1.5  # never beyond the poll allowance
    assert run.output["status"] == "succeeded"


@pytest.mark.parametrize("fails", [False, True])
def test_the_result_is_sent_to_the_callback_when_the_job_ends(replay, make_job, fails):
    job = make_job(*GPT).model_copy(update={"callback_url": "https://hooks.example/cb?sig=abc"})

    def respond(name, payload):
        if name == "generate_images":
            if fails:
                return failed("content_filter", "filtered")
            return generated(payload)
        assert name == "notify_callback"
        assert payload["url"] == "https://hooks.example/cb?sig=abc"
        assert payload["result"]["status"] == ("failed" if fails else "succeeded")
        return delivered()

    run = replay(job, respond)

    assert run.names()[-1] == "notify_callback"
    assert any(s["stage"] == "notifying" for s in run.statuses)
    assert run.statuses[-1]["stage"] == ("failed" if fails else "completed")
    assert run.output["notification"]["status"] == "delivered"
    assert "sig=abc" not in json.dumps(run.output)  # the signed callback URL is not kept


def test_without_a_callback_nothing_is_notified(replay, make_job):
    run = replay(make_job(*GPT), lambda name, payload: generated(payload))

    assert run.names() == ["generate_images"]
    assert "notification" not in run.output


# ---- what the job's status shows while it runs (customStatus) ---------------------------------


def test_the_status_shows_each_stage_its_attempts_and_the_wait(replay, make_job):
    answers = iter([throttled(7.0), None])

    def respond(name, payload):
        if name == "generate_images":
            return next(answers) or generated(payload, copy_fails=[0])
        return persisted(payload)

    run = replay(make_job(), respond)

    job = {"images_done": 0, "images_total": 1}
    assert run.statuses == [
        {"stage": "generating", **job, "attempts": 1},
        {
            "stage": "waiting_to_retry",
            **job,
            "attempts": 1,
            "retry_after_seconds": 7.0,
            "last_error": "throttled",
        },
        # the wait is over: no retry_after_seconds; the error that caused it is still shown
        {"stage": "generating", **job, "attempts": 2, "last_error": "throttled"},
        {"stage": "storing", **job, "attempts": 1, "last_error": "throttled"},
        {"stage": "completed", "images_done": 1, "images_total": 1, "attempts": 1},
    ]


def test_dalle2_status_shows_the_operation_while_polling_then_the_clean_up(replay, make_job):
    polls = iter([{"status": "running"}, throttled(5.0), {"status": "succeeded"}])

    def respond(name, payload):
        if name == "submit_operation":
            return submitted()
        if name == "poll_operation":
            answer = next(polls)
            return answer if "outcome" in answer else polled(payload, answer["status"])
        assert name == "delete_operation"
        return deleted()

    run = replay(make_job(*DALLE2), respond)

    job = {"images_done": 0, "images_total": 1}
    polling = {"stage": "polling", **job, "attempts": 1}
    assert run.statuses == [
        {"stage": "generating", **job, "attempts": 1},  # the submit
        {**polling, "operation_status": "notRunning"},  # waiting for the first poll
        {**polling, "operation_status": "notRunning"},  # the first poll
        {**polling, "operation_status": "running"},  # waiting for the second
        {**polling, "operation_status": "running"},  # the second poll: throttled
        {
            **polling,
            "retry_after_seconds": 5.0,
            "operation_status": "running",
            "last_error": "throttled",
        },
        {**polling, "attempts": 2, "operation_status": "running", "last_error": "throttled"},
        # an answer clears the error; the operation is deleted once its images are stored
        {
            "stage": "cleaning_up",
            "images_done": 1,
            "images_total": 1,
            "attempts": 2,
            "operation_status": "succeeded",
        },
        {
            "stage": "completed",
            "images_done": 1,
            "images_total": 1,
            "attempts": 2,
            "operation_status": "succeeded",
        },
    ]
    assert run.timers == [1.0, 3.0, 5.0]
    assert run.output["status"] == "succeeded"


def test_a_failed_job_shows_its_error_code_while_notifying_and_at_the_end(replay, make_job):
    job = make_job(*GPT).model_copy(update={"callback_url": "https://hooks.example/cb"})

    def respond(name, payload):
        if name == "generate_images":
            return failed("content_filter", "filtered")
        return delivered()

    run = replay(job, respond)

    end = {"images_done": 0, "images_total": 1, "attempts": 1, "last_error": "content_filter"}
    assert run.statuses[-2:] == [{"stage": "notifying", **end}, {"stage": "failed", **end}]


def test_a_job_that_succeeds_after_a_retry_ends_without_the_old_error(replay, make_job):
    job = make_job(*GPT).model_copy(update={"callback_url": "https://hooks.example/cb"})
    answers = iter([unavailable(), None])

    def respond(name, payload):
        if name == "generate_images":
            return next(answers) or generated(payload)
        return delivered()

    run = replay(job, respond)

    end = {"images_done": 1, "images_total": 1, "attempts": 2}
    assert run.statuses[-2:] == [{"stage": "notifying", **end}, {"stage": "completed", **end}]


# ---- notifications ------------------------------------------------------------------------------


def test_the_callback_gets_the_jobs_output_as_it_is_kept(replay, make_job):
    job = make_job(*GPT).model_copy(update={"callback_url": "https://hooks.example/cb"})
    sent = []

    def respond(name, payload):
        if name == "generate_images":
            return generated(payload)
        sent.append(payload["result"])
        return delivered()

    run = replay(job, respond)

    kept = {k: v for k, v in run.output.items() if k != "notification"}
    assert sent == [kept]
    assert "error" not in sent[0]  # no nulls: a succeeded job has no error at all


def test_the_result_is_put_on_the_results_queue_when_the_job_ends(replay, make_job):
    job = make_job(*GPT).model_copy(update={"results_queue": "image-results"})

    def respond(name, payload):
        if name == "generate_images":
            return generated(payload)
        assert name == "notify_results_queue"
        assert payload["queue"] == "image-results"
        assert payload["result"]["status"] == "succeeded"
        return contracts.dump(contracts.Delivery(delivered=True, message_id="m1"))

    run = replay(job, respond)

    assert run.names() == ["generate_images", "notify_results_queue"]
    assert run.output["notification"] == {
        "status": "delivered",
        "callback": None,
        "results_queue": {"status": "published", "attempts": 1, "queue": "image-results"},
    }


# ---- what the service returns ------------------------------------------------------------------


def test_dalle3_with_two_images_makes_two_single_image_calls(replay, make_job):
    run = replay(make_job(n=2), lambda name, payload: generated(payload))

    assert run.names() == ["generate_images", "generate_images"]
    inputs = [(call.input["params"]["n"], call.input["first_index"]) for call in run.calls]
    assert inputs == [(1, 0), (1, 1)]
    assert len(run.output["images"]) == 2


def test_a_service_that_returns_fewer_images_than_asked_fails_the_job(replay, make_job):
    def respond(name, payload):
        job = contracts.GenerateInput.model_validate(payload)
        return contracts.ok(contracts.Generated(images=[stored_image(job, 0)]))

    run = replay(make_job(*GPT, n=2), respond)

    assert run.output["status"] == "failed"
    assert run.output["error"] == {
        "code": "operation_failed",
        "message": "the service returned fewer images than asked",
    }
    assert [i["blob"] for i in run.output["images"]] == ["2026/03/01/job1/0.png"]


def test_a_service_that_returns_more_images_than_asked_does_not_grow_the_job(replay, make_job):
    def respond(name, payload):
        job = contracts.GenerateInput.model_validate(payload)
        # one image more than asked, stored, and another one more left at the service's URL
        images = [stored_image(job, 0), stored_image(job, 1)]
        sources = [contracts.ImageSource(index=1)]
        return contracts.ok(contracts.Generated(images=images, sources=sources))

    run = replay(make_job(*GPT, n=1), respond)

    assert run.names() == ["generate_images"]  # the extra one is not copied either
    assert run.output["status"] == "succeeded"
    assert [i["blob"] for i in run.output["images"]] == ["2026/03/01/job1/0.png"]


def test_the_error_of_a_fan_out_names_the_image_that_failed_most(replay, make_job):
    def respond(name, payload):
        if payload["first_index"] == 0:
            return contracts.dump(contracts.Retry(code="unavailable", message="503 for image 0"))
        return throttled(1.0)

    run = replay(make_job(n=2, max_attempts=2), respond)

    assert run.names() == ["generate_images"] * 4
    assert run.output["error"] == {
        "code": "unavailable",
        "message": "gave up after 2 attempts: 503 for image 0",
    }


def test_dalle2_operation_that_succeeds_without_images_fails_the_job(replay, make_job):
    empty = contracts.ok(contracts.Polled(status="succeeded"))

    run = replay(make_job(*DALLE2), dalle2_with_polls([], poll_operation=lambda payload: empty))

    assert run.output["error"] == {
        "code": "operation_failed",
        "message": "the operation succeeded without images",
    }
    assert run.names()[-1] == "delete_operation"


def test_dalle2_a_deadline_too_close_for_the_first_poll_fails_without_polling(replay, make_job):
    # The submit answers 1 s into a 2 s deadline and the first poll is due 1 s later: a poll at
    # the deadline itself is not made. The operation was just queued, so no delete is tried.
    run = replay(make_job(*DALLE2, deadline_seconds=2), dalle2_responder([]), activity_s=1.0)

    assert run.names() == ["submit_operation"]
    assert run.timers == []
    assert run.output["error"] == {
        "code": "deadline_exceeded",
        "message": "the image operation did not finish within the job's deadline (2 s)",
    }


# ---- the job's clock is UTC --------------------------------------------------------------------


@pytest.fixture
def local_zone_not_utc(monkeypatch):
    """A worker whose local time zone is UTC+5:30 (TZ / WEBSITE_TIME_ZONE on a host)."""
    monkeypatch.setenv("TZ", "IST-5:30")
    time.tzset()
    assert time.timezone == -19800
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(
    "created",
    [
        "2026-03-01T12:00:00+00:00",
        "2026-03-01T13:00:00+01:00",  # the same instant, written with another offset
        "2026-03-01T12:00:00",  # no offset: UTC, never the worker's local time
    ],
)
def test_the_deadline_counts_from_when_the_job_was_accepted(
    replay, make_job, local_zone_not_utc, created
):
    job = make_job(*GPT, deadline_seconds=30, max_attempts=50).model_copy(
        update={"created": created}
    )

    run = replay(job, lambda name, payload: throttled(20.0))

    assert run.timers == [20.0]  # a second 20 s wait would end past the 30 s deadline
    assert run.output["error"]["code"] == "deadline_exceeded"
    assert run.output["completed"] == run.finished_at.isoformat()  # in UTC
    assert run.output["completed"].endswith("+00:00")


# ---- Black Forest Labs' own API (flavour bfl): the DALL-E 2 path, without a delete ----------


def bfl_job(make_job, **kwargs: Any):
    """A one-image FLUX.2-pro job on BFL's own API (engine.make_job knows the Azure models)."""
    from shared.imaging.types import Deployment, GenerationParams

    job = make_job(*DALLE2, **kwargs)
    deployment = Deployment(
        name="bfl-FLUX.2-pro",
        deployment="FLUX.2-pro",
        family=Family.FLUX_2_PRO,
        flavour=Flavour.BFL,
        endpoint="https://api.bfl.ai",
    )
    params = GenerationParams(prompt=job.params.prompt, size="1024x768", output_format="png")
    update = {"model": deployment.name, "deployment": deployment, "params": params}
    return job.model_copy(update=update)


def test_bfl_job_submits_polls_on_timers_and_stores_from_the_ready_poll_without_a_delete(
    replay, make_job
):
    statuses = [{"status": "running"}, {"status": "running"}, {"status": "succeeded"}]
    run = replay(bfl_job(make_job), dalle2_responder(statuses))

    assert run.names() == ["submit_operation"] + ["poll_operation"] * 3  # BFL has no delete
    assert len(run.timers) == 3  # one durable timer before each poll
    polls = [c.input for c in run.calls if c.name == "poll_operation"]
    assert {p["operation_url"] for p in polls} == {OPERATION}  # the polling_url, as submitted
    assert run.output["status"] == "succeeded"
    assert [i["blob"] for i in run.output["images"]] == ["2026/03/01/job1/0.png"]
    assert run.statuses[-1]["stage"] == "completed"  # no "cleaning_up" stage either
    assert all(s.get("stage") != "cleaning_up" for s in run.statuses)


def test_bfl_sample_the_ready_poll_could_not_copy_is_persisted_from_a_new_poll(replay, make_job):
    statuses = [{"status": "running"}, {"status": "succeeded"}]
    run = replay(bfl_job(make_job), dalle2_responder(statuses, copy_fails=(0,)))

    assert run.names() == ["submit_operation", "poll_operation", "poll_operation", "persist_image"]
    [persist] = [c.input for c in run.calls if c.name == "persist_image"]
    assert (persist["index"], persist["operation_url"]) == (0, OPERATION)
    assert "url" not in persist  # the signed sample URL never enters history
    assert run.output["status"] == "succeeded"


@pytest.mark.parametrize(
    "answer",
    [
        {
            "status": "failed",
            "error": {
                "code": "content_filter",
                "message": "Black Forest Labs moderated the request: Derivative Works Filter",
            },
        },
        {"status": "deleted"},
    ],
)
def test_a_moderated_or_forgotten_bfl_task_fails_the_job_without_a_delete(replay, make_job, answer):
    run = replay(bfl_job(make_job), dalle2_responder([{"status": "running"}, answer]))

    assert run.output["status"] == "failed"
    expected = "content_filter" if answer["status"] == "failed" else "operation_failed"
    assert run.output["error"]["code"] == expected
    if answer["status"] == "failed":
        assert "moderated the request" in run.output["error"]["message"]
    assert "delete_operation" not in run.names()
    assert "persist_image" not in run.names()


def test_an_expired_bfl_sample_fails_the_job_at_once_with_image_download_failed(replay, make_job):
    message = (
        "Black Forest Labs' sample of image 0 expired before it could be copied (HTTP 403; BFL "
        "samples expire 10 minutes after they are ready); it was not generated again."
    )
    polls = iter([None, failed("image_download_failed", message)])  # None: still running

    def respond(name, payload):
        if name == "submit_operation":
            return submitted()
        answer = next(polls)
        return answer if answer is not None else polled(payload, "running")

    run = replay(bfl_job(make_job), respond)

    assert run.names() == ["submit_operation", "poll_operation", "poll_operation"]  # no retry
    assert run.output["status"] == "failed"
    assert run.output["error"] == {"code": "image_download_failed", "message": message}
