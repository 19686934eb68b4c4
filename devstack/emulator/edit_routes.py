"""The `images/edits` routes: Azure's deployment and v1 routes, and OpenAI's own.

Each goes through the generations' pipeline (app.py), in the same order: auth → api-version →
deployment (unknown, retired) → quota (429) → injected faults → operation support → body →
content filter → decoding the inputs → latency → drawing → billing. Only the body is new: files
(multipart everywhere, JSON too on OpenAI), checked in `edit_requests`, drawn by `edits`. A
gpt-image edit with `stream` true answers `image_edit.*` events once every check has passed
(`streaming`).

FLUX.1-Kontext-pro edits on Foundry's Image API answer like its generations (`data[0].url`,
A14); the BFL routes' reference images are `flux_routes`'.
"""

from __future__ import annotations

import asyncio
import base64
import math
import time
from typing import Any

from aiohttp import web

from devstack.emulator import edits, errors, flux
from devstack.emulator.app import (
    _INVALID_JSON,
    _TOO_LARGE,
    _admit,
    _authorized,
    _azure_gate,
    _base_url,
    _deployment,
    _json_body,
    _openai_echo,
    _operation_not_supported,
    _prompt_filtered,
    _state,
    asks_stream,
    stream_answer,
    stream_plan,
)
from devstack.emulator.config import EmulatorConfig
from devstack.emulator.edit_requests import (
    BodyTooLarge,
    EditForm,
    GptImageEdit,
    Limits,
    image_label,
    read_json_edit,
    read_multipart,
    validate_gpt_image_edit,
    validate_kontext_edit,
)
from devstack.emulator.edits import InputInfo, Prepared, UndecodableImage
from devstack.emulator.errors import Style, json_response
from devstack.emulator.images import pad
from devstack.emulator.models import (
    ImageRequest,
    InvalidParameter,
    ModelSpec,
    Route,
    api_version_too_old,
    usage,
)

EDIT_OPERATION = "ImageEdits_Create"  # names the route in Azure's 429 message
OPENAI_DEFAULT_MODEL = "gpt-image-1.5"  # the JSON body's default in OpenAI's spec 2.3.0 (O1)
GPT_IMAGE_MODELS = "gpt-image-1, gpt-image-1-mini, gpt-image-1.5, gpt-image-2"

# What `_read_body` gives: the form, a problem to answer after admission, or an answer now (413).
Body = EditForm | InvalidParameter


def _limits(cfg: EmulatorConfig) -> Limits:
    return Limits(cfg.edit_image_max_bytes, cfg.edit_mask_max_bytes, cfg.bfl_input_image_max_bytes)


async def _read_body(
    request: web.Request, style: Style, *, json_allowed: bool
) -> Body | web.Response:
    """Read the body once, capped at `edit_max_body_bytes` (413 above it, answered at once)."""
    limit = _state(request).config.edit_max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        return errors.body_too_large(limit, style)
    ctype = request.content_type
    try:
        if ctype == "multipart/form-data":
            return await read_multipart(request, limit)
        if json_allowed and ctype == "application/json":
            body = await _json_body(request, limit)
            if body is _TOO_LARGE:
                return errors.body_too_large(limit, style)
            if body is _INVALID_JSON:
                return InvalidParameter(
                    "body", "invalid json", "We could not parse the JSON body of your request."
                )
            return read_json_edit(body)
    except BodyTooLarge:
        return errors.body_too_large(limit, style)
    except InvalidParameter as exc:
        return exc
    sent = ctype or "a body without a Content-Type"
    if json_allowed:
        why = f"images/edits takes multipart/form-data or application/json, not {sent}."
    else:
        why = f"images/edits takes multipart/form-data (fields image, mask, prompt, …), not {sent}."
    return InvalidParameter("body", "content type", why)


def _image_tokens(info: InputInfo, fidelity: str | None) -> int:
    """Input tokens of one image, by OpenAI's vision tiling (512-px tiles after fitting the
    image in 2048x2048 with the short side at most 768); high fidelity counts double."""
    w, h = float(info.width), float(info.height)
    scale = min(1.0, 2048 / max(w, h))
    w, h = w * scale, h * scale
    scale = min(1.0, 768 / min(w, h))
    tiles = math.ceil(w * scale / 512) * math.ceil(h * scale / 512)
    tokens = 85 + 170 * tiles
    return tokens * 2 if fidelity == "high" else tokens


def _edit_usage(edit: GptImageEdit) -> dict[str, Any]:
    answer = usage(edit.request)
    image_tokens = sum(_image_tokens(info, edit.input_fidelity) for info in edit.infos)
    answer["input_tokens"] += image_tokens
    answer["input_tokens_details"]["image_tokens"] = image_tokens
    answer["total_tokens"] += image_tokens
    return answer


