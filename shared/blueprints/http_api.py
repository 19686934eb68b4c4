"""The public HTTP API: start a job, follow it, fetch its images.

Follows the asynchronous request-reply pattern that Power Automate understands: `202` with
`Location` and `Retry-After` until the job is done, then `200` with the result, or a non-retryable
`4xx` when the job failed. The `Location` is our own status route, never Durable's management URLs
(those carry the system key). SAS URLs are made here, on read, so they never sit in history.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import azure.durable_functions as df
import azure.functions as func

from shared.ids import is_job_id
from shared.orchestration.names import ORCHESTRATOR

if TYPE_CHECKING:
    from shared.links import Signature
    from shared.models import JobInput, JobOutput, JobResult, PreviewView, Progress
    from shared.storage.store import PreviewBlob

# The models (pydantic), settings and runtime are imported inside the handlers, on the first
# request: function_app.py imports this module on every cold start, only to register the routes.

bp = df.Blueprint()
log = logging.getLogger(__name__)

RETRY_AFTER_S = 2
MAX_RETRY_AFTER_S = 30
IDEMPOTENCY_HEADER = "Idempotency-Key"
_IDEMPOTENCY_NS = uuid.UUID("5d0f4b8e-3f49-4a7c-9a8e-0c2f1d1c6a11")
RUNNING = {"Pending", "Running", "ContinuedAsNew", "Suspended"}
MAX_IDEMPOTENCY_KEY_CHARS = 200
# An image index with more digits than this is out of range for any job (n is at most 10), and
# int() refuses strings over 4300 digits with a ValueError: it is never parsed.
MAX_INDEX_DIGITS = 6
_SHOWN_ID_CHARS = 64
# The stages in which a streaming job's previews may exist (the service is streaming, or the
# image is being stored); in the others there is none to look for.
PREVIEW_STAGES = frozenset({"generating", "storing"})
# A status answer waits this long at most for the previews listing: Blob Storage's own retries
# during an outage take minutes, and a poll must not hang on a courtesy.
PREVIEW_LIST_TIMEOUT_S = 2.0
DOWNLOAD_PARAM = "download"


def json_response(
    status: int, body: Any, headers: dict[str, str] | None = None
) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body),
        status_code=status,
        mimetype="application/json",
        headers=headers or {},
    )


def error_response(
    status: int, code: str, message: str, field: str | None = None
) -> func.HttpResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    return json_response(status, {"error": body})


def shown(value: str) -> str:
    """A caller's id as quoted in an error message: repr-escaped (NULs, newlines and the like
    stay visible and harmless) and cut short, so a 10 000-character id does not come back whole.
    """
    if len(value) <= _SHOWN_ID_CHARS:
        return repr(value)
    return f"{value[:_SHOWN_ID_CHARS]!r}... ({len(value)} characters)"


class IdempotencyKeyError(ValueError):
    """An Idempotency-Key header that cannot be used (a 400 naming it)."""


def idempotency_key(headers: Any) -> str | None:
    """The request's Idempotency-Key, None when absent or blank; IdempotencyKeyError when
    unusable.

    The key is an HTTP header value: printable ASCII by the IETF Idempotency-Key draft (an
    sf-string). The host hands over bytes it could not decode as UTF-8 as lone surrogates, which
    uuid5 cannot encode (it raised, a 500); other non-ASCII text would map to an id only by
    accident of decoding. Both are refused with a 400 naming the header instead.
    """
    raw = headers.get(IDEMPOTENCY_HEADER)
    key = (raw or "").strip()
    if not key:
        return None
    if len(key) > MAX_IDEMPOTENCY_KEY_CHARS:
        raise IdempotencyKeyError(
            f"{IDEMPOTENCY_HEADER} is too long (at most {MAX_IDEMPOTENCY_KEY_CHARS})"
        )
    if not all(" " <= ch <= "~" for ch in key):
        raise IdempotencyKeyError(f"{IDEMPOTENCY_HEADER} must be printable ASCII text")
    return key


def image_index(raw: str) -> int | None:
    """The ``{index}`` route value as a number, or None when it is not a plain decimal number (a
    404 naming ``index``). ``"²".isdigit()`` is True, hence the ASCII check. A 5000-digit index
    is never given to int(), which refuses over 4300 digits with a ValueError (it was a 500): it
    stands for "past the last image", which the caller is told once the job is known."""
    if not (raw.isascii() and raw.isdigit()):
        return None
    if len(raw) > MAX_INDEX_DIGITS:
        return 10**MAX_INDEX_DIGITS  # beyond every job's images: "the job has N image(s)"
    return int(raw)


def api_base(req: func.HttpRequest) -> str:
    """The app's origin and route prefix as the caller reached it (``http://host:7071/api``):
    the request's URL without the route it matched and without its query string (which may
    carry the function key). The prefix is whatever host.json says, so it is read off the path.
    """
    parts = urlsplit(req.url)
    path = parts.path.rstrip("/")
    job = req.route_params.get("id")
    index = req.route_params.get("index")
    tails: list[str] = []
    if job is not None:  # the job id may itself contain "images": match whole routes
        if index is not None:
            tails += [
                f"/images/{job}/{index}",
                f"/status/{job}/images/{index}",
                f"/status/{job}/previews/{index}",
            ]
        tails += [f"/images/{job}", f"/status/{job}"]
    tails += ["/images/edits", "/images"]
    prefix = next((path[: -len(t)] for t in tails if path.endswith(t)), "/api")
    return urlunsplit((parts.scheme, parts.netloc, prefix, "", ""))


def signed_link(req: func.HttpRequest, instance_id: str) -> str:
    """A fresh signed status link of the job (shared/links.py): what every status URL the app
    answers is, so a caller without the function key (Power Automate following Location) can
    follow it. Raises SettingsError when STATUS_LINK_SECRET is not set."""
    from shared.links import status_link

    return status_link(api_base(req), instance_id, fresh_signature(instance_id))


def fresh_signature(instance_id: str) -> Signature:
    """A signature of the job's links made now (SettingsError without STATUS_LINK_SECRET)."""
    from shared.settings import get_settings

    return get_settings().link_signer.sign(instance_id, datetime.now(UTC))


