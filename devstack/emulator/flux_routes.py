"""The two BFL doors to FLUX: Foundry's synchronous provider route and BFL's own asynchronous API.

* `POST /providers/blackforestlabs/v1/{path}?api-version=…` (Foundry, Bearer key): answers the
  image at once as ``{"data": [{"b64_json"}]}`` (M1), billed and throttled like any deployment.
* `POST /v1/{path}` + `GET /v1/get_result?id=` (BFL, ``x-key``): a task that is `Pending` for the
  generation time, then `Ready` with a signed `sample` URL that expires (B1-B9).

The Image API door (`/openai/deployments/{FLUX deployment}/images/generations`) lives in `app`
with the other deployment routes. Body rules are `flux.py`'s; this module only words them.
"""

from __future__ import annotations

import asyncio
import base64
import math
import time
import uuid
from typing import Any

from aiohttp import web

from devstack.emulator import edits, errors, flux
from devstack.emulator.app import (
    _INVALID_JSON,
    _TOO_LARGE,
    _admit,
    _api_version,
    _authorized,
    _base_url,
    _blob_not_found,
    _drop,
    _json_body,
    _prompt_filtered,
    _state,
    stream_image,
)
from devstack.emulator.bfl import BflTask, Outcome, Sample
from devstack.emulator.edits import Prepared, UndecodableImage
from devstack.emulator.errors import json_response
from devstack.emulator.images import EXTENSIONS, pad
from devstack.emulator.models import MODELS
from devstack.emulator.urls import RenderSpec

PROVIDER_OPERATION = "BlackForestLabs_Generate"  # names the route in Azure's 429 message
SAMPLE_ROUTE = "/_emulator/bfl/samples/{name}"
_ERROR_DETAIL = "Internal error while generating the image."


def _render_spec(req: flux.BflRequest, min_bytes: int) -> RenderSpec:
    return RenderSpec(
        req.prompt, req.width, req.height, 0, req.output_format, False, None, min_bytes, req.seed
    )


async def _prepare_edit(
    request: web.Request, req: flux.BflRequest, refs: tuple[flux.Reference, ...]
) -> Prepared | tuple[str, str]:
    """Decode the reference images of an edit: prepared, or (key, message) of the one that fails.

    Their headers were read while validating; this is the full decode, before any latency.
    """
    try:
        return await _state(request).cache.run(
            edits.prepare, [r.data for r in refs], None, req.prompt, req.width, req.height, False
        )
    except UndecodableImage as exc:
        key = refs[exc.index or 0].key
        return key, f"Value error, {key} {exc.reason}"


def _draw_edit(prepared: Prepared, req: flux.BflRequest, min_bytes: int) -> bytes:
    drawn = edits.compose(prepared, req.prompt, 0, req.output_format, None, req.seed)
    return pad(drawn, req.output_format, min_bytes)


# --- Foundry: /providers/blackforestlabs/v1/{path} ----------------------------------------------


def _find_deployment(deployments: dict[str, str], name: str) -> str | None:
    """The deployment ``name`` refers to: exact match first, then case-insensitively.

    Microsoft's sample passes the deployment name in lower case (M1), so `flux.2-pro` must find
    the deployment `FLUX.2-pro`.
    """
    if name in deployments:
        return name
    lowered = name.lower()
    return next((d for d in deployments if d.lower() == lowered), None)


async def provider_generate(request: web.Request) -> web.Response:
    """`POST /providers/blackforestlabs/v1/{path}?api-version=…`: one FLUX image, synchronously.

    Order as on the other Azure routes: key (Bearer only; `api-key` here is unverified, so it is
    refused) → api-version → model path → deployment named in the body → quota and faults →
    body → latency → billing.
    """
    if not _authorized(request, bearer_only=True):
        return errors.unauthorized("azure")
    version, refusal = _api_version(request)
    if refusal is not None:
        return refusal
    model = flux.BFL_PATHS.get(request.match_info["path"])
    if model is None:
        return errors.error(404, "404", "Resource not found")
    state = _state(request)
    limit = state.config.edit_max_body_bytes  # reference images make big JSON bodies
    body = await _json_body(request, limit)
    if body is _TOO_LARGE:
        return errors.body_too_large(limit, "azure")
    if body is _INVALID_JSON or not isinstance(body, dict):
        return errors.flux_invalid("body", "The request body must be a JSON object.")
    name = body.get("model")
    if not isinstance(name, str) or not name:
        return errors.flux_invalid("model", "model is required: the name of your deployment.")
    deployment = _find_deployment(state.config.deployments, name)
    if deployment is None:
        return errors.deployment_not_found(name, "azure")
    spec = MODELS[state.config.deployments[deployment]]
    if spec.name in state.config.retired_models:
        return errors.model_retired(name, "azure")
    if spec.name != model:
        return errors.flux_invalid(
            "model",
            f"deployment {deployment} serves {spec.name}, not {model} "
            f"(/providers/blackforestlabs/v1/{request.match_info['path']}).",
        )
    refusal = _admit(request, deployment, PROVIDER_OPERATION, version, "azure")
    if refusal is not None:
        return refusal
    req, problems, refs = flux.validate_bfl(
        body, model, max_image_bytes=state.config.bfl_input_image_max_bytes
    )
    if req is None:
        field, msg, _ = problems[0]
        return errors.flux_invalid(field, f"{msg}.")
    prepared = await _prepare_edit(request, req, refs) if refs else None
    if isinstance(prepared, tuple):
        return errors.flux_invalid(prepared[0], f"{prepared[1]}.")
    latency = state.latency()
    if latency > 0:
        await asyncio.sleep(latency)
    min_bytes = state.config.image_min_bytes
    if prepared is not None:
        data = await state.cache.run(_draw_edit, prepared, req, min_bytes)
    else:
        data = await state.cache.get(_render_spec(req, min_bytes))
    state.stats.bill(deployment, req.prompt, 1, edit=prepared is not None)
    return json_response(200, {"data": [{"b64_json": base64.b64encode(data).decode("ascii")}]})


