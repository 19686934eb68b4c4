"""The aiohttp application: every image route of Azure OpenAI and OpenAI on one port.

Each generation request goes through the same pipeline, in the order the service applies it:
auth → api-version → deployment → quota (429) → injected faults (drop, 5xx) → body validation →
content filter → generation latency → billing → answer. Billing happens at exactly one point so
`/_emulator/stats` can prove how many images the app paid for. A `stream: true` request of a GPT
image model passes every check before its first byte too; only then does `streaming` spread the
latency over its partial frames.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import logging
import math
import random
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from aiohttp import web

from devstack.emulator import errors, flux
from devstack.emulator.bfl import BflTaskStore
from devstack.emulator.config import ConfigError, EmulatorConfig, apply_patch
from devstack.emulator.errors import Style, json_response
from devstack.emulator.images import content_type
from devstack.emulator.models import (
    MODELS,
    ImageRequest,
    InvalidParameter,
    ModelSpec,
    Route,
    api_version_too_old,
    usage,
    validate_request,
)
from devstack.emulator.operations import END_STATES, Operation, OperationStore
from devstack.emulator.quota import SlidingWindowQuota, retry_after_headers
from devstack.emulator.render_cache import RenderCache
from devstack.emulator.stats import Stats
from devstack.emulator.streaming import (
    STREAM_RESPONSE,
    EventFamily,
    PartialLog,
    StreamPlan,
    stream_images,
)
from devstack.emulator.urls import Rendered, RenderSpec, Servable, SignedImageUrls

log = logging.getLogger("devstack.emulator")

ASYNC_DEPLOYMENT = "dall-e-2"  # the legacy :submit route names no deployment; DALL-E 2 it is
POLL_OPERATION = "GetAzureBatchImageGenerationOperationStatus"  # the spec's operationId
_API_VERSION = re.compile(r"^(\d{4}-\d{2}-\d{2}(-preview)?|preview)$")
_CONTROL_PREFIX = "/_emulator/"


@dataclass
class EmulatorState:
    """Mutable state of one emulator: current config, RNG, counters, operations, image store."""

    startup: EmulatorConfig
    config: EmulatorConfig = field(init=False)
    rng: random.Random = field(init=False)
    stats: Stats = field(init=False)
    quota: SlidingWindowQuota = field(default_factory=SlidingWindowQuota)
    operations: OperationStore = field(default_factory=OperationStore)
    urls: SignedImageUrls = field(default_factory=SignedImageUrls)
    cache: RenderCache = field(default_factory=RenderCache)
    bfl: BflTaskStore = field(default_factory=BflTaskStore)
    partials: PartialLog = field(default_factory=PartialLog)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Back to the start-up configuration; forget counters, quotas and operations."""
        self.config = self.startup.model_copy(deep=True)
        self.rng = random.Random(self.config.seed)
        self.stats = Stats()
        self.quota.clear()
        self.operations.clear()
        self.bfl.clear()
        self.partials.clear()

    def set_config(self, config: EmulatorConfig, *, reseed: bool = False) -> None:
        """Swap the config; a (re)stated seed restarts the random sequence from that seed."""
        if reseed or config.seed != self.config.seed:
            self.rng = random.Random(config.seed)
        self.config = config

    def latency(self) -> float:
        cfg = self.config
        jitter = (
            self.rng.uniform(0, cfg.latency_jitter_seconds) if cfg.latency_jitter_seconds else 0
        )
        return cfg.latency_seconds + jitter

    def roll(self, rate: float) -> bool:
        return rate > 0 and self.rng.random() < rate


STATE = web.AppKey("emulator_state", EmulatorState)
REQUEST_ID = web.RequestKey("request_id", str)
CUT_STREAM = web.RequestKey("cut_stream", bool)  # the drop draw chose a cut mid-stream


def _state(request: web.Request) -> EmulatorState:
    return request.app[STATE]


