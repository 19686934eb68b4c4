"""``GET /api/openapi.json``: the API's Swagger 2.0 document for this deployment.

Anonymous on purpose: it holds no secret (only the name of the key header), and tools that import
a definition (Power Platform, API Management, Postman) fetch it before they have a key.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import azure.durable_functions as df
import azure.functions as func

if TYPE_CHECKING:
    from shared.openapi.document import ModelKind

# The document builder (the pydantic models) and settings are imported on the first request:
# function_app.py imports this module on every cold start, only to register the route.

log = logging.getLogger(__name__)
bp = df.Blueprint()


def _origin(req: func.HttpRequest) -> tuple[str, str]:
    """(host, scheme) the caller used, as seen through Azure's front end or a local proxy."""
    parts = urlsplit(req.url)
    host = (req.headers.get("x-forwarded-host") or parts.netloc or "").split(",")[0].strip()
    scheme = (req.headers.get("x-forwarded-proto") or parts.scheme or "https").split(",")[0]
    scheme = scheme.strip().lower()
    return host, scheme if scheme in ("http", "https") else "https"


@bp.function_name("openapi_json")
@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def openapi_json(req: func.HttpRequest) -> func.HttpResponse:
    from shared.openapi.document import build_document
    from shared.settings import SettingsError, get_settings

    host, scheme = _origin(req)
    models: dict[str, ModelKind] | None = None
    default_model: str | None = None
    try:
        settings = get_settings()
        models = {name: (d.family, d.flavour) for name, d in settings.image_models.items()}
        default_model = settings.image_default_model
    except SettingsError as exc:
        log.warning("openapi.json shows the default models: %s", exc)
    document = build_document(
        host=host or None, scheme=scheme, models=models, default_model=default_model
    )
    return func.HttpResponse(
        json.dumps(document, indent=2),
        status_code=200,
        mimetype="application/json",
        headers={"Cache-Control": "no-cache"},
    )
