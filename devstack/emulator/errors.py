"""Error answers, shaped exactly as the service shapes them (aoai-images-contract.md §5)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from aiohttp import web

Style = Literal["azure", "openai"]

PROMPT_REJECTED_MESSAGE = (
    "Your request was rejected as a result of our safety system. Your prompt may contain text "
    "that is not allowed by our safety system."
)
IMAGE_FILTERED_MESSAGE = "Generated image was filtered as a result of our safety system."
TIMED_OUT_MESSAGE = "task has timed out"


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(body, separators=(",", ":")).encode(),
        content_type="application/json",
        headers=headers,
    )


def error(
    status: int,
    code: str,
    message: str,
    *,
    style: Style = "azure",
    headers: dict[str, str] | None = None,
    param: str | None = None,
    error_type: str = "invalid_request_error",
    extra: dict[str, Any] | None = None,
) -> web.Response:
    """``{"error": {"code", "message"}}`` (Azure) or OpenAI's ``{code, message, param, type}``."""
    err: dict[str, Any] = {"code": code, "message": message}
    if style == "openai":
        err.update({"param": param, "type": error_type})
    if extra:
        err.update(extra)
    all_headers = {"x-ms-error-code": code} if style == "azure" else {}
    all_headers.update(headers or {})
    return json_response(status, {"error": err}, all_headers)


def unauthorized(style: Style) -> web.Response:
    if style == "openai":
        return error(
            401,
            "invalid_api_key",
            "Incorrect API key provided. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            style="openai",
        )
    return error(
        401,
        "401",
        "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
        "provide a valid key for an active subscription and use a correct regional API endpoint "
        "for your resource.",
    )


def deployment_not_found(name: str, style: Style) -> web.Response:
    if style == "openai":
        return error(
            404,
            "model_not_found",
            f"The model `{name}` does not exist or you do not have access to it.",
            style="openai",
        )
    return error(
        404,
        "DeploymentNotFound",
        "The API deployment for this resource does not exist. If you created the deployment "
        "within the last 5 minutes, please wait a moment and try again.",
    )


def invalid_payload(field: str, style: Style, detail: str | None = None) -> web.Response:
    """The contract's invalid-property body; ``detail`` (the rule broken) follows the sentence.

    The service's documented text names only the property; for rules nobody can guess from the
    name (gpt-image-2's free sizes, per-platform options) the reason is appended, after the
    documented prefix so a client matching on it still matches.
    """
    message = f"Invalid payload: Value for property {field} is invalid."
    if detail:
        message = f"{message} {detail}"
    return error(400, "invalidPayload", message, style=style, param=field)


def edit_invalid(field: str, style: Style, detail: str | None = None) -> web.Response:
    """A refused edit body: the invalid-property sentence, with ``param`` on both platforms.

    Azure's 2025-04-01-preview reference gives its edit errors ``param`` and ``type`` (A8), so
    unlike the generation errors the Azure shape carries them too.
    """
    message = f"Invalid payload: Value for property {field} is invalid."
    if detail:
        message = f"{message} {detail}"
    extra = {"param": field, "type": "invalid_request_error"} if style == "azure" else None
    return error(400, "invalidPayload", message, style=style, param=field, extra=extra)


def body_too_large(limit: int, style: Style | Literal["bfl"]) -> web.Response:
    """413 for a body over the emulator's cap (`edit_max_body_bytes`); the wording is ours."""
    message = f"The request body is larger than {limit:,} bytes."
    if style == "bfl":
        return bfl_detail(413, message)
    code = "request_too_large" if style == "openai" else "RequestEntityTooLarge"
    return error(413, code, message, style=style)


def model_retired(name: str, style: Style) -> web.Response:
    """A deployment of a retired model, as each platform answers after the retirement date.

    Azure documents only that "existing deployments stop working" (image-models-2026.md §1a):
    the emulator answers as for a deployment that no longer exists, the contract's 404
    ``DeploymentNotFound``. OpenAI's shut-down ids fail with 400 ``invalid_request_error``,
    code ``model_not_found`` (§1b, third-party observation T8).
    """
    if style == "openai":
        return error(
            400,
            "model_not_found",
            f"The model `{name}` does not exist or you do not have access to it.",
            style="openai",
            param="model",
        )
    return deployment_not_found(name, "azure")


def missing_api_version() -> web.Response:
    return error(
        400,
        "MissingApiVersionParameter",
        "The api-version query parameter (?api-version=) is required for all requests.",
    )