def _base_url(request: web.Request) -> str:
    configured = _state(request).config.public_base_url
    return configured or f"{request.scheme}://{request.host}"


def _authorized(request: web.Request, *, bearer_only: bool = False) -> bool:
    keys = _state(request).config.api_keys
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer " and auth[7:].strip() in keys:
        return True
    return not bearer_only and request.headers.get("api-key", "") in keys


class _Dropped(Exception):
    """The fault injector closed the connection: there is nothing left to answer."""


def _drop(request: web.Request) -> NoReturn:
    _state(request).stats.event("dropped")
    if request.transport is not None:
        request.transport.close()
    raise _Dropped


def _faults(
    request: web.Request,
    style: Style,
    operation: str,
    api_version: str | None,
    *,
    stream: bool = False,
) -> web.Response | None:
    """Random 429, dropped connection or 5xx, drawn from the seeded RNG; None = proceed.

    The 429 is drawn first, as the gateway throttles before the model sees anything; a rate of 0
    draws nothing, so seeded fault sequences without it stay what they were. A request asking
    for a `stream` has the same one drop draw: below half the rate it is dropped before any
    answer, in the other half its stream is cut mid-way (`stream_cut`), so `drop_rate` is the
    fraction of streams that break, as of any other request.
    """
    state = _state(request)
    cfg = state.config
    if state.roll(cfg.error_rate_429):
        state.stats.event("injected_429")
        wait = cfg.error_429_retry_after_seconds
        headers = {"Retry-After": str(wait), "retry-after-ms": str(wait * 1000)}
        return errors.rate_limited(operation, api_version, str(wait), style, headers)
    if cfg.drop_rate > 0:
        draw = state.rng.random()
        if draw < cfg.drop_rate:
            if not stream or draw < cfg.drop_rate / 2:
                return _drop(request)
            request[CUT_STREAM] = True
    if cfg.error_rate_500 or cfg.error_rate_503:
        draw = state.rng.random()
        if draw < cfg.error_rate_500:
            return errors.server_error(500, style)
        if draw < cfg.error_rate_500 + cfg.error_rate_503:
            return errors.server_error(503, style)
    return None


def _admit(
    request: web.Request,
    deployment: str,
    operation: str,
    api_version: str | None,
    style: Style,
    *,
    stream: bool = False,
) -> web.Response | None:
    """Quota first (the gateway refuses before the model sees anything), then faults.
    `stream`: the body asks for a stream (`asks_stream`), whose drop may come mid-way."""
    state = _state(request)
    wait = state.quota.try_admit(deployment, state.config.rpm_for(deployment))
    if wait is not None:
        headers = retry_after_headers(wait)
        return errors.rate_limited(operation, api_version, headers["Retry-After"], style, headers)
    return _faults(request, style, operation, api_version, stream=stream)


def asks_stream(fields: Any) -> bool:
    """Whether a body's fields (a JSON object, an edit form's fields) ask for `stream`: read
    before validation, only to say where an injected drop may fall."""
    return isinstance(fields, dict) and fields.get("stream") is True


def _api_version(request: web.Request) -> tuple[str | None, web.Response | None]:
    version = request.query.get("api-version")
    if not version:
        return None, errors.missing_api_version()
    if not _API_VERSION.match(version):
        return None, errors.error(404, "404", "Resource not found")
    return version, None


def _azure_gate(request: web.Request) -> tuple[str, None] | tuple[None, web.Response]:
    """What every Azure route checks first, in the service's order: the key, then api-version."""
    if not _authorized(request):
        return None, errors.unauthorized("azure")
    version, refusal = _api_version(request)
    if refusal is not None or version is None:
        return None, refusal or errors.missing_api_version()
    return version, None


async def _json_body(request: web.Request, max_size: int | None = None) -> Any:
    """The parsed body; `_INVALID_JSON`, or `_TOO_LARGE` when over ``max_size`` (default: the
    app's `client_max_size`; bodies with images raise it to `edit_max_body_bytes`)."""
    reader = request if max_size is None else request.clone(client_max_size=max_size)
    try:
        raw = await reader.read()
    except web.HTTPRequestEntityTooLarge:
        return _TOO_LARGE
    try:
        return json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError):
        return _INVALID_JSON