# --- BFL's own API: /v1/{path}, /v1/get_result --------------------------------------------------


def _x_key_refusal(request: web.Request) -> web.Response | None:
    """403 as BFL's FastAPI answers it; the wording is the emulator's (unverified)."""
    key = request.headers.get("x-key")
    if not key:
        return errors.bfl_detail(403, "Not authenticated")
    if key not in _state(request).config.api_keys:
        return errors.bfl_detail(403, "Invalid API key")
    return None


def _bfl_faults(request: web.Request) -> web.Response | None:
    """The emulator's random 429 / drop / 5xx, in BFL's ``{"detail"}`` shape; None = proceed.

    Drawn in the same order and from the same RNG as on the Azure routes, so a seeded run stays
    reproducible whichever API the app uses.
    """
    state = _state(request)
    cfg = state.config
    if state.roll(cfg.error_rate_429):
        state.stats.event("injected_429")
        wait = str(cfg.error_429_retry_after_seconds)
        return errors.bfl_detail(429, "Too many requests", {"Retry-After": wait})
    if state.roll(cfg.drop_rate):
        _drop(request)
    if cfg.error_rate_500 or cfg.error_rate_503:
        draw = state.rng.random()
        if draw < cfg.error_rate_500:
            return errors.bfl_detail(500, "Internal Server Error")
        if draw < cfg.error_rate_500 + cfg.error_rate_503:
            return errors.bfl_detail(503, "Service Unavailable")
    return None


def _body_loc(field: str) -> list[str | int]:
    return ["body"] if field in ("size", "body") else ["body", field]


async def bfl_submit(request: web.Request) -> web.Response:
    """`POST /v1/{path}` → 200 ``{id, polling_url, cost, input_mp, output_mp}``.

    The outcome is decided here (request moderated, error, content moderated, ready) and the
    task billed here, once: polls only read the clock.
    """
    refusal = _x_key_refusal(request)
    if refusal is not None:
        return refusal
    path = request.match_info["path"]
    model = flux.BFL_PATHS.get(path)
    if model is None:
        return errors.bfl_detail(404, "Not Found")
    refusal = _bfl_faults(request)
    if refusal is not None:
        return refusal
    limit = _state(request).config.edit_max_body_bytes  # reference images make big bodies
    body = await _json_body(request, limit)
    if body is _TOO_LARGE:
        return errors.body_too_large(limit, "bfl")
    if body is _INVALID_JSON:
        return errors.bfl_validation([(["body", 0], "JSON decode error", "json_invalid")])
    if not isinstance(body, dict):
        return errors.bfl_validation(
            [
                (
                    ["body"],
                    "Input should be a valid dictionary or object to extract fields from",
                    "model_attributes_type",
                )
            ]
        )
    state = _state(request)
    cfg = state.config
    req, problems, refs = flux.validate_bfl(
        body, model, own_api=True, max_image_bytes=cfg.bfl_input_image_max_bytes
    )
    if req is None:
        return errors.bfl_validation([(_body_loc(f), msg, kind) for f, msg, kind in problems])
    prepared = await _prepare_edit(request, req, refs) if refs else None
    if isinstance(prepared, tuple):
        return errors.bfl_validation([(["body", prepared[0]], prepared[1], "value_error")])

    store = state.bfl
    now = store.clock()
    pending = store.pending(now)
    if len(pending) >= cfg.bfl_max_active_tasks:
        wait = max(1, math.ceil(min(t.remaining(now) for t in pending)))
        return errors.bfl_detail(
            429,
            f"You have reached the maximum number of active tasks "
            f"({cfg.bfl_max_active_tasks}). Wait for a task to finish before submitting more.",
            {"Retry-After": str(wait)},
        )

    latency = state.latency()
    outcome: Outcome = "Ready"
    ends_after = latency
    error: str | None = None
    if _prompt_filtered(state, req.prompt):
        outcome, ends_after = "Request Moderated", 0.0
        state.stats.event("prompt_filtered")
    elif latency > cfg.operation_timeout_seconds:
        outcome, ends_after, error = "Error", cfg.operation_timeout_seconds, "task has timed out"
    elif state.roll(cfg.bfl_error_rate):
        outcome, error = "Error", _ERROR_DETAIL
    elif state.roll(cfg.image_filter_rate):
        outcome = "Content Moderated"
    task = BflTask(
        id=str(uuid.uuid4()),
        path=path,
        request=req,
        outcome=outcome,
        started=now,
        submitted_at=time.time(),
        ends_after=ends_after,
        error=error,
    )
    sample = None
    if outcome == "Ready" and prepared is not None:  # an edit: drawn now, kept by its bytes
        data = await state.cache.run(_draw_edit, prepared, req, cfg.image_min_bytes)
        sample = Sample(state.cache.keep(data, req.output_format), task.ready_at)
    elif outcome == "Ready":
        sample = Sample(_render_spec(req, cfg.image_min_bytes), task.ready_at)
    store.add(task, sample)
    if outcome in ("Ready", "Content Moderated"):  # a generation ran: it is paid for
        state.stats.bill(model, req.prompt, 1, edit=prepared is not None)
    return json_response(
        200,
        {
            "id": task.id,
            "polling_url": f"{_base_url(request)}/v1/get_result?id={task.id}",
            "cost": req.cost,
            "input_mp": req.input_mp,
            "output_mp": req.output_mp,
        },
    )


