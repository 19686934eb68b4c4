"""`POST /api/images/edits`: change stored or uploaded images; answered like `POST /api/images`.

The request is read (JSON with references, or OpenAI's multipart form: shared/edit_requests.py)
and checked against the model's edit rules; then, before anything starts, every input is fetched,
checked and staged under the job's folder (shared/storage/inputs.py). A request refused at any
step is a 400 naming the field, with nothing committed to Blob Storage and no job started. The job
then carries only the inputs' blob names; its result lists them, each with a fresh SAS link.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import azure.durable_functions as df
import azure.functions as func

from shared.blueprints.http_api import (
    IdempotencyKeyError,
    Staged,
    error_response,
    idempotency_key,
    instance_id_for,
    lookup_job,
    refused,
    shown,
    start_job,
    unavailable,
)
from shared.ids import is_job_id

if TYPE_CHECKING:
    from shared.edit_requests import ParsedEdit
    from shared.models import JobInput, ValidatedRequest
    from shared.settings import Settings
    from shared.storage.inputs import FindJobImage, InputLimits, InputProblem

bp = df.Blueprint()
log = logging.getLogger(__name__)
# Fetching and checking the inputs happens inside the request: Azure's front end cuts an HTTP
# trigger at 230 s, after which a job started anyway would be one the caller thinks failed.
STAGING_TIMEOUT_S = 120


def _parse(req: func.HttpRequest, settings: Settings) -> ParsedEdit:
    """The body in either form; RequestError for anything that is neither."""
    from shared.edit_requests import (
        UploadedFile,
        check_body_size,
        parse_edit_form,
        parse_edit_json,
    )
    from shared.models import RequestError

    content_type = (req.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    hosts = settings.callback_allow_http_hosts
    body = req.get_body() or b""
    if content_type == "multipart/form-data":
        from shared.multipart_form import FormError, read_form

        check_body_size(len(body))
        try:
            fields, parts = read_form(body, req.headers.get("Content-Type") or "")
        except FormError as exc:
            raise RequestError(exc.message, field=exc.field) from None
        files = [UploadedFile(part.name, part.data) for part in parts]
        return parse_edit_form(fields, files, len(body), callback_http_hosts=hosts)
    if content_type in ("", "application/json") or content_type.endswith("+json"):
        return parse_edit_json(body, callback_http_hosts=hosts)
    raise RequestError(
        f"Content-Type {content_type!r} is not accepted: send application/json or "
        "multipart/form-data",
        field="Content-Type",
        status=415,
    )


def _job_image_finder(client: df.DurableOrchestrationClient) -> FindJobImage:
    """A `{"job", "index"}` reference → the blob of that stored image, or an InputProblem."""
    from shared.storage.inputs import InputProblem

    async def find(job_id: str, index: int, field: str) -> str:
        if not is_job_id(job_id):  # and not quoted: it may be anything pasted, a SAS URL too
            raise InputProblem(f"{field}.job", f"{field}.job is not a job id")
        try:
            status, _custom, output = await lookup_job(client, job_id)
        except Exception as exc:  # the Durable client's own failure: not the caller's
            raise InputProblem(
                f"{field}.job",
                f"{field}.job: the job could not be looked up ({type(exc).__name__})",
                retryable=True,
            ) from None
        if status is None:
            raise InputProblem(f"{field}.job", f"{field}.job: no image job with id {shown(job_id)}")
        if output is None or output.status != "succeeded":
            state = "has not finished" if status in ("Pending", "Running") else "has no images"
            raise InputProblem(f"{field}.job", f"{field}.job: job {job_id} {state}")
        if index >= len(output.images):
            raise InputProblem(
                f"{field}.index", f"{field}.index: job {job_id} has {len(output.images)} image(s)"
            )
        return output.images[index].blob

    return find


@bp.route(route="images/edits", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def start_edit_job(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """`POST /api/images/edits`: validate, stage the inputs, then start (or find) the job."""
    import shared.orchestration.image_job  # noqa: F401  (see start_image_job)
    from shared.blueprints.deps import runtime
    from shared.blueprints.jobs import new_job_input
    from shared.edit_requests import validate_edit
    from shared.models import EditJob, RequestError
    from shared.settings import SettingsError, get_settings

    try:
        settings = get_settings()
        settings.link_signer  # noqa: B018  # its 202 answers a signed link: check before staging
        parsed = _parse(req, settings)
        valid = validate_edit(parsed, settings.image_models, settings.image_default_model)
        key = idempotency_key(req.headers)
    except (RequestError, SettingsError, IdempotencyKeyError) as exc:
        return refused(exc)
    rt = runtime()
    digest = parsed.digest()
    job = new_job_input(
        instance_id_for(key),
        parsed.request,
        valid,
        settings,
        datetime.now(UTC),
        EditJob(inputs=[], digest=digest),
    )

    async def stage(job: JobInput) -> Staged | func.HttpResponse:
        from shared.storage.inputs import InputProblem, stage_inputs

        try:
            async with asyncio.timeout(STAGING_TIMEOUT_S):
                records = await stage_inputs(
                    rt.store,
                    job.id,
                    datetime.fromisoformat(job.created),
                    uuid.uuid4().hex[:12],  # this request's own folder: see input_blob_name
                    parsed.images,
                    parsed.mask,
                    _limits(valid),
                    http=rt.http,
                    policy=rt.input_policy,
                    find_job_image=_job_image_finder(client),
                )
        except TimeoutError:
            problem = InputProblem(
                "images",
                f"fetching the inputs took longer than {STAGING_TIMEOUT_S} s; nothing was started",
                retryable=True,
            )
            return _problem_response(problem)
        except InputProblem as exc:
            return _problem_response(exc)

        async def undo() -> None:
            await rt.store.delete_quietly([r.blob for r in records])

        return job.model_copy(update={"edit": EditJob(inputs=records, digest=digest)}), undo

    return await start_job(req, client, job, key, stage)


def _limits(valid: ValidatedRequest) -> InputLimits:
    """What the chosen model takes on its platform, for the stager."""
    from shared.models import MASK_MAX_BYTES, capabilities_for
    from shared.storage.inputs import InputLimits

    deployment = valid.deployment
    caps = capabilities_for(deployment.family, deployment.flavour)
    return InputLimits(
        model=deployment.name,
        formats=caps.input_formats,
        max_bytes=caps.max_input_bytes,
        max_pixels=caps.max_input_pixels,
        mask_max_bytes=MASK_MAX_BYTES,
    )


def _problem_response(exc: InputProblem) -> func.HttpResponse:
    """A refused input: 400 naming it, or 503 + Retry-After when the cause is passing."""
    if exc.retryable:
        return unavailable(exc.message, exc.field)
    return error_response(400, "invalid_request", exc.message, exc.field)