def _draw_one(prepared: Prepared, req: ImageRequest, index: int, min_bytes: int) -> bytes:
    compression = req.compression if req.output_format != "png" else None
    return pad(
        edits.compose(prepared, req.prompt, index, req.output_format, compression),
        req.output_format,
        min_bytes,
    )


def _draw(prepared: Prepared, req: ImageRequest, min_bytes: int) -> list[bytes]:
    return [_draw_one(prepared, req, i, min_bytes) for i in range(req.n)]


async def _stream_edit(
    request: web.Request,
    deployment: str,
    edit: GptImageEdit,
    prepared: Prepared,
    latency: float,
    started: float,
) -> web.StreamResponse:
    """The edit as `image_edit.*` events: each image drawn only when its turn comes."""
    state = _state(request)
    req = edit.request
    min_bytes = state.config.image_min_bytes
    plan = stream_plan(request, req, "image_edit", latency, started, _edit_usage(edit))

    async def final(index: int) -> bytes:
        drawn: bytes = await state.cache.run(_draw_one, prepared, req, index, min_bytes)
        return drawn

    def bill() -> None:
        state.stats.bill(deployment, req.prompt, req.n, edit=True)

    return await stream_answer(request, state, plan, final, bill)


def _undecodable(exc: UndecodableImage, form: EditForm) -> tuple[str, str]:
    """(field, sentence) for an input that failed to decode after its header read fine."""
    if exc.index is None:
        return "mask", f"mask {exc.reason}."
    field, label = image_label(form, exc.index)
    return field, f"{label} {exc.reason}."


async def _sleep_latency(request: web.Request) -> None:
    latency = _state(request).latency()
    if latency > 0:
        await asyncio.sleep(latency)


def _not_an_editor(spec: ModelSpec, api_version: str | None, style: Style) -> web.Response:
    """dall-e-* (and FLUX without Kontext): Azure's OperationNotSupported, OpenAI's 400."""
    if style == "openai":
        return errors.error(
            400,
            "invalid_value",
            f"Invalid value: '{spec.name}'. Image edits take a GPT image model "
            f"({GPT_IMAGE_MODELS}).",
            style="openai",
            param="model",
        )
    if spec.name in (flux.FLUX_2_PRO, flux.FLUX_2_FLEX):
        why = (
            "FLUX.2 models are served only on /providers/blackforestlabs/v1/{model-path}, where "
            "input_image, input_image_2, … are the images to edit."
        )
    elif spec.family == "flux":
        why = f"{spec.name} does not edit images: use {flux.FLUX_KONTEXT_PRO} or FLUX.2."
    else:
        why = f"Image edits need a gpt-image ({GPT_IMAGE_MODELS}) or {flux.FLUX_KONTEXT_PRO} model."
    return _operation_not_supported(spec, api_version, why, "imagesEdit")


async def _edit(
    request: web.Request,
    deployment: str,
    spec: ModelSpec,
    body: Body,
    style: Style,
    route: Route,
    api_version: str | None,
) -> web.StreamResponse:
    state = _state(request)
    fields = body.fields if isinstance(body, EditForm) else None
    refusal = _admit(
        request, deployment, EDIT_OPERATION, api_version, style, stream=asks_stream(fields)
    )
    if refusal is not None:
        return refusal
    if spec.name == flux.FLUX_KONTEXT_PRO:
        return await _kontext_edit(request, deployment, spec, body, api_version)
    if spec.family != "gpt-image":
        return _not_an_editor(spec, api_version, style)
    if route == "azure" and api_version is not None and api_version_too_old(spec, api_version):
        return _operation_not_supported(
            spec,
            api_version,
            f"Use api-version {spec.min_api_version} or later.",
            "imagesEdit",
        )
    if isinstance(body, InvalidParameter):
        return errors.edit_invalid(body.field, style, body.detail)
    try:
        edit = validate_gpt_image_edit(body, spec, route, _limits(state.config))
    except InvalidParameter as exc:
        return errors.edit_invalid(exc.field, style, exc.detail)
    req = edit.request
    if _prompt_filtered(state, req.prompt):
        state.stats.event("prompt_filtered")
        return errors.prompt_rejected(state.config.content_filter_shape, req.prompt, style)
    try:
        prepared = await state.cache.run(
            edits.prepare,
            edit.images,
            edit.mask,
            req.prompt,
            req.width,
            req.height,
            req.transparent,
        )
    except UndecodableImage as exc:
        field, detail = _undecodable(exc, body)
        return errors.edit_invalid(field, style, detail)

    if req.stream:
        latency = state.latency()
        started = asyncio.get_running_loop().time()
        return await _stream_edit(request, deployment, edit, prepared, latency, started)
    await _sleep_latency(request)
    blobs = await state.cache.run(_draw, prepared, req, state.config.image_min_bytes)
    items = [{"b64_json": base64.b64encode(b).decode("ascii")} for b in blobs]
    answer: dict[str, Any] = {"created": int(time.time()), "data": items}
    if style == "openai":
        answer.update(_openai_echo(req))
    answer["usage"] = _edit_usage(edit)
    state.stats.bill(deployment, req.prompt, req.n, edit=True)
    return json_response(200, answer)


