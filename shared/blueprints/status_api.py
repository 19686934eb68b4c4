"""The signed status routes: what every status link the app hands out opens, with no key.

`GET /api/status/{id}?expires&sig` answers as `GET /api/images/{id}` does (202 with progress,
200 with the result, 422 failed or canceled) and `GET /api/status/{id}/images/{index}?expires&sig`
as `GET /api/images/{id}/{index}` (302 to a fresh SAS URL). The Functions host checks keys
before a function runs, so these routes are anonymous at the host and check the link's signature
themselves (shared/links.py), before reading anything about the job: a missing, tampered, expired
or other job's signature is a 403 that says which, and nothing else.

A link is read-only by construction: these are GET routes, and cancel/list stay function-level.
"""

from __future__ import annotations

from datetime import UTC, datetime

import azure.durable_functions as df
import azure.functions as func

from shared.blueprints.http_api import (
    api_base,
    error_response,
    image_redirect,
    refused,
    status_response,
)
from shared.links import EXPIRES_PARAM, IMAGE_ROUTE, SIGNATURE_PARAM, STATUS_ROUTE

bp = df.Blueprint()

# A link carries a signature: it must not leak through a Referer to the image host or sit in a
# shared cache.
_LINK_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _refusal(req: func.HttpRequest, instance_id: str) -> tuple[func.HttpResponse | None, str]:
    """(403 when the link does not open this job, else None; the link as answered)."""
    from shared.links import LinkProblem, status_link
    from shared.settings import SettingsError, get_settings

    try:
        signer = get_settings().link_signer
    except SettingsError as exc:
        return refused(exc), ""
    checked = signer.check(
        instance_id,
        req.params.get(EXPIRES_PARAM),
        req.params.get(SIGNATURE_PARAM),
        datetime.now(UTC),
    )
    if isinstance(checked, LinkProblem):
        return error_response(403, checked.value, checked.message), ""
    return None, status_link(api_base(req), instance_id, checked)


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
    instance_id = req.route_params.get("id", "")
    denied, link = _refusal(req, instance_id)
    if denied is not None:
        return _with_link_headers(denied)
    # While it runs, Location stays the link followed: polling does not extend its life.
    return _with_link_headers(await status_response(req, client, instance_id, link=link))


@bp.route(route=IMAGE_ROUTE, methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
async def get_signed_image(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """`GET /api/status/{id}/images/{index}?expires&sig`: 302 to a fresh SAS URL of the image."""
    instance_id = req.route_params.get("id", "")
    denied, _link = _refusal(req, instance_id)
    if denied is not None:
        return _with_link_headers(denied)
    answer = await image_redirect(client, instance_id, req.route_params.get("index", ""))
    return _with_link_headers(answer)
