"""``GET /api/models``: the configured image models, their options and their lifecycle.

Power Apps dropdowns, the connector and a UI need to know which sizes, formats and so on a model
takes on this deployment's platform, and whether it is about to be retired, without copying the
rules. The answer is built from the same capability table that validates requests
(``shared.models.capabilities_for``) and the app's lifecycle table (``shared.lifecycle``).
Function-level auth like the image routes: the list names this deployment's models.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import azure.durable_functions as df
import azure.functions as func

# The models (pydantic), settings and lifecycle table are imported on the first request:
# function_app.py imports this module on every cold start, only to register the route.

log = logging.getLogger(__name__)
bp = df.Blueprint()


@bp.function_name("list_models")
@bp.route(route="models", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def list_models(req: func.HttpRequest) -> func.HttpResponse:
    """`GET /api/models`: every configured model, the default first-class (`default: true`)."""
    from shared.blueprints.http_api import error_response
    from shared.lifecycle import lifecycle_for
    from shared.models import model_list
    from shared.settings import SettingsError, get_settings

    try:
        settings = get_settings()
    except SettingsError as exc:
        log.error("configuration error: %s", exc)
        return error_response(500, "configuration_error", str(exc))
    today = datetime.now(UTC).date()
    lifecycle = {}
    for name, deployment in settings.image_models.items():
        row = lifecycle_for(deployment)
        if row is not None:
            lifecycle[name] = row.as_dict(today)
    listing = model_list(
        settings.image_models,
        settings.image_default_model,
        lifecycle,
        settings.image_partial_images,
    )
    return func.HttpResponse(
        listing.model_dump_json(exclude_none=True),  # absent: no such option
        status_code=200,
        mimetype="application/json",
        headers={"Cache-Control": "no-cache"},
    )
