"""Turn whatever the image API (or the network) did into one ImageApiError.

Pure functions over status, headers and raw body, so that every documented error shape can be
unit-tested without a server. The classification decides what the orchestrator does next
(terminal vs. wait-and-retry), so it errs on the side of "retryable" only for faults a retry can
actually cure: throttling, 408/409/5xx and broken transport.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from shared.http_hints import header as http_header
from shared.http_hints import retry_after_s
from shared.imaging.types import Deployment, ErrorCode, ImageApiError
from shared.lifecycle import retired_message

# Both documented content-filter shapes: `content_policy_violation` (+ inner_error
# ResponsibleAIPolicyViolation) and the docs' `contentFilter`; and OpenAI's gpt-image safety
# refusal, a 400 `moderation_blocked` (type `image_generation_user_error`).
CONTENT_FILTER_CODES = frozenset(
    {
        "content_policy_violation",
        "contentfilter",
        "responsibleaipolicyviolation",
        "moderation_blocked",
    }
)
MAX_MESSAGE_CHARS = 500
# OpenAI answers a shut-down model id with 400 `model_not_found` (image-models-2026.md §1b, T8):
# the same "it is not there" as Azure's 404 DeploymentNotFound.
MODEL_NOT_FOUND_CODES = frozenset({"model_not_found", "deploymentnotfound"})

_URL_QUERY = re.compile(r"(https?://[^\s?\"'<>]+)\?[^\s\"'<>]*", re.IGNORECASE)
_SECRET_PARAM = re.compile(r"\b(sig|se|sv|skoid|sktid|api[-_]?key|key|code|token)=[^&\s\"']+", re.I)
_BEARER = re.compile(r"\bBearer\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_LONG_TOKEN = re.compile(r"[A-Za-z0-9+/=_-]{32,}")
_RETRY_IN_MESSAGE = re.compile(r"retry after (\d+(?:\.\d+)?) seconds?", re.IGNORECASE)


def safe_message(text: str) -> str:
    """A message that can be shown to a user: no URL query strings (SAS), keys or tokens."""
    text = _URL_QUERY.sub(r"\1?[redacted]", text)
    text = _SECRET_PARAM.sub(r"\1=[redacted]", text)
    text = _BEARER.sub("Bearer [redacted]", text)
    text = _LONG_TOKEN.sub("[redacted]", text)
    text = " ".join(text.split())
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 1] + "…"
    return text


def parse_json(body: bytes) -> Any:
    """JSON or None: an error reply is not always JSON (proxies send HTML)."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def error_object(payload: Any) -> dict[str, Any]:
    """The `error` object in either shape: `{"error": {...}}` or a bare `{"code", "message"}`."""
    if isinstance(payload, dict):
        inner = payload.get("error")
        if isinstance(inner, dict):
            return inner
        if "code" in payload or "message" in payload:
            return payload
    return {}


def detail_message(payload: Any) -> str:
    """The message of a FastAPI validation refusal, as Black Forest Labs answers a bad body (422
    `HTTPValidationError`, image-models-2026.md §5c B1/B8):
    `{"detail": [{"loc": ["body", "width"], "msg": "…"}]}` → "body.width: …", so the job's error
    names the field the service refused. Empty for any other shape (a bare `detail` string is
    no documented error body of these services, so it stays unread)."""
    detail = payload.get("detail") if isinstance(payload, dict) else None
    if not isinstance(detail, list):
        return ""
    parts = []
    for item in detail[:3]:
        if not isinstance(item, dict):
            continue
        loc = item.get("loc")
        where = ".".join(str(p) for p in loc) if isinstance(loc, list) else ""
        msg = str(item.get("msg") or "").strip()
        parts.append(f"{where}: {msg}" if where and msg else where or msg)
    return "; ".join(p for p in parts if p)