def instance_id_for(idempotency_key: str | None) -> str:
    """A fresh id, or the same id for the same Idempotency-Key (namespaced UUIDv5)."""
    if idempotency_key:
        return uuid.uuid5(_IDEMPOTENCY_NS, idempotency_key).hex
    return uuid.uuid4().hex


def _fingerprint(job: JobInput) -> str:
    """What makes two requests "the same" for an Idempotency-Key: model and parameters. (Not the
    callback URL: a retried Power Automate webhook action comes with a new one.)"""
    facts: dict[str, Any] = {"model": job.model, "params": job.params.model_dump(mode="json")}
    if job.edit is not None:  # an edit is also "the same" only with the same inputs
        facts["edit"] = job.edit.digest
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()


def maybe_json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def accepted(
    req: func.HttpRequest,
    instance_id: str,
    runtime_status: str,
    custom: Any,
    status: int = 202,
    link: str | None = None,
    previews: list[PreviewView] | None = None,
) -> func.HttpResponse:
    """202 (or ``status``) with the job's progress, ``Location`` and ``Retry-After``; the
    Location is ``link`` (the signed link the caller followed) or a fresh signed link.
    ``previews``: the job's latest partial images (`job_previews`), shown in its progress."""
    from shared.models import JobAccepted

    url = link or signed_link(req, instance_id)
    progress = progress_of(custom)
    if progress is not None and previews:
        progress = progress.model_copy(update={"previews": previews})
    body = JobAccepted(
        id=instance_id,
        status=runtime_status.lower(),
        statusQueryGetUri=url,
        progress=progress,
    )
    return json_response(
        status,
        body.model_dump(mode="json", exclude_none=True),
        # the Location is a bearer link: no shared cache may keep it
        {
            "Location": url,
            "Retry-After": str(retry_after_for(progress)),
            "Cache-Control": "no-store",
        },
    )


