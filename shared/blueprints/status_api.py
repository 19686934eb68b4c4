"""The signed status routes: what every status link the app hands out opens, with no key.

`GET /api/status/{id}?expires&sig` answers as `GET /api/images/{id}` does (202 with progress,
200 with the result, 422 failed or canceled), `GET /api/status/{id}/images/{index}?expires&sig`
as `GET /api/images/{id}/{index}` (302 to a fresh SAS URL), and
`GET /api/status/{id}/previews/{index}?expires&sig` redirects to the latest partial image of a
streaming job's image while it is generated (the links its progress offers). The Functions
host checks keys before a function runs, so these routes are anonymous at the host and check the
link's signature themselves (shared/links.py), before reading anything about the job: a
missing, tampered, expired or other job's signature is a 403 that says which, and nothing else.

A link is read-only by construction: these are GET routes, and cancel/list stay function-level.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import azure.durable_functions as df
import azure.functions as func

from shared.blueprints.http_api import (
    api_base,
    error_response,
    image_redirect,
    refused,
    status_response,
    wants_download,
)
from shared.links import (
    EXPIRES_PARAM,
    IMAGE_ROUTE,
    PREVIEW_ROUTE,
    SIGNATURE_PARAM,
    STATUS_ROUTE,
)

if TYPE_CHECKING:
    from shared.links import Signature

bp = df.Blueprint()

# A preview changes every few seconds and is gone once the image is stored: its SAS URL need
# not outlive the page that shows it.
PREVIEW_SAS_TTL = timedelta(minutes=10)
# ... and the blob answer through that URL is not to be kept: the next frame replaces it.
PREVIEW_CACHE_CONTROL = "no-store"

# A link carries a signature: it must not leak through a Referer to the image host or sit in a
# shared cache.
_LINK_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _refusal(
    req: func.HttpRequest, instance_id: str
) -> tuple[func.HttpResponse | None, Signature | None]:
    """(403 when the link does not open this job, else None; the link's signature)."""
    from shared.links import LinkProblem
    from shared.settings import SettingsError, get_settings

    try:
        signer = get_settings().link_signer
    except SettingsError as exc:
        return refused(exc), None
    checked = signer.check(
        instance_id,
        req.params.get(EXPIRES_PARAM),
        req.params.get(SIGNATURE_PARAM),
        datetime.now(UTC),
    )
    if isinstance(checked, LinkProblem):
        return error_response(403, checked.value, checked.message), None
    return None, checked


def _with_link_headers(response: func.HttpResponse) -> func.HttpResponse:
    for name, value in _LINK_HEADERS.items():
        response.headers[name] = value
    return response


@bp.route(route=STATUS_ROUTE, methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
async def get_signed_status(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """`GET /api/status/{id}?expires&sig`: the job's status for the holder of its link (404 for
    a job since purged)."""
    from shared.links import status_link

    instance_id = req.route_params.get("id", "")
    denied, signature = _refusal(req, instance_id)
    if denied is not None:
        return _with_link_headers(denied)
    assert signature is not None  # no refusal: the link's signature
    # While it runs, Location stays the link followed: polling does not extend its life.
    link = status_link(api_base(req), instance_id, signature)
    answer = await status_response(req, client, instance_id, link=link, signature=signature)
    return _with_link_headers(answer)


@bp.route(route=IMAGE_ROUTE, methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
async def get_signed_image(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """`GET /api/status/{id}/images/{index}?expires&sig[&download=1]`: 302 to a fresh SAS URL
    of the image (with `download`, one that Blob Storage answers as an attachment)."""
    instance_id = req.route_params.get("id", "")
    denied, _signature = _refusal(req, instance_id)
    if denied is not None:
        return _with_link_headers(denied)
    raw_index = req.route_params.get("index", "")
    answer = await image_redirect(client, instance_id, raw_index, download=wants_download(req))
    return _with_link_headers(answer)


@bp.route(route=PREVIEW_ROUTE, methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
async def get_signed_preview(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """`GET /api/status/{id}/previews/{index}?expires&sig`: 302 to a short-lived SAS URL of the
    latest partial image of image `index`, while the job runs; 404 when there is none (not
    yet, not a streaming job, or the image is stored and its previews deleted)."""
    instance_id = req.route_params.get("id", "")
    denied, _signature = _refusal(req, instance_id)
    if denied is not None:
        return _with_link_headers(denied)
    answer = await _preview_redirect(client, instance_id, req.route_params.get("index", ""))
    return _with_link_headers(answer)


async def _preview_redirect(
    client: df.DurableOrchestrationClient, instance_id: str, raw_index: str
) -> func.HttpResponse:
    from shared.blueprints.deps import runtime
    from shared.blueprints.http_api import (
        RUNNING,
        indexed_job,
        progress_of,
        shown_previews,
        unavailable,
    )
    from shared.imaging.types import ImageApiError
    from shared.settings import SettingsError

    try:
        job = await indexed_job(client, instance_id, raw_index)
        if isinstance(job, func.HttpResponse):
            return job
        index, runtime_status, custom, _output = job
        if runtime_status not in RUNNING:
            return error_response(
                404, "not_found", "the job has finished: its previews are gone", "index"
            )
        progress = progress_of(custom)
        if progress is None or not progress.partial_images or not progress.created:
            return error_response(404, "not_found", "this job streams no previews", "index")
        # what the job's status offers, no more: a stage without previews (e.g. waiting to
        # retry, when a failed attempt's frame may linger) or an index past its images is a 404
        found = [p for p in await shown_previews(instance_id, progress) if p.index == index]
        if not found:
            return error_response(404, "not_found", f"image {index} has no preview now", "index")
        url = await runtime().store.sas_url(
            found[0].blob, PREVIEW_SAS_TTL, cache_control=PREVIEW_CACHE_CONTROL
        )
    except SettingsError as exc:
        return refused(exc)
    except ImageApiError:
        return unavailable("Blob Storage cannot answer now: ask again")
    return func.HttpResponse(status_code=302, headers={"Location": url})