def _codes(err: Mapping[str, Any], headers: Mapping[str, str] | None) -> set[str]:
    codes: set[str] = set()
    for holder in (err, err.get("inner_error"), err.get("innererror")):
        if isinstance(holder, Mapping) and holder.get("code") is not None:
            codes.add(str(holder["code"]).lower())
    if headers is not None:
        header = http_header(headers, "x-ms-error-code")
        if header:
            codes.add(header.lower())
    return codes


def is_content_filter(err: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> bool:
    return bool(_codes(err, headers) & CONTENT_FILTER_CODES)


def retry_after_seconds(
    headers: Mapping[str, str], message: str = "", *, now: datetime | None = None
) -> float | None:
    """The service's pacing hint: the headers (`retry-after-ms`, then `retry-after` as seconds or
    HTTP date, read like every other peer's), then "retry after N seconds" in the message, which
    some throttling replies carry without a header."""
    hint = retry_after_s(headers, now=now)
    if hint is not None:
        return hint
    m = _RETRY_IN_MESSAGE.search(message)
    return float(m.group(1)) if m else None


def classify_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    operation: bool = False,
) -> ImageApiError:
    """The ImageApiError for a non-success reply. `operation` marks a DALL-E 2 operation URL,
    where a plain 404 means the operation is gone rather than the deployment."""
    payload = parse_json(body)
    err = error_object(payload)
    raw_message = str(err.get("message") or "").strip() or detail_message(payload)
    message = safe_message(raw_message)
    codes = _codes(err, headers)

    def make(code: ErrorCode, default: str, retry: float | None = None) -> ImageApiError:
        return ImageApiError(code, message or default, status=status, retry_after_s=retry)

    if 400 <= status < 500 and codes & CONTENT_FILTER_CODES:
        return make(
            ErrorCode.CONTENT_FILTER, "The request was rejected by the content safety system."
        )
    if status == 429:
        return make(
            ErrorCode.THROTTLED,
            "The image service is throttling requests.",
            retry_after_seconds(headers, raw_message),
        )
    if status in (401, 403):
        return make(ErrorCode.AUTH_FAILED, "The image service refused the credentials.")
    if status == 400 and codes & MODEL_NOT_FOUND_CODES:
        return make(ErrorCode.DEPLOYMENT_NOT_FOUND, "The model does not exist on this endpoint.")
    if status == 404:
        if operation and "deploymentnotfound" not in codes:
            return make(ErrorCode.OPERATION_FAILED, "The image operation no longer exists.")
        return make(
            ErrorCode.DEPLOYMENT_NOT_FOUND,
            "The deployment (or API route) does not exist on this endpoint.",
        )
    if status in (408, 409) or status >= 500:
        return make(
            ErrorCode.UNAVAILABLE,
            f"The image service is unavailable (HTTP {status}).",
            retry_after_seconds(headers, raw_message),
        )
    if status >= 400:  # the other 4xx: 5xx were answered above
        return make(
            ErrorCode.INVALID_REQUEST, f"The image service rejected the request ({status})."
        )
    return make(ErrorCode.UNAVAILABLE, f"Unexpected reply from the image service (HTTP {status}).")


def classify_operation_failure(status: str, error: Mapping[str, Any] | None) -> ImageApiError:
    """A DALL-E 2 operation that ended `failed` or `canceled`."""
    err = dict(error or {})
    message = safe_message(str(err.get("message") or "").strip())
    if status == "failed" and is_content_filter(err):
        return ImageApiError(
            ErrorCode.CONTENT_FILTER,
            message or "The generated image was filtered by the content safety system.",
        )
    if status == "canceled":
        return ImageApiError(
            ErrorCode.OPERATION_FAILED, message or "The image operation was canceled (timed out)."
        )
    return ImageApiError(ErrorCode.OPERATION_FAILED, message or "The image operation failed.")