_INVALID_JSON = object()
_TOO_LARGE = object()


def _prompt_filtered(state: EmulatorState, prompt: str) -> bool:
    lowered = prompt.lower()
    return any(word.lower() in lowered for word in state.config.content_filter_words)


def _render_specs(req: ImageRequest, min_bytes: int) -> list[RenderSpec]:
    return [
        RenderSpec(
            req.prompt,
            req.width,
            req.height,
            i,
            req.output_format,
            req.transparent,
            req.compression if req.output_format != "png" else None,
            min_bytes if req.output_format in ("png", "jpeg") else 0,
        )
        for i in range(req.n)
    ]


async def _image_items(
    request: web.Request, req: ImageRequest, expires_at: float
) -> list[dict[str, Any]]:
    state = _state(request)
    specs = _render_specs(req, state.config.image_min_bytes)
    if req.response_format == "url":
        base = _base_url(request)
        return [{"url": state.urls.url(base, spec, expires_at)} for spec in specs]
    blobs = await asyncio.gather(*(state.cache.get(spec) for spec in specs))
    return [{"b64_json": base64.b64encode(b).decode("ascii")} for b in blobs]


def _revised_prompt(req: ImageRequest) -> str:
    style = "natural" if req.style == "natural" else "vivid"
    return f"A {style}, detailed image of {req.prompt}"


def _openai_echo(req: ImageRequest) -> dict[str, Any]:
    """What OpenAI's gpt-image answers (generations and edits) repeat of the request."""
    return {
        "background": req.background,
        "output_format": req.output_format,
        "quality": req.quality,
        "size": req.size,
    }


def request_ids(request: web.Request) -> dict[str, str]:
    """The envelope's request-id headers, for an answer streamed before the envelope sees it."""
    request_id = request.get(REQUEST_ID, "")
    return {"apim-request-id": request_id, "x-request-id": request_id}


def stream_cut(request: web.Request, req: ImageRequest) -> int | None:
    """How many events a stream sends before its connection is closed; None = all of them.

    `stream_cut_after_events` cuts every stream there; else a drop that `_faults` drew for
    this stream lets half its events through (rounded down). No draw of its own: seeded fault
    sequences stay what they were.
    """
    configured = _state(request).config.stream_cut_after_events
    if configured is not None:
        return configured
    if request.get(CUT_STREAM, False):
        return req.n * (req.partial_images + 1) // 2
    return None


async def stream_answer(
    request: web.Request,
    state: EmulatorState,
    plan: StreamPlan,
    final: Callable[[int], Awaitable[bytes]],
    bill: Callable[[], None],
) -> web.StreamResponse:
    """`streaming.stream_images` wired to this emulator's render threads, log and counters."""
    return await stream_images(
        request,
        plan,
        final,
        state.cache.run,
        state.partials,
        bill,
        lambda: state.stats.event("dropped"),
        request_ids(request),
    )


def stream_plan(
    request: web.Request,
    req: ImageRequest,
    family: EventFamily,
    latency: float,
    started: float,
    usage: dict[str, Any],
) -> StreamPlan:
    """The timeline and the echoed fields of one streamed answer (a generation or an edit)."""
    return StreamPlan(
        family=family,
        prompt=req.prompt,
        n=req.n,
        partial_images=req.partial_images,
        latency=latency,
        started=started,
        echo=_openai_echo(req),
        usage=usage,
        created_at=int(time.time()),
        compression=req.compression,
        cut_after=stream_cut(request, req),
    )


