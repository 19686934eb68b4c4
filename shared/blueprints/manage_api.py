"""Cancel a job and list recent jobs: `DELETE /api/images/{id}`, `GET /api/images`.

Both are function-level like the rest of the API. Cancel raises the orchestration's cancel event
(shared/orchestration/names.py `CANCEL_EVENT`): the job ends with its own `canceled` result — not
Durable's terminate, which would leave a generation in flight to store images after the job
ended, skip the cleanup and the notifications. The list pages newest first through the Durable
client's instance query (shared/job_list.py).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlencode

import azure.durable_functions as df
import azure.functions as func

from shared.blueprints.http_api import (
    RUNNING,
    api_base,
    error_response,
    json_response,
    lookup_job,
    maybe_json,
    refused,
    shown,
    unavailable,
)

bp = df.Blueprint()
log = logging.getLogger(__name__)

# Stages from which a cancel no longer changes the outcome: the images are stored and the job is
# cleaning up (DALL-E 2) or delivering its result (the orchestrator stops listening for the event
# there). A canceled job delivers its result too: its progress then names `job_canceled`.
_PAST_CANCEL = {"cleaning_up", "notifying", "completed", "failed"}
_CANCELED_CODE = "job_canceled"
CANCEL_REASON = "canceled by DELETE /api/images/{id}"


def _progress(custom: Any) -> tuple[str | None, str | None]:
    """(stage, last error code) of a running job's progress."""
    custom = maybe_json(custom)
    if not isinstance(custom, dict):
        return None, None
    return custom.get("stage"), custom.get("last_error")


def _cancel_answer(
    req: func.HttpRequest, job_id: str, status: Literal["canceling", "canceled"]
) -> func.HttpResponse:
    from shared.blueprints.http_api import signed_link
    from shared.job_views import CancelAccepted

    body = CancelAccepted(id=job_id, status=status, statusQueryGetUri=signed_link(req, job_id))
    return json_response(202, body.model_dump(mode="json"), {"Cache-Control": "no-store"})


async def _mark_canceled(client: df.DurableOrchestrationClient, job_id: str) -> None:
    """Write the job's cancel marker (shared/storage/naming.py `cancel_marker_name`) before the
    event is raised: a billed activity scheduled in the same batch as the event's delivery finds
    it and does not call the service. Best effort: without it the event still cancels the job,
    only that narrow window stays open (logged)."""
    from shared.blueprints.deps import runtime
    from shared.imaging.types import ImageApiError
    from shared.storage.naming import cancel_marker_name

    status = await client.get_status(job_id, show_input=True)
    given = maybe_json(status.input_)
    try:
        created = datetime.fromisoformat(str(given.get("created")))
        await runtime().store.save_marker(cancel_marker_name(job_id, created), "canceled\n")
    except (AttributeError, ValueError, ImageApiError) as exc:
        log.warning("job %s: cancel marker not written (%s)", job_id, type(exc).__name__)


def _finished(runtime_status: str, outcome: str | None) -> func.HttpResponse:
    what = outcome or runtime_status.lower()
    return error_response(
        409,
        "job_finished",
        f"the job already finished ({what}): there is nothing to cancel, and what it stored "
        "is kept",
        "id",
    )


async def _answer(
    req: func.HttpRequest, client: df.DurableOrchestrationClient, job_id: str, *, raise_: bool
) -> func.HttpResponse:
    from shared.orchestration.names import CANCEL_EVENT

    runtime_status, custom, output = await lookup_job(client, job_id)
    if runtime_status is None:
        return error_response(404, "not_found", f"no image job with id {shown(job_id)}", "id")
    if runtime_status in RUNNING:
        stage, last_error = _progress(custom)
        if stage == "canceled" or (stage in _PAST_CANCEL and last_error == _CANCELED_CODE):
            return _cancel_answer(req, job_id, "canceling")  # canceled, still notifying
        if stage in _PAST_CANCEL:
            return _finished(runtime_status, "failed" if last_error else "its images are stored")
        if stage != "canceling":
            if not raise_:  # the event could not be delivered, and the job still runs
                return unavailable("the cancel could not be delivered to the job: try again", "id")
            await _mark_canceled(client, job_id)
            await client.raise_event(job_id, CANCEL_EVENT, {"reason": CANCEL_REASON})
        return _cancel_answer(req, job_id, "canceling")
    if output is not None and output.status == "canceled":
        return _cancel_answer(req, job_id, "canceled")
    return _finished(runtime_status, output.status if output is not None else None)


@bp.route(route="images/{id}", methods=["DELETE"])
@bp.durable_client_input(client_name="client")
async def cancel_image_job(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """`DELETE /api/images/{id}`: 202 canceling/canceled (the same answer when repeated), 409
    for a job that finished, 404 for an unknown id."""
    from shared.settings import SettingsError, get_settings

    job_id = req.route_params.get("id", "")
    try:
        get_settings().link_signer  # noqa: B018  # the answer carries a signed link
        try:
            return await _answer(req, client, job_id, raise_=True)
        except SettingsError:
            raise
        except Exception as exc:  # the job ended between the look and the event
            log.info("job %s: cancel event not delivered (%s)", job_id, type(exc).__name__)
            return await _answer(req, client, job_id, raise_=False)
    except SettingsError as exc:
        return refused(exc)


@bp.route(route="images", methods=["GET"])
@bp.durable_client_input(client_name="client")
async def list_image_jobs(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """`GET /api/images?top&status&continuationToken`: recent jobs, newest first, each with its
    signed status link; 400 naming a bad parameter."""
    from shared.job_list import list_jobs, parse_list_query
    from shared.job_views import JobList, JobSummary
    from shared.links import status_link
    from shared.models import RequestError
    from shared.settings import SettingsError, get_settings

    try:
        signer = get_settings().link_signer
        query = parse_list_query(req.params)
    except (RequestError, SettingsError) as exc:
        return refused(exc)
    now = datetime.now(UTC)
    page = await list_jobs(client, query, now)
    base = api_base(req)
    items = [
        JobSummary(
            **job.model_dump(),
            statusQueryGetUri=status_link(base, job.id, signer.sign(job.id, now)),
        )
        for job in page.jobs
    ]
    next_link = None
    if page.continuationToken is not None:
        kept = {k: req.params[k] for k in ("top", "status") if req.params.get(k)}
        more = urlencode({**kept, "continuationToken": page.continuationToken})
        next_link = f"{base}/images?{more}"
    body = JobList(value=items, continuationToken=page.continuationToken, nextLink=next_link)
    return json_response(
        200, body.model_dump(mode="json", exclude_none=True), {"Cache-Control": "no-store"}
    )
