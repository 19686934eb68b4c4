"""Black Forest Labs' own API: the request it is sent and every reply it can give, mapped to the
states and errors the orchestrator acts on. Pure functions: no server, no transport."""

from __future__ import annotations

import json

import pytest

from shared.imaging.bfl_api import (
    classify_bfl_response,
    model_path,
    operation_state,
    request_body_for,
    trusted_polling_url,
)
from shared.imaging.types import (
    Deployment,
    ErrorCode,
    Family,
    Flavour,
    GenerationParams,
    ImageApiError,
    OperationStatus,
)

ENDPOINT = "https://api.bfl.ai"
SAMPLE = "https://delivery-eu1.bfl.ai/results/ab/cd/sample.png?se=2026-03-01T10%3A10%3A00Z&sig=x"


def deployment(family: Family, written: str) -> Deployment:
    return Deployment(
        name=f"bfl-{family.value}", deployment=written, family=family, flavour=Flavour.BFL,
        endpoint=ENDPOINT,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("family", "path"),
    [
        (Family.FLUX_2_PRO, "flux-2-pro"),
        (Family.FLUX_2_FLEX, "flux-2-flex"),
        (Family.FLUX_1_KONTEXT_PRO, "flux-kontext-pro"),
        (Family.FLUX_1_1_PRO, "flux-pro-1.1"),
    ],
)
def test_the_family_name_submits_to_bfls_own_path_for_it(family, path):
    assert model_path(deployment(family, family.value)) == path


def test_a_path_the_operator_wrote_is_used_as_written():
    assert model_path(deployment(Family.FLUX_2_PRO, "flux-2-max")) == "flux-2-max"


def test_the_body_carries_size_as_width_and_height_and_only_the_options_set():
    full = GenerationParams(prompt="a badger", size="1440x816", output_format="png")
    assert request_body_for(full) == {
        "prompt": "a badger",
        "width": 1440,
        "height": 816,
        "output_format": "png",
    }
    assert request_body_for(GenerationParams(prompt="a badger")) == {"prompt": "a badger"}


@pytest.mark.parametrize("status", ["Pending", "Reasoning", "Generating"])
def test_pending_and_the_newer_in_progress_states_are_running(status):
    state = operation_state({"id": "t1", "status": status, "result": None, "progress": 0.4})
    assert state.status is OperationStatus.RUNNING
    assert state.images == []
    assert state.retry_after_s is None  # BFL gives no pacing hint: the orchestrator's schedule


def test_ready_is_one_image_whose_url_is_the_sample():
    state = operation_state({"id": "t1", "status": "Ready", "result": {"sample": SAMPLE}})
    assert state.status is OperationStatus.SUCCEEDED
    assert [image.url for image in state.images] == [SAMPLE]


def test_ready_without_a_sample_is_an_unusable_reply_to_poll_again():
    with pytest.raises(ImageApiError) as info:
        operation_state({"id": "t1", "status": "Ready", "result": {}})
    assert info.value.code is ErrorCode.UNAVAILABLE


@pytest.mark.parametrize(
    ("status", "words"),
    [
        ("Request Moderated", "Black Forest Labs moderated the request: Moderation Reasons: x"),
        ("Content Moderated", "Black Forest Labs moderated the generated image: Moderation"),
    ],
)
def test_moderation_is_a_content_filter_failure_saying_which(status, words):
    payload = {"status": status, "result": None, "details": {"Moderation Reasons": ["x"]}}
    state = operation_state(payload)
    assert state.status is OperationStatus.FAILED
    assert state.error is not None
    assert state.error.code is ErrorCode.CONTENT_FILTER
    assert state.error.message.startswith(words)


def test_task_not_found_is_deleted_and_error_is_a_failed_operation():
    assert operation_state({"status": "Task not found"}).status is OperationStatus.DELETED
    failed = operation_state({"status": "Error", "details": "GPU fell over"})
    assert failed.status is OperationStatus.FAILED
    assert failed.error is not None
    assert failed.error.code is ErrorCode.OPERATION_FAILED
    assert "GPU fell over" in failed.error.message


def test_an_unknown_status_is_an_unusable_reply():
    with pytest.raises(ImageApiError) as info:
        operation_state({"status": "Dreaming"})
    assert info.value.code is ErrorCode.UNAVAILABLE


def err(status: int, body: object = None, headers: dict[str, str] | None = None) -> ImageApiError:
    raw = b"" if body is None else json.dumps(body).encode()
    return classify_bfl_response(status, headers or {}, raw)


def test_http_errors_map_to_what_the_orchestrator_does_next():
    assert err(401, {"detail": "Not authenticated"}).code is ErrorCode.AUTH_FAILED
    assert err(403).code is ErrorCode.AUTH_FAILED
    assert err(503).code is ErrorCode.UNAVAILABLE
    assert err(500).retryable
    assert err(400, {"detail": "bad"}).code is ErrorCode.INVALID_REQUEST
    assert err(404).code is ErrorCode.DEPLOYMENT_NOT_FOUND


def test_no_credits_ends_the_job_and_says_so():
    e = err(402, {"detail": "Insufficient credits"})
    assert not e.retryable
    assert "no credits" in e.message
    assert "Insufficient credits" in e.message


def test_422_names_the_first_invalid_field():
    body = {
        "detail": [
            {"loc": ["body", "width"], "msg": "Input should be a multiple of 16", "type": "x"},
            {"loc": ["body", "height"], "msg": "second", "type": "x"},
        ]
    }
    e = err(422, body)
    assert e.code is ErrorCode.INVALID_REQUEST
    assert "body.width: Input should be a multiple of 16" in e.message
    assert "second" not in e.message


def test_429_over_the_active_task_limit_has_no_hint_so_the_orchestrator_backs_off():
    e = err(429, {"detail": "You have exceeded the number of active tasks (24)"})
    assert e.code is ErrorCode.THROTTLED
    assert e.retry_after_s is None
    assert err(429, headers={"retry-after": "3"}).retry_after_s == 3.0


@pytest.mark.parametrize(
    "url",
    [
        "https://api.bfl.ai/v1/get_result?id=t1",
        "https://api.eu2.bfl.ai/v1/get_result?id=t1",  # another region of the same service
        "/v1/get_result?id=t1",
    ],
)
def test_polling_urls_on_the_endpoint_or_bfl_are_trusted(url):
    assert trusted_polling_url(url, ENDPOINT).endswith("/v1/get_result?id=t1")


def test_a_polling_url_on_the_emulator_endpoint_is_trusted_over_http():
    local = "http://127.0.0.1:7072"
    assert trusted_polling_url(f"{local}/v1/get_result?id=t1", local).startswith(local)


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/v1/get_result?id=t1",
        "https://api.bfl.ai.evil.example/v1/get_result?id=t1",
        "https://evilbfl.ai/v1/get_result?id=t1",
        "http://api.eu2.bfl.ai/v1/get_result?id=t1",  # the key never goes out in clear
        "https://user@api.eu2.bfl.ai/v1/get_result?id=t1",
        "https://api.bfl.ai:8443/v1/get_result?id=t1",
    ],
)
def test_a_foreign_polling_url_never_receives_the_key(url):
    with pytest.raises(ImageApiError) as info:
        trusted_polling_url(url, ENDPOINT)
    assert info.value.code is ErrorCode.INVALID_REQUEST
    assert "evil" not in info.value.message