async def _stream_generation(
    request: web.Request,
    deployment: str,
    req: ImageRequest,
    latency: float,
    started: float,
) -> web.StreamResponse:
    state = _state(request)
    specs = _render_specs(req, state.config.image_min_bytes)
    plan = stream_plan(request, req, "image_generation", latency, started, usage(req))

    async def final(index: int) -> bytes:
        return await state.cache.get(specs[index])

    def bill() -> None:
        state.stats.bill(deployment, req.prompt, req.n)

    return await stream_answer(request, state, plan, final, bill)


# --- generation routes --------------------------------------------------------------------------


async def _generate(
    request: web.Request,
    deployment: str,
    spec: ModelSpec,
    body: Any,
    style: Style,
    route: Route,
    api_version: str | None,
) -> web.StreamResponse:
    state = _state(request)
    refusal = _admit(
        request, deployment, "ImageGenerations_Create", api_version, style, stream=asks_stream(body)
    )
    if refusal is not None:
        return refusal
    if spec.family == "flux":
        return await _flux_image_api(request, deployment, spec, body, api_version)
    if body is _INVALID_JSON:
        return errors.invalid_payload("body", style)
    try:
        req = validate_request(body, spec, route)
    except InvalidParameter as exc:
        return errors.invalid_payload(exc.field, style, exc.detail)
    if route == "azure" and api_version is not None and api_version_too_old(spec, api_version):
        return errors.error(
            400,
            "OperationNotSupported",
            f"The imagesGenerate operation does not work with the specified model, {spec.name}, "
            f"at api-version {api_version}. Use api-version {spec.min_api_version} or later.",
        )
    if _prompt_filtered(state, req.prompt):
        state.stats.event("prompt_filtered")
        return errors.prompt_rejected(state.config.content_filter_shape, req.prompt, style)

    latency = state.latency()
    if req.stream:
        started = asyncio.get_running_loop().time()
        return await _stream_generation(request, deployment, req, latency, started)
    if latency > 0:
        await asyncio.sleep(latency)

    created = int(time.time())
    items = await _image_items(request, req, time.time() + state.config.url_ttl_seconds)
    answer: dict[str, Any] = {"created": created, "data": items}
    if spec.family == "dall-e-3":
        for item in items:
            item["revised_prompt"] = _revised_prompt(req)
            if style == "azure":
                item["content_filter_results"] = errors.filter_results()
                item["prompt_filter_results"] = errors.prompt_filter_results()
    if spec.family == "gpt-image":
        if style == "openai":
            answer.update(_openai_echo(req))
        answer["usage"] = usage(req)
    state.stats.bill(deployment, req.prompt, req.n)
    return json_response(200, answer)


def _operation_not_supported(
    spec: ModelSpec, api_version: str | None, why: str, operation: str = "imagesGenerate"
) -> web.Response:
    at = f", at api-version {api_version}" if api_version else ""
    return errors.error(
        400,
        "OperationNotSupported",
        f"The {operation} operation does not work with the specified model, {spec.name}{at}. {why}",
    )


async def _flux_image_api(
    request: web.Request,
    deployment: str,
    spec: ModelSpec,
    body: Any,
    api_version: str | None,
) -> web.Response:
    """FLUX on Foundry's OpenAI-style Image API: one image, answered as a signed URL (A14).

    No content filter: Foundry applies none to FLUX at deployment time (A14), so a trigger word
    only moderates on BFL's own API.
    """
    state = _state(request)
    if spec.name not in flux.IMAGE_API_MODELS:
        return _operation_not_supported(
            spec,
            api_version,
            "FLUX.2 models are served only on /providers/blackforestlabs/v1/{model-path}.",
        )
    if api_version is not None and api_version_too_old(spec, api_version):
        return _operation_not_supported(
            spec, api_version, f"Use api-version preview or {spec.min_api_version} or later."
        )
    try:
        req = flux.validate_image_api(None if body is _INVALID_JSON else body, spec.name)
    except InvalidParameter as exc:
        return errors.flux_invalid(exc.field, exc.detail or exc.reason)
    latency = state.latency()
    if latency > 0:
        await asyncio.sleep(latency)
    render = RenderSpec(
        req.prompt,
        req.width,
        req.height,
        0,
        req.output_format,
        False,
        None,
        state.config.image_min_bytes,
    )
    url = state.urls.url(_base_url(request), render, time.time() + state.config.url_ttl_seconds)
    state.stats.bill(deployment, req.prompt, 1)
    return json_response(200, {"created": int(time.time()), "data": [{"url": url}]})