def _sample_url(request: web.Request, task: BflTask) -> str:
    state = _state(request)
    name = f"{task.id}.{EXTENSIONS[task.request.output_format]}"
    expires = task.ready_at + state.config.bfl_sample_ttl_seconds
    query = state.urls.signed_query(name, expires)
    return f"{_base_url(request)}/_emulator/bfl/samples/{name}?{query}"


def _result(request: web.Request, task: BflTask, status: str, now: float) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": task.id,
        "status": status,
        "result": None,
        "progress": None,
        "details": None,
    }
    req = task.request
    if status == "Pending":
        body["progress"] = task.progress(now)
    elif status == "Ready":
        body["progress"] = 1.0
        body["result"] = {
            "sample": _sample_url(request, task),
            "prompt": req.prompt,
            "seed": req.seed,
            "start_time": task.submitted_at,
            "end_time": task.ready_at,
            "duration": task.ends_after,
        }
    elif status == "Request Moderated":
        body["details"] = {
            "moderation_reasons": ["prompt"],
            "message": "The prompt was flagged by the content moderation system.",
        }
    elif status == "Content Moderated":
        body["details"] = {
            "moderation_reasons": ["output"],
            "message": "The generated image was flagged by the content moderation system.",
        }
    else:
        body["details"] = {"error": task.error}
    return body


async def bfl_get_result(request: web.Request) -> web.Response:
    """`GET /v1/get_result?id=…`: the task's state now; `Task not found` for an unknown id."""
    refusal = _x_key_refusal(request)
    if refusal is not None:
        return refusal
    refusal = _bfl_faults(request)
    if refusal is not None:
        return refusal
    task_id = request.query.get("id")
    if not task_id:
        return errors.bfl_validation([(["query", "id"], "Field required", "missing")])
    state = _state(request)
    task = state.bfl.get(task_id)
    if task is None:
        return json_response(
            200,
            {
                "id": task_id,
                "status": "Task not found",
                "result": None,
                "progress": None,
                "details": None,
            },
        )
    now = state.bfl.clock()
    status = task.status(now)
    task.record_poll(status)
    if status == "Content Moderated":
        _count_once(request, task, "image_filtered")
    return json_response(200, _result(request, task, status, now))


def _count_once(request: web.Request, task: BflTask, event: str) -> None:
    if task.polls_until_done == task.polls:  # the poll that first saw the end state
        _state(request).stats.event(event)


async def download_sample(request: web.Request) -> web.StreamResponse:
    """`GET /_emulator/bfl/samples/{id}.{ext}?se=…&sig=…`: a Ready task's image.

    Expiry is the task's ready time plus the *current* `bfl_sample_ttl_seconds`, checked to the
    sub-second, so a test can expire a sample by lowering the option instead of waiting.
    """
    state = _state(request)
    name = request.match_info["name"]
    se, sig = request.query.get("se"), request.query.get("sig")
    verdict = state.urls.verify(name, se, sig, 0.0)  # signature and form only
    if verdict != "ok":
        return errors.sas_failure(verdict, se)
    task_id, _, ext = name.partition(".")
    sample = state.bfl.sample(task_id)
    if sample is None or sample.spec.extension != ext:
        return _blob_not_found()
    if time.time() >= sample.ready_at + state.config.bfl_sample_ttl_seconds:
        return errors.sas_failure("expired", se)
    return await stream_image(request, sample.spec, task_id)


def add_flux_routes(router: web.UrlDispatcher) -> None:
    """Register the BFL routes; `/v1/{path}` never matches the two-segment `/v1/images/…`."""
    router.add_post("/providers/blackforestlabs/v1/{path}", provider_generate)
    router.add_get("/v1/get_result", bfl_get_result)
    router.add_post("/v1/{path}", bfl_submit)
    router.add_get(SAMPLE_ROUTE, download_sample)
