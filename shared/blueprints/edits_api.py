"""`POST /api/images/edits`: change stored or uploaded images; answered like `POST /api/images`.

The request is read (JSON with references, or OpenAI's multipart form: shared/edit_requests.py)
and checked against the model's edit rules; then, before anything starts, every input is fetched,
checked and staged under the job's folder (shared/storage/inputs.py). A request refused at any
step is a 400 naming the field, with nothing committed to Blob Storage and no job started. The job
then carries only the inputs' blob names; its result lists them, each with a fresh SAS link.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import azure.durable_functions as df
import azure.functions as func

from shared.blueprints.http_api import (
    IDEMPOTENCY_HEADER,
    RETRY_AFTER_S,
    accepted,
    error_response,
    existing_job,
    idempotency_key,
    instance_id_for,
    json_response,
    lookup_job,
    shown,
)
from shared.orchestration.names import ORCHESTRATOR

if TYPE_CHECKING:
    from shared.edit_requests import ParsedEdit
    from shared.settings import Settings
    from shared.storage.inputs import FindJobImage

bp = df.Blueprint()
log = logging.getLogger(__name__)


def _parse(req: func.HttpRequest, settings: Settings) -> ParsedEdit:
    """The body in either form; RequestError for anything that is neither."""
    from shared.edit_requests import UploadedFile, parse_edit_form, parse_edit_json
    from shared.models import RequestError

    content_type = (req.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    hosts = settings.callback_allow_http_hosts
    body = req.get_body() or b""
    if content_type == "multipart/form-data":
        if len(body) > 0 and "boundary=" not in (req.headers.get("Content-Type") or ""):
            raise RequestError("the multipart Content-Type has no boundary", field="body")
        try:
            fields = [(k, v) for k, v in req.form.items(multi=True)]
            files = [UploadedFile(k, f.read()) for k, f in req.files.items(multi=True)]
        except Exception:  # werkzeug refuses a malformed form in several ways
            raise RequestError("the multipart body cannot be read", field="body") from None
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
        status, _custom, output = await lookup_job(client, job_id)
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
    from shared.models import MASK_MAX_BYTES, EditJob, Progress, RequestError, capabilities_for
    from shared.settings import SettingsError, get_settings
    from shared.storage.inputs import InputLimits, InputProblem, stage_inputs

    try:
        settings = get_settings()
        parsed = _parse(req, settings)
        valid = validate_edit(parsed, settings.image_models, settings.image_default_model)
    except RequestError as exc:
        return json_response(exc.status, exc.body())
    except SettingsError as exc:
        log.error("configuration error: %s", exc)
        return error_response(500, "configuration_error", str(exc))
    try:
        key = idempotency_key(req.headers)
    except ValueError as exc:
        return error_response(400, "invalid_request", str(exc), IDEMPOTENCY_HEADER)
    instance_id = instance_id_for(key)
    created = datetime.now(UTC)
    digest = parsed.digest()
    job = new_job_input(
        instance_id, parsed.request, valid, settings, created, EditJob(inputs=[], digest=digest)
    )
    if key is not None:
        existing = await existing_job(req, client, job)
        if existing is not None:
            return existing
    deployment = valid.deployment
    caps = capabilities_for(deployment.family, deployment.flavour)
    limits = InputLimits(
        model=deployment.name,
        formats=caps.input_formats,
        max_bytes=caps.max_input_bytes,
        max_pixels=caps.max_input_pixels,
        mask_max_bytes=MASK_MAX_BYTES,
    )
    rt = runtime()
    try:
        records = await stage_inputs(
            rt.store,
            instance_id,
            created,
            parsed.images,
            parsed.mask,
            limits,
            http=rt.http,
            policy=rt.policy,
            find_job_image=_job_image_finder(client),
        )
    except InputProblem as exc:
        if exc.retryable:
            response = error_response(503, "unavailable", exc.message, exc.field)
            response.headers["Retry-After"] = str(RETRY_AFTER_S)
            return response
        return error_response(400, "invalid_request", exc.message, exc.field)
    job = job.model_copy(update={"edit": EditJob(inputs=records, digest=digest)})
    try:
        await client.start_new(ORCHESTRATOR, instance_id, job.model_dump(mode="json"))
    except Exception:
        found = await existing_job(req, client, job) if key is not None else None
        if found is None:
            await rt.store.delete_quietly([r.blob for r in records])
            raise
        return found
    return accepted(
        req,
        instance_id,
        "Pending",
        Progress(stage="queued", images_total=job.params.n).model_dump(),
    )
