"""Every documented error shape maps to the ErrorCode that decides retry vs. fail-now."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from shared.imaging.errors import (
    MAX_MESSAGE_CHARS,
    classify_operation_failure,
    classify_response,
    classify_stream_error,
    classify_transport_error,
    invalid_body_error,
    is_content_filter,
    retry_after_seconds,
    safe_message,
)
from shared.imaging.types import ErrorCode


def body(obj: object) -> bytes:
    return json.dumps(obj).encode()


RAI_SHAPE = {
    "error": {
        "code": "content_policy_violation",
        "inner_error": {
            "code": "ResponsibleAIPolicyViolation",
            "content_filter_results": {"violence": {"filtered": True, "severity": "high"}},
            "revised_prompt": "x",
        },
        "message": "Your request was rejected as a result of our safety system.",
        "type": "invalid_request_error",
    }
}
DOCS_SHAPE = {
    "error": {
        "code": "contentFilter",
        "message": "Your task failed as a result of our safety system.",
    }
}
INNER_ONLY = {
    "error": {
        "code": "BadRequest",
        "message": "no",
        "innererror": {"code": "ResponsibleAIPolicyViolation"},
    }
}


# OpenAI's gpt-image safety refusal (a 400 on the HTTP path).
MODERATION_SHAPE = {
    "error": {
        "code": "moderation_blocked",
        "message": "Your request was rejected by the safety system.",
        "param": None,
        "type": "image_generation_user_error",
    }
}


@pytest.mark.parametrize("shape", [RAI_SHAPE, DOCS_SHAPE, INNER_ONLY, MODERATION_SHAPE])
def test_content_filter_in_every_documented_shape_is_terminal(shape):
    err = classify_response(400, {}, body(shape))
    assert err.code is ErrorCode.CONTENT_FILTER
    assert not err.retryable
    assert err.status == 400
    assert "safety system" in err.message or err.message == "no"


def test_other_400_keeps_the_service_message():
    err = classify_response(
        400,
        {},
        body(
            {
                "error": {
                    "code": "invalidPayload",
                    "message": "Invalid payload: Value for property quality is invalid.",
                }
            }
        ),
    )
    assert err.code is ErrorCode.INVALID_REQUEST
    assert err.message == "Invalid payload: Value for property quality is invalid."


def test_a_bare_error_object_without_envelope_is_read_too():
    err = classify_response(400, {}, body({"code": "contentFilter", "message": "filtered"}))
    assert err.code is ErrorCode.CONTENT_FILTER


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failures_are_terminal(status):
    err = classify_response(
        status,
        {},
        body(
            {
                "error": {
                    "code": "401",
                    "message": "Access denied due to invalid "
                    "subscription key or wrong API endpoint.",
                }
            }
        ),
    )
    assert err.code is ErrorCode.AUTH_FAILED
    assert not err.retryable
    assert "Access denied" in err.message


def test_unknown_deployment():
    err = classify_response(
        404,
        {},
        body(
            {
                "error": {
                    "code": "DeploymentNotFound",
                    "message": "The API deployment for this resource does not exist.",
                }
            }
        ),
    )
    assert err.code is ErrorCode.DEPLOYMENT_NOT_FOUND
    assert "does not exist" in err.message


def test_a_vanished_operation_is_an_operation_failure_not_a_missing_deployment():
    err = classify_response(
        404, {}, body({"error": {"code": "NotFound", "message": "gone"}}), operation=True
    )
    assert err.code is ErrorCode.OPERATION_FAILED


def test_throttled_prefers_retry_after_ms():
    err = classify_response(
        429,
        {"Retry-After-Ms": "1500", "Retry-After": "9"},
        body({"error": {"code": "429", "message": "Please retry after 30 seconds."}}),
    )
    assert err.code is ErrorCode.THROTTLED
    assert err.retryable
    assert err.retry_after_s == 1.5


def test_throttled_reads_retry_after_seconds_header_case_insensitively():
    err = classify_response(429, {"RETRY-AFTER": "7"}, b"")
    assert err.code is ErrorCode.THROTTLED
    assert err.retry_after_s == 7.0


def test_retry_after_as_http_date():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=42), usegmt=True)
    assert retry_after_seconds({"retry-after": header}, now=now) == 42.0
    past = format_datetime(now - timedelta(seconds=42), usegmt=True)
    assert retry_after_seconds({"retry-after": past}, now=now) == 0.0


def test_retry_after_from_the_message_when_no_header():
    err = classify_response(
        429,
        {},
        body(
            {
                "error": {
                    "code": "429",
                    "message": "Requests to the Images_Generation "
                    "Operation have exceeded rate limit. Please retry after 12 "
                    "seconds.",
                }
            }
        ),
    )
    assert err.retry_after_s == 12.0


def test_throttled_without_any_hint_leaves_pacing_to_the_caller():
    assert classify_response(429, {}, b"").retry_after_s is None


@pytest.mark.parametrize("status", [408, 409, 500, 502, 503, 504])
def test_transient_statuses_are_retryable(status):
    err = classify_response(status, {}, b"<html>Bad gateway</html>")
    assert err.code is ErrorCode.UNAVAILABLE
    assert err.retryable
    assert str(status) in err.message


def test_unexpected_4xx_is_an_invalid_request():
    assert classify_response(422, {}, b"").code is ErrorCode.INVALID_REQUEST


def test_operation_failed_with_content_filter():
    err = classify_operation_failure(
        "failed",
        {
            "code": "contentFilter",
            "message": "Generated image was filtered as a result of our safety system.",
        },
    )
    assert err.code is ErrorCode.CONTENT_FILTER
    assert "filtered" in err.message


def test_operation_canceled_is_an_operation_failure():
    err = classify_operation_failure("canceled", None)
    assert err.code is ErrorCode.OPERATION_FAILED
    assert "canceled" in err.message
    assert not err.retryable


def test_operation_failed_for_another_reason():
    err = classify_operation_failure("failed", {"code": "InternalError", "message": "boom"})
    assert err.code is ErrorCode.OPERATION_FAILED
    assert err.message == "boom"


def test_messages_never_carry_signed_urls_or_keys():
    raw = (
        "Cannot fetch https://dalleprodsec.blob.core.windows.net/private/images/a/b.png"
        "?se=2026-01-01&sig=c2VjcmV0c2lnbmF0dXJl%3D with api-key=0123456789abcdef0123456789abcdef "
        "and Authorization: Bearer eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl"
    )
    msg = safe_message(raw)
    assert "sig=" not in msg
    assert "c2VjcmV0c2lnbmF0dXJl" not in msg
    assert "0123456789abcdef0123456789abcdef" not in msg
    assert "eyJhbGciOi" not in msg
    assert "dalleprodsec.blob.core.windows.net" in msg  # the host still helps a human


def test_a_service_message_with_a_signed_url_is_scrubbed_in_the_error():
    err = classify_response(
        400, {}, body({"error": {"code": "bad", "message": "see https://h.example/x?sig=SECRET"}})
    )
    assert "SECRET" not in err.message
    assert "SECRET" not in str(err)


# ------------------------------------------------------------------ what the user reads


@pytest.mark.parametrize(
    ("status", "headers", "code", "message"),
    [
        (
            400,
            {"x-ms-error-code": "ContentFilter"},
            ErrorCode.CONTENT_FILTER,
            "The request was rejected by the content safety system.",
        ),
        (429, {}, ErrorCode.THROTTLED, "The image service is throttling requests."),
        (401, {}, ErrorCode.AUTH_FAILED, "The image service refused the credentials."),
        (
            404,
            {},
            ErrorCode.DEPLOYMENT_NOT_FOUND,
            "The deployment (or API route) does not exist on this endpoint.",
        ),
        (500, {}, ErrorCode.UNAVAILABLE, "The image service is unavailable (HTTP 500)."),
        (408, {}, ErrorCode.UNAVAILABLE, "The image service is unavailable (HTTP 408)."),
        (400, {}, ErrorCode.INVALID_REQUEST, "The image service rejected the request (400)."),
        (422, {}, ErrorCode.INVALID_REQUEST, "The image service rejected the request (422)."),
        (
            302,
            {},
            ErrorCode.UNAVAILABLE,
            "Unexpected reply from the image service (HTTP 302).",
        ),
    ],
)
def test_a_reply_without_a_message_still_tells_the_user_what_happened(
    status, headers, code, message
):
    err = classify_response(status, headers, b"<html>proxy page</html>")
    assert (err.code, err.message, err.status) == (code, message, status)


def test_content_filter_named_only_in_the_error_code_header_is_terminal():
    assert is_content_filter({}, {"X-MS-Error-Code": "contentFilter"})
    err = classify_response(400, {"X-MS-Error-Code": "contentFilter"}, body({"message": "no"}))
    assert err.code is ErrorCode.CONTENT_FILTER
    assert not err.retryable


def test_content_filter_named_only_in_inner_error_is_terminal():
    shape = {
        "error": {"code": "BadRequest", "inner_error": {"code": "ResponsibleAIPolicyViolation"}}
    }
    assert classify_response(400, {}, body(shape)).code is ErrorCode.CONTENT_FILTER


def test_a_server_error_is_retried_even_if_it_mentions_the_content_filter():
    err = classify_response(500, {}, body({"error": {"code": "contentFilter", "message": "x"}}))
    assert err.code is ErrorCode.UNAVAILABLE
    assert err.retryable


@pytest.mark.parametrize(
    ("payload", "code", "message"),
    [
        ({"code": "contentFilter"}, ErrorCode.CONTENT_FILTER, None),
        ({"message": "Quota exceeded."}, ErrorCode.INVALID_REQUEST, "Quota exceeded."),
        ({"detail": "Quota exceeded."}, ErrorCode.INVALID_REQUEST, None),
    ],
    ids=["code-only", "message-only", "neither"],
)
def test_a_bare_error_object_is_read_with_either_field(payload, code, message):
    err = classify_response(400, {}, body(payload))
    assert err.code is code
    if message is not None:
        assert err.message == message
    elif code is ErrorCode.INVALID_REQUEST:
        assert err.message == "The image service rejected the request (400)."


def test_a_404_of_a_plain_request_is_a_missing_deployment():
    err = classify_response(404, {}, body({"error": {"code": "NotFound", "message": "gone"}}))
    assert err.code is ErrorCode.DEPLOYMENT_NOT_FOUND


def test_an_operation_url_404_naming_the_deployment_is_a_missing_deployment():
    err = classify_response(
        404, {}, body({"error": {"code": "DeploymentNotFound", "message": "x"}}), operation=True
    )
    assert err.code is ErrorCode.DEPLOYMENT_NOT_FOUND


def test_a_vanished_operation_without_a_message_says_so():
    err = classify_response(404, {}, b"", operation=True)
    assert (err.code, err.message) == (
        ErrorCode.OPERATION_FAILED,
        "The image operation no longer exists.",
    )


def test_an_unavailable_service_passes_on_its_pacing_hint():
    assert classify_response(503, {"Retry-After": "5"}, b"").retry_after_s == 5.0
    busy = body({"error": {"code": "busy", "message": "Busy. Please retry after 3 seconds."}})
    assert classify_response(503, {}, busy).retry_after_s == 3.0


@pytest.mark.parametrize(
    ("status", "error", "message"),
    [
        (
            "failed",
            {"code": "contentFilter"},
            "The generated image was filtered by the content safety system.",
        ),
        ("canceled", {}, "The image operation was canceled (timed out)."),
        ("failed", {"code": "InternalError"}, "The image operation failed."),
        ("failed", {"code": "InternalError", "message": "  "}, "The image operation failed."),
    ],
)
def test_an_operation_failure_without_a_message_still_says_what_happened(status, error, message):
    assert classify_operation_failure(status, error).message == message


@pytest.mark.parametrize(
    ("exc", "message"),
    [
        (
            httpx.ReadTimeout("slow"),
            "The image service is unavailable (timed out: ReadTimeout).",
        ),
        (
            httpx.ConnectError("refused"),
            "The image service is unavailable (could not connect: ConnectError).",
        ),
        (
            httpx.RemoteProtocolError("peer closed"),
            "The image service is unavailable (connection dropped: RemoteProtocolError).",
        ),
        (httpx.ReadError("reset"), "The image service is unavailable (network error: ReadError)."),
    ],
)
def test_a_transport_fault_names_its_kind_and_never_the_url(exc, message):
    err = classify_transport_error(exc)
    assert (err.code, err.message) == (ErrorCode.UNAVAILABLE, message)
    assert err.retryable


def test_an_unusable_success_reply_is_retryable_and_keeps_its_status():
    err = invalid_body_error(200)
    assert (err.code, err.status, err.message) == (
        ErrorCode.UNAVAILABLE,
        200,
        "The image service sent an unusable reply (invalid JSON).",
    )
    assert invalid_body_error(200, "reply too large").message == (
        "The image service sent an unusable reply (reply too large)."
    )


# ------------------------------------------------------------------ scrubbing


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (
            "see https://h.example/x.png?se=1&sig=S now",
            "see https://h.example/x.png?[redacted] now",
        ),
        ("bad api-key=abc123 given", "bad api-key=[redacted] given"),
        ("header Bearer eyJ.abc.def sent", "header Bearer [redacted] sent"),
        ("token " + "A" * 40 + " leaked", "token [redacted] leaked"),
        ("  two\n lines  ", "two lines"),
    ],
    ids=["sas-query", "key-param", "bearer", "long-token", "whitespace"],
)
def test_scrubbed_messages_mark_what_was_removed(raw, shown):
    assert safe_message(raw) == shown


def test_a_long_message_is_cut_to_the_limit_with_an_ellipsis():
    exact = ("abcd " * 100)[:-1] + "x"  # words, so that nothing looks like a token
    assert len(exact) == MAX_MESSAGE_CHARS
    assert safe_message(exact) == exact
    cut = safe_message(exact + "y")
    assert len(cut) == MAX_MESSAGE_CHARS
    assert cut == exact[:-1] + "…"


# ---- an error inside an event stream classifies as the same body refused would -----------------

CLIENT_ERRORS = [
    RAI_SHAPE["error"],
    DOCS_SHAPE["error"],
    MODERATION_SHAPE["error"],
    {"code": "invalid_size", "message": "No.", "type": "image_generation_user_error"},
    {"code": "bad_value", "message": "No.", "type": "invalid_request_error"},
    {"message": "No.", "type": "invalid_request"},
    {"code": "invalidPayload", "message": "No."},
    {"code": "model_not_found", "message": "Gone."},
]


@pytest.mark.parametrize("err", CLIENT_ERRORS, ids=lambda e: str(e.get("code") or e["type"]))
def test_a_client_error_in_a_stream_is_terminal_like_its_400(err):
    refused = classify_response(400, {}, body({"error": err}))
    streamed = classify_stream_error({"type": "error", "error": err})

    assert streamed.code is refused.code
    assert not streamed.retryable
    assert streamed.status == 200  # the stream's own status is kept


@pytest.mark.parametrize(
    ("err", "code"),
    [
        ({"code": "rate_limit_exceeded", "message": "Slow down."}, ErrorCode.THROTTLED),
        ({"type": "rate_limit_error", "message": "Slow down."}, ErrorCode.THROTTLED),
        ({"code": "rate_limit_reached", "message": "Slow down."}, ErrorCode.THROTTLED),
        ({"type": "server_error", "message": "Oops."}, ErrorCode.UNAVAILABLE),
        ({"code": "something_unknown", "message": "?"}, ErrorCode.UNAVAILABLE),
        ({"message": "?"}, ErrorCode.UNAVAILABLE),
    ],
)
def test_only_throttling_server_and_unknown_stream_errors_are_retryable(err, code):
    assert classify_stream_error({"error": err}).code is code
    assert code.retryable