async def _kontext_edit(
    request: web.Request, deployment: str, spec: ModelSpec, body: Body, api_version: str | None
) -> web.Response:
    """FLUX.1-Kontext-pro on the Image API: one image in, one signed URL out (A14)."""
    state = _state(request)
    if api_version is not None and api_version_too_old(spec, api_version):
        return _operation_not_supported(
            spec,
            api_version,
            f"Use api-version preview or {spec.min_api_version} or later.",
            "imagesEdit",
        )
    if isinstance(body, InvalidParameter):
        return errors.flux_invalid(body.field, body.detail or body.reason)
    try:
        edit = validate_kontext_edit(body, _limits(state.config))
    except InvalidParameter as exc:
        return errors.flux_invalid(exc.field, exc.detail or exc.reason)
    req = edit.request
    try:
        prepared = await state.cache.run(
            edits.prepare, (edit.image,), None, req.prompt, req.width, req.height, False
        )
    except UndecodableImage as exc:
        return errors.flux_invalid(*_undecodable(exc, body))
    await _sleep_latency(request)
    data = await state.cache.run(edits.compose, prepared, req.prompt, 0, req.output_format)
    kept = state.cache.keep(
        pad(data, req.output_format, state.config.image_min_bytes), req.output_format
    )
    url = state.urls.url(_base_url(request), kept, time.time() + state.config.url_ttl_seconds)
    state.stats.bill(deployment, req.prompt, 1, edit=True)
    return json_response(200, {"created": int(time.time()), "data": [{"url": url}]})


# --- handlers -----------------------------------------------------------------------------------


async def deployment_edits(request: web.Request) -> web.StreamResponse:
    """`POST /openai/deployments/{deployment}/images/edits?api-version=…` (multipart only)."""
    version, refusal = _azure_gate(request)
    if refusal is not None:
        return refusal
    name = request.match_info["deployment"]
    spec = _deployment(request, name, "azure")
    if isinstance(spec, web.Response):
        return spec
    body = await _read_body(request, "azure", json_allowed=False)
    if isinstance(body, web.Response):
        return body
    return await _edit(request, name, spec, body, "azure", "azure", version)


async def azure_v1_edits(request: web.Request) -> web.StreamResponse:
    """`POST /openai/v1/images/edits`: multipart, the deployment in the `model` field."""
    if not _authorized(request):
        return errors.unauthorized("azure")
    body = await _read_body(request, "azure", json_allowed=False)
    if isinstance(body, web.Response):
        return body
    if isinstance(body, InvalidParameter):
        return errors.edit_invalid(body.field, "azure", body.detail)
    name = body.fields.get("model")
    if not isinstance(name, str) or not name:
        return errors.edit_invalid("model", "azure", "model is required: the deployment name.")
    spec = _deployment(request, name, "azure")
    if isinstance(spec, web.Response):
        return spec
    return await _edit(request, name, spec, body, "azure", "azure", None)


async def openai_edits(request: web.Request) -> web.StreamResponse:
    """`POST /v1/images/edits`: OpenAI's own API, Bearer key, multipart or JSON."""
    if not _authorized(request, bearer_only=True):
        return errors.unauthorized("openai")
    body = await _read_body(request, "openai", json_allowed=True)
    if isinstance(body, web.Response):
        return body
    if isinstance(body, InvalidParameter):
        return errors.edit_invalid(body.field, "openai", body.detail)
    name = body.fields.get("model") or OPENAI_DEFAULT_MODEL
    if not isinstance(name, str):
        return errors.edit_invalid("model", "openai", "model must be a string.")
    spec = _deployment(request, name, "openai")
    if isinstance(spec, web.Response):
        return spec
    if spec.family == "flux":  # FLUX is Foundry's and BFL's, never on api.openai.com
        return errors.deployment_not_found(name, "openai")
    return await _edit(request, name, spec, body, "openai", "openai", None)


def add_edit_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/openai/deployments/{deployment}/images/edits", deployment_edits)
    router.add_post("/openai/v1/images/edits", azure_v1_edits)
    router.add_post("/v1/images/edits", openai_edits)