def _deployment(request: web.Request, name: str, style: Style) -> ModelSpec | web.Response:
    """The model behind deployment ``name``, or the refusal: unknown (404) or retired.

    Checked where the service checks the deployment (before quota and faults), so a retired
    model costs nothing and is never throttled first.
    """
    config = _state(request).config
    model = config.deployments.get(name)
    spec = MODELS.get(model) if model else None
    if spec is None:
        return errors.deployment_not_found(name, style)
    if spec.name in config.retired_models:
        return errors.model_retired(name, style)
    return spec


async def deployment_generations(request: web.Request) -> web.StreamResponse:
    """`POST /openai/deployments/{deployment}/images/generations?api-version=…` (sync)."""
    version, refusal = _azure_gate(request)
    if refusal is not None:
        return refusal
    name = request.match_info["deployment"]
    spec = _deployment(request, name, "azure")
    if isinstance(spec, web.Response):
        return spec
    body = await _json_body(request)
    return await _generate(request, name, spec, body, "azure", "azure", version)


async def azure_v1_generations(request: web.Request) -> web.StreamResponse:
    """`POST /openai/v1/images/generations`: deployment in the body's `model`."""
    if not _authorized(request):
        return errors.unauthorized("azure")
    body = await _json_body(request)
    if body is _INVALID_JSON or not isinstance(body, dict):
        return errors.invalid_payload("body", "azure")
    name = body.get("model")
    if not isinstance(name, str) or not name:
        return errors.invalid_payload("model", "azure")
    spec = _deployment(request, name, "azure")
    if isinstance(spec, web.Response):
        return spec
    return await _generate(request, name, spec, body, "azure", "azure", None)


async def openai_generations(request: web.Request) -> web.StreamResponse:
    """`POST /v1/images/generations`: OpenAI's own API, Bearer key, model in the body."""
    if not _authorized(request, bearer_only=True):
        return errors.unauthorized("openai")
    body = await _json_body(request)
    if body is _INVALID_JSON or not isinstance(body, dict):
        return errors.error(
            400,
            "invalid_json",
            "We could not parse the JSON body of your request.",
            style="openai",
        )
    name = body.get("model") or "dall-e-2"  # OpenAI's documented default
    if not isinstance(name, str):
        return errors.invalid_payload("model", "openai")
    spec = _deployment(request, name, "openai")
    if isinstance(spec, web.Response):
        return spec
    if spec.family == "flux":  # FLUX is Foundry's and BFL's, never on api.openai.com
        return errors.deployment_not_found(name, "openai")
    return await _generate(request, name, spec, body, "openai", "openai", None)


# --- DALL-E 2 asynchronous operations -----------------------------------------------------------


def _retry_after(state: EmulatorState, op: Operation) -> str:
    fixed = state.config.async_retry_after_seconds
    if fixed is not None:
        return str(fixed)
    return str(math.ceil(op.remaining(state.operations.clock())))