def progress_of(custom: Any) -> Progress | None:
    """The job's customStatus as its Progress, or None when it is not one (yet)."""
    from shared.models import Progress

    custom = maybe_json(custom)
    if isinstance(custom, dict):
        try:
            return Progress.model_validate(custom)
        except ValueError:
            return None
    return None


async def shown_previews(instance_id: str, progress: Progress | None) -> list[PreviewBlob]:
    """The preview blobs a job's status may show (one listing of its previews folder): none
    unless it streams and is in a stage that has them (`PREVIEW_STAGES`), and only those of
    its images (index < images_total). The one rule of the 202's `previews` and the preview
    route's redirect. Raises what the listing raises (ImageApiError, SettingsError)."""
    if (
        progress is None
        or not progress.partial_images
        or not progress.created
        or progress.stage not in PREVIEW_STAGES
    ):
        return []
    from shared.blueprints.deps import runtime
    from shared.imaging.types import ErrorCode, ImageApiError
    from shared.storage.naming import previews_prefix

    prefix = previews_prefix(instance_id, datetime.fromisoformat(progress.created))
    try:
        found = await asyncio.wait_for(
            runtime().store.list_previews(prefix), PREVIEW_LIST_TIMEOUT_S
        )
    except TimeoutError:
        raise ImageApiError(
            ErrorCode.UNAVAILABLE, "Blob Storage did not list the previews in time."
        ) from None
    return [p for p in found if p.index < progress.images_total]


async def job_previews(
    req: func.HttpRequest, instance_id: str, progress: Progress | None, signature: Signature
) -> list[PreviewView] | None:
    """The signed links of a streaming job's latest partial images (`shown_previews`), or
    None: not a streaming job, not in a stage that has them, none written yet, or a store that
    cannot answer now (the status is answered without them, never a 500).
    """
    from shared.links import preview_link
    from shared.models import PreviewView

    try:
        found = await shown_previews(instance_id, progress)
    except Exception as exc:  # a preview is a courtesy: the status is what was asked for
        log.warning("job %s: previews not listed (%s)", instance_id, type(exc).__name__)
        return None
    base = api_base(req)
    views = [
        PreviewView(
            index=p.index,
            frame=p.frame,
            url=preview_link(base, instance_id, p.index, p.frame, signature, version=p.version),
        )
        for p in found
    ]
    return views or None


def retry_after_for(progress: Progress | None) -> int:
    """Seconds a client should wait before asking again: the job's own wait when it is waiting
    out a throttled service, else a short default."""
    if progress is not None and progress.retry_after_seconds:
        return max(1, min(MAX_RETRY_AFTER_S, math.ceil(progress.retry_after_seconds)))
    return RETRY_AFTER_S