def rate_limited(
    operation: str, api_version: str | None, wait: str, style: Style, headers: dict[str, str]
) -> web.Response:
    version = f" under Azure OpenAI API version {api_version}" if api_version else ""
    message = (
        f"Requests to the {operation} Operation{version} have exceeded call rate limit of your "
        f"current OpenAI S0 pricing tier. Please retry after {wait} seconds. Please go here: "
        "https://aka.ms/oai/quotaincrease if you would like to further increase the default rate "
        "limit."
    )
    code = "rate_limit_exceeded" if style == "openai" else "429"
    return error(429, code, message, style=style, headers=headers, error_type="requests")


def server_error(status: int, style: Style) -> web.Response:
    if status == 503:
        return error(
            503,
            "ServiceUnavailable",
            "The service is temporarily unable to process your request. Please try again later.",
            style=style,
            error_type="server_error",
        )
    return error(
        500,
        "InternalServerError",
        "The server had an error while processing your request. Sorry about that!",
        style=style,
        error_type="server_error",
    )


FILTER_CATEGORIES = ("hate", "self_harm", "sexual", "violence")


def filter_results(flagged: str | None = None) -> dict[str, Any]:
    """``content_filter_results`` with every category safe, or one flagged high and filtered."""
    return {
        c: {"filtered": c == flagged, "severity": "high" if c == flagged else "safe"}
        for c in FILTER_CATEGORIES
    }


def prompt_filter_results() -> dict[str, Any]:
    return {**filter_results(), "profanity": {"detected": False, "filtered": False}}


def prompt_rejected(shape: str, prompt: str, style: Style) -> web.Response:
    """Safety-system refusal of a prompt, in either of the two documented shapes."""
    if shape == "contentFilter":
        return error(400, "contentFilter", PROMPT_REJECTED_MESSAGE, style=style)
    return error(
        400,
        "content_policy_violation",
        PROMPT_REJECTED_MESSAGE,
        style=style,
        extra={
            "inner_error": {
                "code": "ResponsibleAIPolicyViolation",
                "content_filter_results": filter_results("violence"),
                "revised_prompt": prompt,
            },
            "type": "invalid_request_error",
        },
    )


def sas_failure(verdict: str, se: str | None) -> web.Response:
    """What Blob Storage says to an expired or forged SAS URL."""
    now = datetime.now(UTC)
    request_id = str(uuid.uuid4())
    if verdict == "expired":
        detail = (
            f"Signed expiry time [{_rfc1123(se)}] has to be after signed start time "
            f"[{now.strftime('%a, %d %b %Y %H:%M:%S GMT')}]"
        )
    elif verdict == "bad-signature":
        detail = "Signature did not match."
    else:
        detail = "Signature fields not well formed."
    body = (
        '<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthenticationFailed</Code>'
        "<Message>Server failed to authenticate the request. Make sure the value of "
        "Authorization header is formed correctly including the signature.\n"
        f"RequestId:{request_id}\nTime:{now.strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3]}Z</Message>"
        f"<AuthenticationErrorDetail>{detail}</AuthenticationErrorDetail></Error>"
    )
    return web.Response(
        status=403,
        text=body,
        content_type="application/xml",
        headers={"x-ms-error-code": "AuthenticationFailed", "x-ms-request-id": request_id},
    )


def _rfc1123(se: str | None) -> str:
    try:
        parsed = datetime.strptime(se or "", "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return se or ""
    return parsed.strftime("%a, %d %b %Y %H:%M:%S GMT")


# --- FLUX -----------------------------------------------------------------------------------------


def flux_invalid(field: str, detail: str) -> web.Response:
    """A refused FLUX body on Foundry (Image API or BFL provider route): 400 naming the property.

    Foundry documents no error body for FLUX (image-models-2026.md §5a/§5b): the emulator keeps
    Azure's "Invalid payload: Value for property X is invalid." sentence (so a client matching it
    still matches) in an OpenAI-style ``invalid_request_error`` with ``param``.
    """
    return error(
        400,
        "invalid_request_error",
        f"Invalid payload: Value for property {field} is invalid. {detail}",
        param=field,
        extra={"param": field, "type": "invalid_request_error"},
    )


def bfl_detail(status: int, detail: Any, headers: dict[str, str] | None = None) -> web.Response:
    """BFL's own API answers errors as FastAPI does: ``{"detail": …}``."""
    return json_response(status, {"detail": detail}, headers)


def bfl_validation(problems: list[tuple[list[str | int], str, str]]) -> web.Response:
    """422 HTTPValidationError: ``{"detail": [{"loc", "msg", "type"}, …]}`` (B1)."""
    return bfl_detail(422, [{"loc": loc, "msg": msg, "type": kind} for loc, msg, kind in problems])