async def submit_generation(request: web.Request) -> web.Response:
    """`POST /openai/images/generations:submit?api-version=…` → 202 + operation-location."""
    version, refusal = _azure_gate(request)
    if refusal is not None:
        return refusal
    state = _state(request)
    if ASYNC_DEPLOYMENT in state.config.retired_models:  # the route's implied deployment is gone
        return errors.model_retired(ASYNC_DEPLOYMENT, "azure")
    refusal = _admit(request, ASYNC_DEPLOYMENT, "BeginAzureBatchImageGeneration", version, "azure")
    if refusal is not None:
        return refusal
    body = await _json_body(request)
    if body is _INVALID_JSON:
        return errors.invalid_payload("body", "azure")
    try:
        spec = dataclasses.replace(MODELS["dall-e-2"], max_n=state.config.async_max_n)
        req = validate_request(body, spec, "async")
    except InvalidParameter as exc:
        return errors.invalid_payload(exc.field, "azure", exc.detail)
    if _prompt_filtered(state, req.prompt):
        state.stats.event("prompt_filtered")
        return errors.prompt_rejected(state.config.content_filter_shape, req.prompt, "azure")

    cfg = state.config
    latency = state.latency()
    if latency > cfg.operation_timeout_seconds:
        outcome = "canceled"
    elif state.roll(cfg.image_filter_rate):
        outcome = "failed"
    else:
        outcome = "succeeded"
    created = int(time.time())
    op = Operation(
        id=str(uuid.uuid4()),
        request=req,
        created=created,
        started=state.operations.clock(),
        submitted_at=time.time(),
        latency=latency,
        outcome=outcome,  # type: ignore[arg-type]
        timeout=cfg.operation_timeout_seconds,
        expires=created + math.ceil(cfg.url_ttl_seconds),
    )
    state.operations.add(op)
    if outcome != "canceled":  # the service accepted the work: it is billed, filtered or not
        state.stats.bill(ASYNC_DEPLOYMENT, req.prompt, req.n)
    location = f"{_base_url(request)}/openai/operations/images/{op.id}?api-version={version}"
    return json_response(
        202,
        {"id": op.id, "status": "notRunning", "created": created},
        {cfg.operation_location_header: location, "retry-after": _retry_after(state, op)},
    )


def _find_operation(request: web.Request) -> Operation | web.Response:
    op = _state(request).operations.get(request.match_info["operation_id"])
    if op is None:
        return errors.error(
            404, "NotFound", "The requested operation does not exist or has expired."
        )
    return op


async def get_operation(request: web.Request) -> web.Response:
    """`GET /openai/operations/images/{id}`: status from elapsed time."""
    version, refusal = _azure_gate(request)
    if refusal is not None:
        return refusal
    refusal = _faults(request, "azure", POLL_OPERATION, version)
    if refusal is not None:
        return refusal
    found = _find_operation(request)
    if isinstance(found, web.Response):
        return found
    op = found
    state = _state(request)
    status = op.status(state.operations.clock())
    op.record_poll(status)
    body: dict[str, Any] = {"created": op.created, "id": op.id, "status": status}
    headers: dict[str, str] = {}
    if status == "succeeded":
        req = op.request
        result_created = op.created + math.ceil(op.latency)
        if req.response_format == "url":
            base = _base_url(request)
            specs = _render_specs(req, state.config.image_min_bytes)
            data = [{"url": state.urls.url(base, s, op.expires)} for s in specs]
        else:
            data = await _image_items(request, req, op.expires)
        body = {
            "created": op.created,
            "expires": op.expires,
            "id": op.id,
            "result": {"created": result_created, "data": data},
            "status": status,
        }
    elif status == "failed":
        body["error"] = {"code": "contentFilter", "message": errors.IMAGE_FILTERED_MESSAGE}
        _count_once(state, op, "image_filtered")
    elif status == "canceled":
        body["error"] = {"code": "timeout", "message": errors.TIMED_OUT_MESSAGE}
        _count_once(state, op, "canceled")
    elif status not in END_STATES:
        headers["retry-after"] = _retry_after(state, op)
    return json_response(200, body, headers)


def _count_once(state: EmulatorState, op: Operation, event: str) -> None:
    if not op.extra.get(event):
        op.extra[event] = True
        state.stats.event(event)


async def delete_operation(request: web.Request) -> web.Response:
    """`DELETE /openai/operations/images/{id}` → 204 in an end state, 409 before."""
    _, refusal = _azure_gate(request)
    if refusal is not None:
        return refusal
    found = _find_operation(request)
    if isinstance(found, web.Response):
        return found
    status = found.status(_state(request).operations.clock())
    if status not in END_STATES:
        return errors.error(
            409,
            "Conflict",
            f"The operation is {status}; only a finished operation can be deleted.",
        )
    found.deleted = True
    return web.Response(status=204)


