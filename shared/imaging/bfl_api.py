"""FLUX on Black Forest Labs' own API (api.bfl.ai): submit a task, poll it, copy its sample.

BFL's API is asynchronous like DALL-E 2's, so it runs through the same durable submit → poll →
store path (shared/orchestration/image_job.py); only the wire format differs, and it is all here:

* `POST {endpoint}/v1/{model path}` with header `x-key`, body `{prompt, width, height,
  output_format, seed}` → `{id, polling_url, ...}`. The polling URL is the "operation URL" the
  orchestrator keeps in history. It may point at another BFL region than the endpoint (the global
  `api.bfl.ai` answers with e.g. `api.eu2.bfl.ai`), so a polling URL is trusted on the
  configured endpoint's origin or on an https `*.bfl.ai` host (port 443) — anything else is
  refused before the key is sent, as the DALL-E 2 client refuses foreign operation URLs.
* `GET polling_url` → `{status, result: {sample}, details}`; `Ready`'s `result.sample` is a signed
  delivery URL that expires 10 minutes after the task is ready, which is why the poll that sees
  `Ready` copies it at once.
* BFL has no delete: a task is forgotten on its own, so `delete_operation` does nothing.
* An edit is the same submit with the reference images in the JSON body as plain base64
  strings, `input_image`, `input_image_2`, … (streamed: shared/imaging/json_stream.py). BFL
  ignores fields it does not know (§5b, T4), so a reference a model cannot take is refused here
  rather than paid for as an unrelated image; FLUX.1-Kontext-pro takes `aspect_ratio`, not
  `width`/`height`.

The pure functions (`model_path`, `request_body_for`, `edit_body_for`, `operation_state`,
`classify_bfl_response`, `trusted_polling_url`) carry every mapping, so they are tested without
a server.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from shared.imaging.base import BaseImageClient
from shared.imaging.errors import (
    invalid_body_error,
    parse_json,
    retry_after_seconds,
    safe_message,
)
from shared.imaging.json_stream import json_with_base64
from shared.imaging.streamed_body import StreamedBody
from shared.imaging.types import (
    BFL_MAX_REFERENCES,
    BFL_MODEL_PATHS,
    Deployment,
    EditSources,
    ErrorCode,
    Family,
    Flavour,
    GeneratedImage,
    GenerationParams,
    ImageApiError,
    OperationState,
    OperationStatus,
)

# Polling URLs may name another region than the endpoint (api.eu2.bfl.ai, ...), always here.
BFL_DOMAIN = "bfl.ai"
SAMPLE_TTL_NOTE = "BFL samples expire 10 minutes after they are ready"

_RUNNING = frozenset({"Pending", "Reasoning", "Generating"})  # the last two: newer models [T]


def model_path(deployment: Deployment) -> str:
    """The `/v1/{path}` a deployment submits to: the family's path, unless the operator wrote a
    path of their own as the deployment (e.g. `flux-2-max`, which has no family of its own). The
    family's name itself (`FLUX.2-pro`, what the devstack writes) stands for the family's path."""
    family_path = BFL_MODEL_PATHS.get(deployment.family)
    written = deployment.deployment.strip()
    if family_path is None:
        return written
    if written.lower() in (deployment.family.value.lower(), deployment.family.model_id.lower()):
        return family_path
    return written or family_path


def aspect_ratio(width: int, height: int) -> str:
    """`W:H` in lowest terms (1536x1024 → "3:2"), as FLUX.1-Kontext-pro takes a size."""
    divisor = math.gcd(width, height) or 1
    return f"{width // divisor}:{height // divisor}"


def request_body_for(params: GenerationParams, *, as_aspect_ratio: bool = False) -> dict[str, Any]:
    """The submit body: BFL takes the size as `width`/`height` (or, `as_aspect_ratio`, as
    Kontext's `aspect_ratio`) and one image per task. Options left unset are not sent, so BFL's
    own defaults apply (jpeg; the model's default size, an edit's: its input's)."""
    body: dict[str, Any] = {"prompt": params.prompt}
    if params.size:
        width, _, height = params.size.partition("x")
        if as_aspect_ratio:
            body["aspect_ratio"] = aspect_ratio(int(width), int(height))
        else:
            body["width"], body["height"] = int(width), int(height)
    if params.output_format:
        body["output_format"] = params.output_format
    seed = params.seed
    if seed is not None:
        body["seed"] = seed
    return body


def reference_names(count: int) -> list[str]:
    """`input_image`, `input_image_2`, … for `count` reference images."""
    return ["input_image" if i == 0 else f"input_image_{i + 1}" for i in range(count)]


def references_body(
    fields: Mapping[str, Any],
    sources: EditSources,
    family: Family,
    limits: Mapping[Family, int] = BFL_MAX_REFERENCES,
) -> StreamedBody:
    """`fields` with the sources' images streamed in as `input_image`, `input_image_2`, ….
    BFL has no mask, and would silently ignore references beyond what a model takes."""
    if not sources.images:
        raise ImageApiError(ErrorCode.INVALID_REQUEST, "An edit needs at least one image.")
    if sources.mask is not None:
        raise ImageApiError(
            ErrorCode.INVALID_REQUEST, "FLUX on the Black Forest Labs routes takes no mask."
        )
    limit = limits.get(family, 0)
    if len(sources.images) > limit:
        raise ImageApiError(
            ErrorCode.INVALID_REQUEST,
            f"{family.model_id} takes "
            + (f"at most {limit} reference images" if limit else "no reference images")
            + f" on this route, not {len(sources.images)}.",
        )
    names = reference_names(len(sources.images))
    return json_with_base64(fields, list(zip(names, sources.images, strict=True)))


def edit_body_for(params: GenerationParams, family: Family, sources: EditSources) -> StreamedBody:
    """The streamed submit body of an edit: `request_body_for`'s fields (Kontext's size as
    `aspect_ratio`), then the references."""
    fields = request_body_for(params, as_aspect_ratio=family is Family.FLUX_1_KONTEXT_PRO)
    return references_body(fields, sources, family)


def trusted_polling_url(url: str, endpoint: str) -> str:
    """`url` (relative ones resolved against the endpoint) if the key may be sent there: the
    configured endpoint's origin, or https on a `*.bfl.ai` host. Raises otherwise, so a forged
    polling URL in a reply (or in history) never receives the key."""
    base = httpx.URL(endpoint.rstrip("/") + "/")
    try:
        absolute = base.join(url.strip())
    except httpx.InvalidURL:
        absolute = None
    if absolute is not None:
        host = absolute.host.lower()
        same_origin = (absolute.scheme, host, absolute.port) == (
            base.scheme,
            base.host.lower(),
            base.port,
        )
        on_bfl = (
            absolute.scheme == "https"
            and absolute.port is None  # 443: BFL serves nothing else
            and host.endswith("." + BFL_DOMAIN)
        )
        if (same_origin or on_bfl) and not absolute.userinfo:
            return str(absolute)
    raise ImageApiError(
        ErrorCode.INVALID_REQUEST,
        "The polling URL is neither on the configured endpoint nor on a Black Forest Labs host.",
    )


def _details(payload: Mapping[str, Any]) -> str:
    """BFL's `details` (a string, or an object such as `{"Moderation Reasons": [...]}`) as one
    short, safe line."""
    details = payload.get("details")
    if details is None or details == {} or details == []:
        return ""
    if isinstance(details, Mapping):
        parts = []
        for key, value in details.items():
            shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
            parts.append(f"{key}: {shown}")
        text = "; ".join(parts)
    elif isinstance(details, list):
        text = ", ".join(map(str, details))
    else:
        text = str(details)
    return safe_message(text)


def _with_details(message: str, details: str) -> str:
    return f"{message}: {details}" if details else f"{message}."


def operation_state(payload: Mapping[str, Any], http_status: int = 200) -> OperationState:
    """A `get_result` reply as the operation state the orchestrator understands."""
    status = payload.get("status")
    details = _details(payload)
    if status in _RUNNING:
        return OperationState(OperationStatus.RUNNING)
    if status == "Ready":
        result = payload.get("result")
        sample = result.get("sample") if isinstance(result, Mapping) else None
        if not isinstance(sample, str) or not sample:
            raise invalid_body_error(http_status, "Ready without result.sample")
        return OperationState(OperationStatus.SUCCEEDED, images=[GeneratedImage(url=sample)])
    if status in ("Request Moderated", "Content Moderated"):
        what = "the request" if status == "Request Moderated" else "the generated image"
        error = ImageApiError(
            ErrorCode.CONTENT_FILTER,
            _with_details(f"Black Forest Labs moderated {what}", details),
        )
        return OperationState(OperationStatus.FAILED, error=error)
    if status == "Task not found":
        return OperationState(OperationStatus.DELETED)
    if status == "Error":
        error = ImageApiError(
            ErrorCode.OPERATION_FAILED,
            _with_details("Black Forest Labs could not generate the image", details),
        )
        return OperationState(OperationStatus.FAILED, error=error)
    raise invalid_body_error(http_status, "unknown task status")


def _detail_message(payload: Any) -> str:
    """The useful part of a BFL error body: `detail` as a string, or the first entry of a
    validation error list (`loc` joined, then `msg`); else an `error`/`message` string."""
    if not isinstance(payload, Mapping):
        return ""
    detail = payload.get("detail")
    if isinstance(detail, list) and detail:
        first = detail[0]
        if isinstance(first, Mapping):
            loc = first.get("loc")
            where = ".".join(str(p) for p in loc) if isinstance(loc, list) else ""
            msg = str(first.get("msg") or "").strip()
            return safe_message(f"{where}: {msg}" if where and msg else where or msg)
        return safe_message(str(first))
    for key in ("detail", "message", "error"):
        value = payload.get(key)
        if isinstance(value, str) and value.strip():
            return safe_message(value)
    return ""


def classify_bfl_response(
    status: int, headers: Mapping[str, str], body: bytes, *, polling: bool = False
) -> ImageApiError:
    """The ImageApiError for a non-200 BFL reply. 429 is BFL's limit on active tasks (24 per
    key): it sends no Retry-After, so `retry_after_s` stays None and the orchestrator backs off
    on its own schedule. 402 (no credits) cannot be cured by waiting, so it ends the job."""
    detail = _detail_message(parse_json(body))

    def make(code: ErrorCode, message: str, retry: float | None = None) -> ImageApiError:
        text = f"{message} (HTTP {status})" + (f": {detail}" if detail else "")
        return ImageApiError(code, safe_message(text), status=status, retry_after_s=retry)

    if status in (401, 403):
        return make(ErrorCode.AUTH_FAILED, "Black Forest Labs refused the key (BFL_API_KEY)")
    if status == 402:
        return make(
            ErrorCode.AUTH_FAILED,
            "Black Forest Labs refused the request: the account has no credits left; "
            "add credits to the account of BFL_API_KEY",
        )
    if status == 422:
        return make(ErrorCode.INVALID_REQUEST, "Black Forest Labs rejected the request")
    if status == 429:
        return make(
            ErrorCode.THROTTLED,
            "Black Forest Labs is limiting active tasks",
            retry_after_seconds(headers, detail),
        )
    if status == 404:
        if polling:
            return make(ErrorCode.OPERATION_FAILED, "Black Forest Labs no longer knows the task")
        return make(ErrorCode.DEPLOYMENT_NOT_FOUND, "Black Forest Labs has no such model path")
    if status in (408, 409) or status >= 500:
        return make(
            ErrorCode.UNAVAILABLE,
            "Black Forest Labs is unavailable",
            retry_after_seconds(headers, detail),
        )
    return make(ErrorCode.INVALID_REQUEST, "Black Forest Labs rejected the request")


class BflApiClient(BaseImageClient):
    """Black Forest Labs' own asynchronous API; the key goes in `x-key` (shared/imaging/auth.py,
    chosen by shared/blueprints/deps.py)."""

    flavour = Flavour.BFL

    async def submit(self, params: GenerationParams, sources: EditSources | None = None) -> str:
        url = f"{self.endpoint}/v1/{quote(model_path(self.deployment), safe='.-_')}"
        if sources is None:
            response = await self._send(
                "POST", url, body=request_body_for(params), limits=self.generate_timeout
            )
        else:
            content = edit_body_for(params, self.deployment.family, sources)
            response = await self._send("POST", url, content=content, limits=self.generate_timeout)
        payload = self._json(response)
        polling_url = payload.get("polling_url")
        if isinstance(polling_url, str) and polling_url.strip():
            return trusted_polling_url(polling_url, self.endpoint)
        # The legacy form, for replies that carry only the task's id.
        task_id = payload.get("id")
        if not isinstance(task_id, str) or not task_id:
            raise invalid_body_error(response.status_code, "no polling_url")
        return f"{self.endpoint}/v1/get_result?id={quote(task_id, safe='')}"

    async def get_operation(self, operation_url: str) -> OperationState:
        url = trusted_polling_url(operation_url, self.endpoint)
        response = await self._send("GET", url, limits=self.poll_timeout, operation=True)
        return operation_state(self._json(response), response.status_code)

    async def delete_operation(self, operation_url: str) -> None:
        """BFL has no delete: a finished task is forgotten by the service itself."""
        return None

    def _classify(
        self, status: int, headers: httpx.Headers, content: bytes, *, operation: bool
    ) -> ImageApiError:
        """BFL's error shapes (`classify_bfl_response`); `operation` is a poll."""
        return classify_bfl_response(status, headers, content, polling=operation)