def classify_transport_error(exc: Exception) -> ImageApiError:
    """Connection refused, timeouts, dropped connections: all retryable. No URL in the message:
    httpx puts the full request URL (maybe signed) into some exception texts."""
    import httpx  # only a transport failure needs it: safe_message & co. load no httpx

    if isinstance(exc, httpx.TimeoutException):
        what = "timed out"
    elif isinstance(exc, httpx.ConnectError):
        what = "could not connect"
    elif isinstance(exc, httpx.RemoteProtocolError):
        what = "connection dropped"
    else:
        what = "network error"
    return ImageApiError(
        ErrorCode.UNAVAILABLE, f"The image service is unavailable ({what}: {type(exc).__name__})."
    )


def invalid_body_error(status: int, detail: str = "invalid JSON") -> ImageApiError:
    """A success status with a body we cannot use (truncated, not JSON, wrong shape)."""
    return ImageApiError(
        ErrorCode.UNAVAILABLE,
        f"The image service sent an unusable reply ({detail}).",
        status=status,
    )


def explain_retired(exc: ImageApiError, deployment: Deployment, today: date) -> ImageApiError:
    """A refusal of a model that has been retired, reworded to say so and name what to use
    (shared.lifecycle); any other error unchanged. "Deployment not found" alone sends operators
    hunting for a typo in IMAGE_MODELS when the model is simply gone."""
    if exc.code is not ErrorCode.DEPLOYMENT_NOT_FOUND:
        return exc
    message = retired_message(deployment, today)
    if message is None:
        return exc
    return ImageApiError(exc.code, message, status=exc.status, retry_after_s=exc.retry_after_s)


# An error inside a 200 event stream has no status of its own (image-models-2026.md §4: the SDK
# turns a data object carrying `error` into an APIError). These codes and types say which HTTP
# refusal it stands for, so it classifies exactly as the same error body would.
_STREAM_ERROR_STATUS: dict[str, int] = {
    "rate_limit_exceeded": 429,
    "rate_limit_error": 429,
    "requests": 429,
    "tokens": 429,
    "too_many_requests": 429,
    "invalid_api_key": 401,
    "authentication_error": 401,
    "permission_error": 403,
    "permissiondenied": 403,
    "invalid_request_error": 400,
    "invalidpayload": 400,
    "server_error": 500,
    "api_error": 500,
    "internalservererror": 500,
    "serviceunavailable": 503,
    "timeout": 503,
}


def _stream_error_status(err: Mapping[str, Any]) -> int:
    """The HTTP status an in-stream error stands for. A code that is itself a status (Azure's
    "429") wins; a content-filter or model-not-found code is a 400 like its error body; then
    the code, then the type (a client's fault: `*_user_error`, `invalid_request*`; throttling:
    `rate_limit*`). Anything unrecognised is a server fault (500): the call broke after the
    service accepted it, which a retry can cure."""
    codes = _codes(err, None)
    for code in codes:
        if code.isdigit() and 400 <= int(code) <= 599:
            return int(code)
    if codes & (CONTENT_FILTER_CODES | MODEL_NOT_FOUND_CODES):
        return 400
    kind = str(err.get("type") or "").lower()
    for name in (*sorted(codes), kind):
        if name in _STREAM_ERROR_STATUS:
            return _STREAM_ERROR_STATUS[name]
    for name in (*sorted(codes), kind):
        if name.startswith("rate_limit"):
            return 429
    if kind.endswith("_user_error") or kind.startswith("invalid_request"):
        return 400
    return 500


def classify_stream_error(payload: Any, status: int = 200) -> ImageApiError:
    """The ImageApiError for an `error` event (or a data object carrying `error`) of an event
    stream, classified like the error body the same failure would have had as a refusal
    (`classify_response`). `status` is the stream's real HTTP status, kept on the error."""
    err = error_object(payload)
    equivalent = _stream_error_status(err)
    classified = classify_response(equivalent, {}, json.dumps({"error": err}).encode())
    message = safe_message(str(err.get("message") or "").strip())
    if not message:
        code = safe_message(str(err.get("code") or err.get("type") or "no code"))
        message = f"The image service reported an error in its event stream ({code})."
    return ImageApiError(
        classified.code, message, status=status, retry_after_s=classified.retry_after_s
    )