# --- image downloads ----------------------------------------------------------------------------


def _blob_not_found() -> web.Response:
    return web.Response(
        status=404,
        text='<?xml version="1.0" encoding="utf-8"?><Error><Code>BlobNotFound</Code>'
        "<Message>The specified blob does not exist.</Message></Error>",
        content_type="application/xml",
        headers={"x-ms-error-code": "BlobNotFound"},
    )


async def download_image(request: web.Request) -> web.StreamResponse:
    """`GET /_emulator/images/{token}.{ext}?se=…&sig=…`: the signed URL of a result."""
    state = _state(request)
    name = request.match_info["name"]
    se, sig = request.query.get("se"), request.query.get("sig")
    verdict = state.urls.verify(name, se, sig, time.time())
    if verdict != "ok":
        return errors.sas_failure(verdict, se)
    token, _, ext = name.partition(".")
    spec = state.urls.lookup(token)
    if spec is None or spec.extension != ext:
        return _blob_not_found()
    return await stream_image(request, spec, token)


async def stream_image(request: web.Request, spec: Servable, etag: str) -> web.StreamResponse:
    """Send the image of ``spec`` as Blob Storage would, with the download faults applied.

    Shared by the signed image URLs and BFL's samples, so throttling and truncation test every
    download path the app has. A kept edit that the cache has evicted is a missing blob.
    """
    state = _state(request)
    if isinstance(spec, Rendered):
        kept = state.cache.kept(spec)
        if kept is None:
            return _blob_not_found()
        data = kept
    else:
        data = await state.cache.get(spec)
    state.stats.event("download")
    cfg = state.config
    truncate = state.roll(cfg.truncate_rate)
    bps = cfg.download_bytes_per_second

    response = web.StreamResponse(
        status=200,
        headers={
            "Content-Type": content_type(spec.fmt),
            "x-ms-blob-type": "BlockBlob",
            "x-ms-request-id": str(uuid.uuid4()),
            "ETag": f'"{etag}"',
        },
    )
    response.content_length = len(data)
    await response.prepare(request)
    to_send = data[: len(data) // 2] if truncate else data
    try:
        if bps > 0:
            state.stats.event("throttled")
            chunk = max(1, bps // 20)
            for start in range(0, len(to_send), chunk):
                piece = to_send[start : start + chunk]
                await response.write(piece)
                await asyncio.sleep(len(piece) / bps)
        else:
            await response.write(to_send)
    except ConnectionError:  # the client gave up on a slow download: nothing more to do
        return response
    if truncate:
        state.stats.event("truncated")
        if request.transport is not None:
            request.transport.close()
        return response
    await response.write_eof()
    return response


# --- control routes -----------------------------------------------------------------------------


async def health(request: web.Request) -> web.Response:
    return json_response(200, {"status": "ok"})


async def get_config(request: web.Request) -> web.Response:
    return json_response(200, _state(request).config.public_view())


async def put_config(request: web.Request) -> web.Response:
    state = _state(request)
    body = await _json_body(request)
    if body is _INVALID_JSON:
        return _config_error("config: body is not valid JSON")
    try:
        new = apply_patch(state.config, body)
    except ConfigError as exc:
        return _config_error(str(exc))
    state.set_config(new, reseed=isinstance(body, dict) and "seed" in body)
    return json_response(200, new.public_view())


def _config_error(message: str) -> web.Response:
    return json_response(400, {"error": {"code": "invalidConfig", "message": message}})


async def reset(request: web.Request) -> web.Response:
    _state(request).reset()
    return json_response(200, {"status": "reset"})


async def stats(request: web.Request) -> web.Response:
    return json_response(200, _state(request).stats.snapshot())


async def list_partials(request: web.Request) -> web.Response:
    """`GET /_emulator/partials`: every partial frame streamed (the newest 1000), oldest first."""
    return json_response(200, {"partials": _state(request).partials.snapshot()})


async def list_operations(request: web.Request) -> web.Response:
    """`GET /_emulator/operations[?prompt=…]`: each DALL-E 2 operation's and BFL task's timeline.

    Both kinds in one list, oldest submit first, so a benchmark reads ready → noticed the same
    way whichever API the app used.
    """
    state = _state(request)
    prompt = request.query.get("prompt")
    now = state.operations.clock()
    ops = [
        {"api": "azure-async", **op.timeline(now)}
        for op in state.operations.all()
        if prompt is None or op.request.prompt == prompt
    ]
    bfl_now = state.bfl.clock()
    ops += [
        task.timeline(bfl_now)
        for task in state.bfl.all()
        if prompt is None or task.request.prompt == prompt
    ]
    ops.sort(key=lambda entry: float(entry["submitted_at"]))  # type: ignore[arg-type]
    return json_response(200, {"operations": ops})


# --- wiring -------------------------------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _envelope(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request ids on every answer, JSON for unknown routes, status counts, no crash ever."""
    request_id = str(uuid.uuid4())
    request[REQUEST_ID] = request_id  # a streamed answer sends its headers itself
    control = request.path.startswith(_CONTROL_PREFIX)  # incl. downloads: counted apart
    try:
        response = await handler(request)
    except (_Dropped, ConnectionError):
        return web.Response(status=499)  # never written: the transport is closed
    except web.HTTPException as exc:
        if exc.status == 405:
            response = errors.error(405, "405", "Method not allowed")
        elif exc.status == 404:
            response = errors.error(404, "404", "Resource not found")
        else:
            raise
    except Exception:
        log.exception("unhandled error for %s %s", request.method, request.path)
        started = request.get(STREAM_RESPONSE)
        if started is None:
            response = errors.server_error(500, "azure")
        else:  # its status and first events are out: a 500 now would be garbage in the stream
            if request.transport is not None:
                request.transport.close()
            response = started
    if not response.prepared:
        response.headers["apim-request-id"] = request_id
        response.headers["x-request-id"] = request_id
    if not control:
        _state(request).stats.served(response.status)
    return response


async def _close_cache(app: web.Application) -> None:
    app[STATE].cache.close()


def create_app(config: EmulatorConfig | None = None) -> web.Application:
    """The whole emulator as an aiohttp application (in-process use: `aiohttp.test_utils`)."""
    app = web.Application(middlewares=[_envelope], client_max_size=8 * 1024 * 1024)
    app[STATE] = EmulatorState(startup=config or EmulatorConfig())
    r = app.router
    r.add_post("/openai/images/generations:submit", submit_generation)
    r.add_get("/openai/operations/images/{operation_id}", get_operation)
    r.add_delete("/openai/operations/images/{operation_id}", delete_operation)
    r.add_post("/openai/deployments/{deployment}/images/generations", deployment_generations)
    r.add_post("/openai/v1/images/generations", azure_v1_generations)
    r.add_post("/v1/images/generations", openai_generations)
    r.add_get("/_emulator/images/{name}", download_image)
    r.add_get("/_emulator/health", health)
    r.add_get("/_emulator/config", get_config)
    r.add_put("/_emulator/config", put_config)
    r.add_patch("/_emulator/config", put_config)
    r.add_post("/_emulator/reset", reset)
    r.add_get("/_emulator/stats", stats)
    r.add_get("/_emulator/operations", list_operations)
    r.add_get("/_emulator/partials", list_partials)
    # Imported here: the FLUX and edit routes build on this module's pipeline helpers.
    from devstack.emulator.edit_routes import add_edit_routes
    from devstack.emulator.flux_routes import add_flux_routes

    add_edit_routes(r)
    add_flux_routes(r)
    app.on_cleanup.append(_close_cache)
    return app
