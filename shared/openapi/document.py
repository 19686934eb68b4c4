"""The Swagger 2.0 document of the public API, generated from the models that validate it.

One function builds it for both uses: served at ``GET /api/openapi.json`` (host and scheme of the
request, the models this deployment has configured) and checked in as the Power Platform custom
connector definition (placeholder host, the default models). The request schema comes from
``shared.models.ImageRequest``, the per-model options from ``shared.models.CAPABILITIES`` on each
model's platform (``capabilities_for``, the same call `GET /api/models` makes), and
the responses from the same models the HTTP API answers with, so the document cannot drift from
what the API enforces without a test noticing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.ids import JOB_ID_PATTERN
from shared.imaging.types import Family, Flavour
from shared.models import (
    MAX_BODY_BYTES,
    MAX_N,
    OPTION_FIELDS,
    ApiError,
    ImageRequest,
    JobAccepted,
    JobResult,
    ModelList,
    capabilities_for,
)
from shared.openapi.swagger2 import definitions
from shared.settings import DEFAULT_MODELS

TITLE = "Azure OpenAI Image Jobs"
VERSION = "1.0"
PLACEHOLDER_HOST = "your-function-app.azurewebsites.net"
# Paths carry the Functions route prefix and basePath stays "/": the connector's dynamichosturl
# policy swaps the whole base URL for https://{hostName}, so a "/api" basePath could be lost.
ROUTE_PREFIX = "/api"
SECURITY_SCHEME = "functionKey"
FUNCTION_KEY_HEADER = "x-functions-key"

# How prominent each request field is in Power Automate / Power Apps designers.
_VISIBILITY = {
    "prompt": "important",
    "model": "important",
    "n": "important",
    "size": "important",
}
_SUMMARY = {
    "prompt": "Prompt",
    "model": "Model",
    "n": "Number of images",
    "size": "Size",
    "quality": "Quality",
    "style": "Style",
    "output_format": "Output format",
    "background": "Background",
    "output_compression": "Output compression",
    "moderation": "Moderation",
    "seed": "Seed (FLUX)",
    "user": "End-user id",
    "callback_url": "Callback URL",
}


# A configured model as the document needs it: which model, on which platform.
ModelKind = tuple[Family, Flavour]


def default_models() -> dict[str, ModelKind]:
    """The models assumed when IMAGE_MODELS is not set (what the connector file documents)."""
    return {name: (family, flavour) for name, (family, flavour, _v) in DEFAULT_MODELS.items()}


def capability_table(models: Mapping[str, ModelKind]) -> dict[str, dict[str, Any]]:
    """Per configured model, on its platform: the values each option accepts (absent: the model
    has no such option), free-size rule, compression, the default size, the longest prompt and
    the most images per job."""
    return {
        name: capabilities_for(family, flavour).describe()
        for name, (family, flavour) in models.items()
    }


def _option_description(option: str, table: Mapping[str, Mapping[str, Any]]) -> str:
    per_model = []
    for name, entry in table.items():
        if option not in entry:
            per_model.append(f"{name}: not supported")
            continue
        text = f"{name}: {', '.join(entry[option])}"
        if option == "size" and "size_rule" in entry:
            text += f", or {entry['size_rule']}"
        per_model.append(text)
    return f"Allowed values depend on the model — {'; '.join(per_model)}."


def _compression_description(table: Mapping[str, Mapping[str, Any]]) -> str:
    per_model = [
        f"{name}: {' or '.join(entry['output_compression']['formats'])}"
        if "output_compression" in entry
        else f"{name}: not supported"
        for name, entry in table.items()
    ]
    return (
        f"0-100 (100: least compressed), only with a lossy output_format — {'; '.join(per_model)}."
    )


def _request_schema(
    schema: dict[str, Any], table: Mapping[str, Mapping[str, Any]], default_model: str
) -> dict[str, Any]:
    """ImageRequest as generated, plus the enums and prose the capability table implies."""
    props: dict[str, Any] = schema["properties"]
    model = props["model"]
    model["enum"] = list(table)
    model["default"] = default_model
    model["description"] = f"{model.get('description', '')} Default: {default_model}.".strip()
    for option in OPTION_FIELDS:
        if option not in props:
            continue
        values: list[str] = []
        for entry in table.values():
            values += [v for v in entry.get(option, []) if v not in values]
        if values:
            props[option]["enum"] = values
        props[option]["description"] = _option_description(option, table)
    props["output_compression"]["description"] = _compression_description(table)
    props["n"]["default"] = 1
    props["n"]["maximum"] = MAX_N
    for name, prop in props.items():
        prop["x-ms-summary"] = _SUMMARY.get(name, prop.get("x-ms-summary", name))
        prop["x-ms-visibility"] = _VISIBILITY.get(name, "advanced")
    return schema


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"$ref": "#/definitions/ApiError"}}


def _accepted(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {
            "Location": {"type": "string", "description": "Poll this URL for the job's status."},
            "Retry-After": {"type": "integer", "description": "Seconds to wait before polling."},
        },
        "schema": {"$ref": "#/definitions/JobAccepted"},
    }


_JOB_ID_PARAM = {
    "name": "id",
    "in": "path",
    "required": True,
    "type": "string",
    "pattern": JOB_ID_PATTERN,
    "x-ms-summary": "Job id",
    "description": "The id returned when the job was started.",
    "x-ms-url-encoding": "single",
}


def build_document(
    *,
    host: str | None = None,
    scheme: str = "https",
    models: Mapping[str, ModelKind] | None = None,
    default_model: str | None = None,
) -> dict[str, Any]:
    """The Swagger 2.0 document. ``host`` None → the connector placeholder."""
    models = default_models() if models is None else dict(models)
    if not models:
        raise ValueError("no image models configured")
    default_model = default_model if default_model in models else next(iter(models))
    table = capability_table(models)
    defs = definitions(
        [
            (ImageRequest, "validation"),
            (JobAccepted, "serialization"),
            (JobResult, "serialization"),
            (ApiError, "serialization"),
            (ModelList, "serialization"),
        ]
    )
    defs["ImageRequest"] = _request_schema(defs["ImageRequest"], table, default_model)
    defs["ImageRequest"]["example"] = {
        "prompt": "a badger wearing a tuxedo",
        "model": default_model,
    }
    paths: dict[str, Any] = {
        f"{ROUTE_PREFIX}/images": {
            "post": {
                "operationId": "StartImageJob",
                "summary": "Start an image job",
                "description": (
                    "Validates the request and starts generating. Answers 202 with a Location "
                    "to poll; Power Automate follows it until the job is done."
                ),
                "x-ms-visibility": "important",
                "consumes": ["application/json"],
                "produces": ["application/json"],
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "type": "string",
                        "maxLength": 200,
                        "x-ms-summary": "Idempotency key",
                        "description": "The same key again returns the same job, not a new one.",
                        "x-ms-visibility": "advanced",
                    },
                    {
                        "name": "body",
                        "in": "body",
                        "required": True,
                        "schema": {"$ref": "#/definitions/ImageRequest"},
                    },
                ],
                "responses": {
                    "202": _accepted("Job accepted; poll Location."),
                    "200": {
                        "description": "A job with this Idempotency-Key already succeeded.",
                        "schema": {"$ref": "#/definitions/JobResult"},
                    },
                    "400": _error(
                        f"Invalid request (or a body over {MAX_BODY_BYTES // 1024} KiB); "
                        "`error.field` names the field."
                    ),
                    "409": _error("The Idempotency-Key was used for a different request."),
                    "422": _error("A job with this Idempotency-Key already failed."),
                },
            }
        },
        f"{ROUTE_PREFIX}/images/{{id}}": {
            "get": {
                "operationId": "GetImageJob",
                "summary": "Get an image job",
                "description": (
                    "202 with progress while the job runs, 200 with the images when it "
                    "succeeded, 422 when it failed."
                ),
                "x-ms-visibility": "important",
                "produces": ["application/json"],
                "parameters": [_JOB_ID_PARAM],
                "responses": {
                    "200": {
                        "description": "The job succeeded.",
                        "schema": {"$ref": "#/definitions/JobResult"},
                    },
                    "202": _accepted("The job is still running."),
                    "404": _error("No job with this id."),
                    "422": _error("The job failed; `error.code` says why (e.g. content_filter)."),
                },
            }
        },
        f"{ROUTE_PREFIX}/models": {
            "get": {
                "operationId": "ListModels",
                "summary": "List the image models",
                "description": (
                    "The models this deployment offers, with the options each one takes (sizes "
                    "or the free-size rule, qualities, styles, formats, backgrounds, "
                    "compression, moderation, n and prompt limits) and its lifecycle (status, "
                    "retirement date, replacement, source). Build dropdowns from it."
                ),
                "x-ms-visibility": "advanced",
                "produces": ["application/json"],
                "parameters": [],
                "responses": {
                    "200": {
                        "description": "The configured models.",
                        "schema": {"$ref": "#/definitions/ModelList"},
                    },
                    "500": _error("The app's settings are invalid (`configuration_error`)."),
                },
            }
        },
        f"{ROUTE_PREFIX}/images/{{id}}/{{index}}": {
            "get": {
                "operationId": "GetImageFile",
                "summary": "Download one image",
                "description": "Redirects (302) to a short-lived read-only URL of the image.",
                "x-ms-visibility": "advanced",
                "produces": ["application/json"],
                "parameters": [
                    _JOB_ID_PARAM,
                    {
                        "name": "index",
                        "in": "path",
                        "required": True,
                        "type": "integer",
                        "minimum": 0,
                        "x-ms-summary": "Image index",
                        "description": "0 for the first image of the job.",
                    },
                ],
                "responses": {
                    "302": {
                        "description": "Redirect to the image.",
                        "headers": {"Location": {"type": "string"}},
                    },
                    "404": _error("No such job or image."),
                    "409": _error("The job has not finished yet."),
                    "422": _error("The job failed."),
                },
            }
        },
    }
    return {
        "swagger": "2.0",
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": (
                "Generate images with Azure OpenAI as durable jobs: start a job, poll its "
                "status (202 + Location + Retry-After) until it has images."
            ),
        },
        "host": host or PLACEHOLDER_HOST,
        "basePath": "/",
        "schemes": [scheme],
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "securityDefinitions": {
            SECURITY_SCHEME: {
                "type": "apiKey",
                "in": "header",
                "name": FUNCTION_KEY_HEADER,
                "description": "A function key (or the host key) of the Function App.",
            }
        },
        "security": [{SECURITY_SCHEME: []}],
        "paths": paths,
        "definitions": defs,
        "x-image-model-capabilities": table,
    }