@bp.route(route="images", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def start_image_job(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """`POST /api/images`: validate, then start (or find) the job."""
    # This worker most likely replays the job it starts at once: load the orchestrator's body
    # now, so its first episode (the job's first progress) is not late by the imports.
    import shared.orchestration.image_job  # noqa: F401
    from shared.blueprints.jobs import new_job_input
    from shared.models import RequestError, parse_body, validate_request
    from shared.settings import SettingsError, get_settings

    try:
        settings = get_settings()
        settings.link_signer  # noqa: B018  # its 202 answers a signed link: check before starting
        request = parse_body(
            req.get_body() or b"", callback_http_hosts=settings.callback_allow_http_hosts
        )
        valid = validate_request(request, settings.image_models, settings.image_default_model)
        key = idempotency_key(req.headers)
    except (RequestError, SettingsError, IdempotencyKeyError) as exc:
        return refused(exc)
    job = new_job_input(instance_id_for(key), request, valid, settings, datetime.now(UTC))
    return await start_job(req, client, job, key)


def refused(exc: Exception) -> func.HttpResponse:
    """The answer to a request refused before anything started: a RequestError's 4xx, a
    SettingsError's 500 `configuration_error` (logged), or an unusable Idempotency-Key's 400
    (`IdempotencyKeyError`)."""
    from shared.models import RequestError
    from shared.settings import SettingsError

    if isinstance(exc, RequestError):
        return json_response(exc.status, exc.body())
    if isinstance(exc, SettingsError):
        log.error("configuration error: %s", exc)
        return error_response(500, "configuration_error", str(exc))
    return error_response(400, "invalid_request", str(exc), IDEMPOTENCY_HEADER)


def unavailable(message: str, field: str | None = None) -> func.HttpResponse:
    """503 `unavailable` with Retry-After: the cause is passing, the same request may succeed."""
    response = error_response(503, "unavailable", message, field)
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


Staged = tuple["JobInput", Callable[[], Awaitable[None]]]


async def start_job(
    req: func.HttpRequest,
    client: df.DurableOrchestrationClient,
    job: JobInput,
    key: str | None,
    stage: Callable[[JobInput], Awaitable[Staged | func.HttpResponse]] | None = None,
) -> func.HttpResponse:
    """Start `job`, or answer as its status route does when the Idempotency-Key `key` already
    started one (409 when for a different request). `stage` runs after that check and before
    the start (an edit stages its inputs): it answers the job to start and how to undo what it
    staged — done when the start fails, or loses a race with a concurrent request of the same
    key — or a response that ends the request (a refused input)."""
    from shared.models import Progress
    from shared.orchestration.calls import streaming

    if key is not None:
        existing = await existing_job(req, client, job)
        if existing is not None:
            return existing
    undo: Callable[[], Awaitable[None]] | None = None
    if stage is not None:
        staged = await stage(job)
        if isinstance(staged, func.HttpResponse):
            return staged
        job, undo = staged
    started = False
    try:
        await client.start_new(ORCHESTRATOR, job.id, job.model_dump(mode="json"))
        started = True
    except Exception:
        if undo is not None and await _started_anyway(client, job):
            started = True  # the start failed after Durable had created this very job: it runs
        else:
            # A concurrent request with the same Idempotency-Key may have started it first:
            # answer as for any repeat, the reuse check included.
            existing = await existing_job(req, client, job) if key is not None else None
            if existing is None:
                raise
            return existing
    finally:
        if not started and undo is not None:
            await undo()
    return accepted(
        req,
        job.id,
        "Pending",
        Progress(stage="queued", images_total=job.params.n, **streaming(job)).model_dump(),
    )


async def _started_anyway(client: df.DurableOrchestrationClient, job: JobInput) -> bool:
    """Whether the instance under `job.id` is this request's own job (its input is `job`, to
    the microsecond of `created`), so what it staged must be kept though `start_new` raised."""
    status = await client.get_status(job.id, show_input=True)
    previous = maybe_json(status.input_) if status.runtime_status is not None else None
    return isinstance(previous, dict) and previous.get("created") == job.created


async def existing_job(
    req: func.HttpRequest, client: df.DurableOrchestrationClient, job: JobInput
) -> func.HttpResponse | None:
    """The answer for a repeated Idempotency-Key: the existing job as its status route answers
    it now, or 409 when the key was used for a different request; None when there is no job."""
    from shared.models import JobInput

    existing = await client.get_status(job.id, show_input=True)
    if existing.runtime_status is None:
        return None
    previous = maybe_json(existing.input_)
    if isinstance(previous, dict) and "params" in previous:
        try:
            same = _fingerprint(JobInput.model_validate(previous)) == _fingerprint(job)
        except ValueError:
            same = True
        if not same:
            return error_response(
                409,
                "idempotency_key_reused",
                "this Idempotency-Key was already used for a different request",
                IDEMPOTENCY_HEADER,
            )
    return await job_response(
        req,
        job.id,
        existing.runtime_status.value,
        existing.custom_status,
        parse_output(existing.output),
    )


async def job_response(
    req: func.HttpRequest,
    instance_id: str,
    runtime_status: str,
    custom: Any,
    output: JobOutput | None,
    link: str | None = None,
    signature: Signature | None = None,
) -> func.HttpResponse:
    """202 with progress while running (Location: ``link`` or a fresh signed link; a streaming
    job's previews signed with ``signature``, the followed link's, or the fresh link's), 200
    with the result, 422 when the job failed or was canceled (final: Power Automate stops
    polling)."""
    if runtime_status in RUNNING:
        from shared.links import status_link

        if link is None or signature is None:
            signature = fresh_signature(instance_id)
            link = link or status_link(api_base(req), instance_id, signature)
        progress = progress_of(custom)
        previews = await job_previews(req, instance_id, progress, signature)
        return accepted(req, instance_id, runtime_status, custom, link=link, previews=previews)
    if runtime_status == "Completed" and output is not None and output.status == "succeeded":
        result = await _with_urls(output)
        return json_response(200, result.model_dump(mode="json", exclude_none=True))
    return failed_response(output, runtime_status)


def parse_output(value: Any) -> JobOutput | None:
    from shared.models import JobOutput

    raw = maybe_json(value)
    if isinstance(raw, dict):
        try:
            return JobOutput.model_validate(raw)
        except ValueError:
            return None
    return None


async def _with_urls(output: JobOutput) -> JobResult:
    from shared.blueprints.deps import runtime
    from shared.models import ImageView, InputView, JobResult

    rt = runtime()
    ttl = timedelta(minutes=rt.settings.image_sas_ttl_minutes)
    views = [
        ImageView(**image.model_dump(), url=await rt.store.sas_url(image.blob, ttl))
        for image in output.images
    ]
    inputs = None
    if output.inputs is not None:
        inputs = [
            InputView(**record.model_dump(), url=await rt.store.sas_url(record.blob, ttl))
            for record in output.inputs
        ]
    return JobResult(
        id=output.id,
        status="succeeded",
        model=output.model,
        prompt=output.prompt,
        created=output.created,
        completed=output.completed,
        images=views,
        inputs=inputs,
        notification=output.notification,
    )


def failed_response(output: JobOutput | None, runtime_status: str) -> func.HttpResponse:
    """422: not retryable, so Power Automate's async pattern fails the action at once."""
    from shared.models import ApiError, ApiErrorBody

    if output is not None and output.error is not None:
        body = ApiError(
            error=ApiErrorBody(code=output.error.code, message=output.error.message),
            notification=output.notification,
        )
        return json_response(422, body.model_dump(mode="json", exclude_none=True))
    if runtime_status == "Terminated":
        return error_response(422, "job_terminated", "the job was terminated")
    if runtime_status == "Canceled":
        return error_response(422, "job_canceled", "the job was canceled")
    return error_response(422, "internal_error", "the job failed unexpectedly")


async def lookup_job(
    client: df.DurableOrchestrationClient, instance_id: str
) -> tuple[str | None, Any, JobOutput | None]:
    """(runtime status, custom status, parsed output) — runtime status None for an unknown id."""
    if not is_job_id(instance_id):
        return None, None, None
    status = await client.get_status(instance_id)
    if status.runtime_status is None:
        return None, None, None
    return status.runtime_status.value, status.custom_status, parse_output(status.output)


@bp.route(route="images/{id}", methods=["GET"])
@bp.durable_client_input(client_name="client")
async def get_image_job(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """`GET /api/images/{id}`: 202 with progress, 200 with the result, 422 failed, 404 unknown."""
    return await status_response(req, client, req.route_params.get("id", ""))


async def status_response(
    req: func.HttpRequest,
    client: df.DurableOrchestrationClient,
    instance_id: str,
    link: str | None = None,
    signature: Signature | None = None,
) -> func.HttpResponse:
    """The job's status as `job_response` answers it, or 404 naming `id` (the keyed and the
    signed status routes; ``link``: the signed link followed, kept as Location, and
    ``signature`` its signature, which the previews' links carry)."""
    from shared.settings import SettingsError

    try:
        runtime_status, custom, output = await lookup_job(client, instance_id)
        if runtime_status is None:
            return error_response(
                404, "not_found", f"no image job with id {shown(instance_id)}", "id"
            )
        return await job_response(
            req, instance_id, runtime_status, custom, output, link=link, signature=signature
        )
    except SettingsError as exc:
        return refused(exc)


@bp.route(route="images/{id}/{index}", methods=["GET"])
@bp.durable_client_input(client_name="client")
async def get_image_file(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """`GET /api/images/{id}/{index}[?download=1]`: 302 to a fresh read-only SAS URL of one
    stored image."""
    return await image_redirect(
        client,
        req.route_params.get("id", ""),
        req.route_params.get("index", ""),
        download=wants_download(req),
    )


def wants_download(req: func.HttpRequest) -> bool:
    """``?download=1`` (or ``true``): the image is to be saved, not shown."""
    return (req.params.get(DOWNLOAD_PARAM) or "").strip().lower() in ("1", "true")


def download_disposition(instance_id: str, index: int, blob: str) -> str:
    """``attachment; filename="image-{id8}-{index}.{ext}"``: the Content-Disposition a download
    SAS URL makes the blob answer with (job ids and extensions are plain ASCII by rule)."""
    ext = blob.rsplit(".", 1)[-1] if "." in blob.rsplit("/", 1)[-1] else "bin"
    return f'attachment; filename="image-{instance_id[:8]}-{index}.{ext}"'


async def indexed_job(
    client: df.DurableOrchestrationClient, instance_id: str, raw_index: str
) -> func.HttpResponse | tuple[int, str, Any, JobOutput | None]:
    """What the image and preview redirects look up first: the 404 naming `index` (not a
    number) or `id` (no such job), else (index, runtime status, customStatus, output).
    Raises what `lookup_job` raises."""
    index = image_index(raw_index)
    if index is None:
        return error_response(404, "not_found", "the image index must be a number", "index")
    runtime_status, custom, output = await lookup_job(client, instance_id)
    if runtime_status is None:
        return error_response(404, "not_found", f"no image job with id {shown(instance_id)}", "id")
    return index, runtime_status, custom, output


async def image_redirect(
    client: df.DurableOrchestrationClient,
    instance_id: str,
    raw_index: str,
    *,
    download: bool = False,
) -> func.HttpResponse:
    """302 to a fresh read-only SAS URL of image ``raw_index`` of the job; 404 naming `id` or
    `index`, 409 while the job runs, 422 when it failed (the keyed and the signed image routes).
    ``download``: the URL makes Blob Storage answer it as an attachment with a file name."""
    from shared.blueprints.deps import runtime
    from shared.settings import SettingsError

    try:
        found = await indexed_job(client, instance_id, raw_index)
        if isinstance(found, func.HttpResponse):
            return found
        index, runtime_status, _custom, output = found
        if runtime_status in RUNNING:
            return error_response(409, "not_ready", "the job has not finished yet")
        if output is None or output.status != "succeeded":
            return failed_response(output, runtime_status)
        if index >= len(output.images):
            return error_response(
                404, "not_found", f"the job has {len(output.images)} image(s)", "index"
            )
        rt = runtime()
        ttl = timedelta(minutes=rt.settings.image_sas_ttl_minutes)
        blob = output.images[index].blob
        disposition = download_disposition(instance_id, index, blob) if download else None
        url = await rt.store.sas_url(blob, ttl, content_disposition=disposition)
        return func.HttpResponse(
            status_code=302, headers={"Location": url, "Cache-Control": "no-store"}
        )
    except SettingsError as exc:
        return refused(exc)
