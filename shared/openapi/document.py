"""The Swagger 2.0 document of the public API, generated from the models that validate it.

One function builds it for both uses: served at ``GET /api/openapi.json`` (host and scheme of the
request, the models this deployment has configured) and checked in as the Power Platform custom
connector definition (placeholder host, the default models). The request schemas come from
``shared.models.ImageRequest`` and ``shared.edit_requests.EditRequest`` / ``ImageRef``, the
per-model options and edit limits from ``shared.models.CAPABILITIES`` on each model's platform
(``capabilities_for``, the same call `GET /api/models` makes), and the responses from the same
models the HTTP API answers with, so the document cannot drift from what the API enforces without
a test noticing.

`POST /api/images/edits` also takes OpenAI's multipart form; Swagger 2.0 cannot describe a
multipart body beside a JSON one on the same operation (``in: body`` and ``in: formData``
exclude each other), so the document's `EditImage` is the JSON form — what Power Platform sends —
and its description names the multipart fields.

`CancelImageJob` and `ListImageJobs` answer the models of ``shared.job_views``; the list's paging
limits come from ``shared.job_list``, which enforces them. The signed status routes
(``/api/status/{id}[/images/{index}]?expires&sig``) are deliberately not operations here, though
Swagger 2.0 could mark them ``security: []``: a Power Platform connector applies its connection's
authentication to every action, per-operation security is no documented connector feature, and
an action whose ``expires`` / ``sig`` a maker would have to cut out of a URL the app answered adds
nothing `GetImageJob` does not do. Callers follow those links as given (docs/app.md, "Signed
status links"); the Postman collection has a request for it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from shared.edit_requests import INPUT_FIDELITIES, MAX_EDIT_BODY_BYTES, EditRequest
from shared.ids import JOB_ID_PATTERN
from shared.imaging.types import Family, Flavour
from shared.job_list import API_STATUSES, LOOKBACK, PROMPT_CHARS, TOP_DEFAULT, TOP_MAX
from shared.job_views import CancelAccepted, JobList
from shared.links import SECRET_SETTING, TTL_SETTING
from shared.models import (
    MASK_MAX_BYTES,
    MAX_BODY_BYTES,
    MAX_N,
    OPTION_FIELDS,
    ApiError,
    ImageRequest,
    JobAccepted,
    JobResult,
    ModelCapabilities,
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
# EditRequest: the same options, plus the inputs.
_EDIT_VISIBILITY = {**_VISIBILITY, "images": "important"}
_EDIT_SUMMARY = {
    **_SUMMARY,
    "prompt": "Edit prompt",
    "images": "Images",
    "mask": "Mask",
    "input_fidelity": "Input fidelity",
}
# ImageRef: in Power Apps an image control's base64 (`b64_json`) or an earlier job's image.
_REF_VISIBILITY = {
    "b64_json": "important",
    "job": "important",
    "index": "important",
    "blob": "advanced",
    "url": "advanced",
}
_REF_SUMMARY = {
    "job": "Job id",
    "index": "Image index",
    "blob": "Blob name",
    "url": "Image URL",
    "b64_json": "Image (base64)",
}
_REF_DESCRIPTION = {
    "job": "An earlier job of this app whose image to edit (with `index`); it must have succeeded.",
    "index": "Which image of `job`: 0 for the first (the default).",
    "blob": "A blob name in the images container (e.g. an earlier job's "
    "`{yyyy}/{mm}/{dd}/{id}/0.png`).",
    "url": "An https URL on the image-source allow-list (IMAGE_SOURCE_ALLOWED_HOSTS), fetched "
    "under the download policy.",
    "b64_json": "The image itself, base64, or a `data:image/...;base64,` URL. Power Apps: an "
    "image control's JSON(..., JSONFormat.IncludeBinaryData) without its surrounding quotes.",
}
# The result's inputs: what each field of InputRecord means.
_INPUT_VIEW_DESCRIPTION = {
    "field": "Which input: `images[i]` or `mask`.",
    "blob": "Where it was staged: `{yyyy}/{mm}/{dd}/{id}/inputs/{batch}/{i}.{ext}` (or mask.png).",
    "sha256": "SHA-256 (hex) of exactly the bytes the edit used.",
    "source": "Where it came from: upload, b64_json, url, blob or job.",
    "ref": "The reference it came by: `job/index`, the blob name, or the URL without its query.",
    "url": "A fresh read-only SAS URL of the staged input.",
}


# The answers of cancel and list (shared.job_views), labelled for Power Apps / Power Automate.
_VIEW_SUMMARY = {
    "id": "Job id",
    "status": "Status",
    "statusQueryGetUri": "Status link",
    "value": "Jobs",
    "continuationToken": "Continuation token",
    "nextLink": "Next page link",
    "created": "Created",
    "completed": "Completed",
    "model": "Model",
    "prompt": "Prompt",
    "images": "Images stored",
    "images_total": "Images asked for",
    "error_code": "Error code",
}
_VIEW_DESCRIPTION = {
    "statusQueryGetUri": (
        "The job's signed status link: opens this job's status (read-only, no key needed) "
        "until it expires (STATUS_LINK_TTL_MINUTES)."
    ),
    "created": "When the job was created (UTC, ISO 8601).",
    "completed": "When the job ended (UTC, ISO 8601); absent while it runs.",
}
_VIEW_DEFINITIONS = ("CancelAccepted", "JobList", "JobSummary")


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
    schema: dict[str, Any],
    table: Mapping[str, Mapping[str, Any]],
    default_model: str,
    *,
    summary: Mapping[str, str] = _SUMMARY,
    visibility: Mapping[str, str] = _VISIBILITY,
) -> dict[str, Any]:
    """ImageRequest (or EditRequest) as generated, plus the enums and prose the capability table
    implies."""
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
        prop["x-ms-summary"] = summary.get(name, prop.get("x-ms-summary", name))
        prop["x-ms-visibility"] = visibility.get(name, "advanced")
    return schema


def size_text(limit: int) -> str:
    """A byte cap as people read it: 49,999,999 → "under 50 MB", 20,000,000 → "at most 20 MB",
    64 MiB → "64 MiB"."""
    mb, mib = 1000 * 1000, 1024 * 1024
    if (limit + 1) % mb == 0:
        return f"under {(limit + 1) // mb} MB"
    if limit % mb == 0:
        return f"at most {limit // mb} MB"
    if limit % mib == 0:
        return f"{limit // mib} MiB"
    return f"at most {limit:,} bytes"


def edit_facts(caps: ModelCapabilities) -> str:
    """One editing model's limits in a phrase: "up to 16 images (png, jpeg; under 50 MB each),
    mask, input_fidelity"."""
    count = caps.max_input_images
    images = "1 image" if count == 1 else f"up to {count} images"
    each = size_text(caps.max_input_bytes)
    if caps.max_input_pixels is not None:
        each += f", {caps.max_input_pixels:,} pixels"
    text = f"{images} ({', '.join(caps.input_formats)}; {each} each)"
    takes = [
        name for name, on in (("mask", caps.mask), ("input_fidelity", caps.input_fidelity)) if on
    ]
    return ", ".join([text, *takes])


def _grouped(per_model: Mapping[str, str]) -> str:
    """`a: x; b: y; c: x` → `a, c: x; b: y` (in first-seen order)."""
    groups: dict[str, list[str]] = {}
    for name, text in per_model.items():
        groups.setdefault(text, []).append(name)
    return "; ".join(f"{', '.join(names)}: {text}" for text, names in groups.items())


def _editors(caps: Mapping[str, ModelCapabilities]) -> dict[str, ModelCapabilities]:
    return {name: c for name, c in caps.items() if c.edits}


def _edit_request_schema(
    schema: dict[str, Any],
    ref: dict[str, Any],
    table: Mapping[str, Mapping[str, Any]],
    caps: Mapping[str, ModelCapabilities],
    default_model: str,
) -> dict[str, Any]:
    """EditRequest as generated, for the models that edit here: the generation's option prose,
    then the inputs — how many per model, the mask and input_fidelity, the body cap."""
    editors = _editors(caps)
    others = [name for name in caps if name not in editors]
    schema = _request_schema(
        schema,
        {name: table[name] for name in editors},
        default_model,
        summary=_EDIT_SUMMARY,
        visibility=_EDIT_VISIBILITY,
    )
    props: dict[str, Any] = schema["properties"]
    schema["description"] = (
        "The JSON body of an edit: the prompt, the images (and mask) by reference or inline, "
        "and the generation's options."
    )
    per_model = _grouped({name: edit_facts(c) for name, c in editors.items()})
    model = props["model"]
    model["description"] = f"A configured model that edits here. Default: {default_model}. " + (
        f"{per_model}."
        + (f" Configured but not editing here: {', '.join(others)}." if others else "")
    )
    images = props["images"]
    images["minItems"] = 1
    images["maxItems"] = max(c.max_input_images for c in editors.values())
    images["description"] = (
        "The images to edit or combine, in order (a mask applies to the first); each one of "
        "{job, index}, {blob}, {url} or {b64_json}. At most "
        + _grouped({name: str(c.max_input_images) for name, c in editors.items()})
        + f". The whole body is at most {size_text(MAX_EDIT_BODY_BYTES)}: send larger images by "
        "url or blob."
    )
    maskers = [name for name, c in editors.items() if c.mask]
    mask = {k: copy.deepcopy(v) for k, v in ref.items() if k != "example"}
    mask.update(
        {
            "description": (
                "A PNG with an alpha channel, transparent where the first image is to change; "
                f"the first image's width and height, {size_text(MASK_MAX_BYTES)}. "
                + (f"Taken by {', '.join(maskers)}." if maskers else "No model here takes a mask.")
            ),
            "x-nullable": True,
            "x-ms-summary": _EDIT_SUMMARY["mask"],
            "x-ms-visibility": _EDIT_VISIBILITY.get("mask", "advanced"),
        }
    )
    props["mask"] = mask
    fidelity = props["input_fidelity"]
    faithful = [name for name, c in editors.items() if c.input_fidelity]
    if faithful:
        fidelity["enum"] = list(INPUT_FIDELITIES)
    fidelity["description"] = (
        f"{' | '.join(INPUT_FIDELITIES)}: how closely the inputs' faces and details are kept — "
        + _grouped(
            {name: "yes" if c.input_fidelity else "not supported" for name, c in editors.items()}
        )
        + "."
    )
    schema["required"] = ["prompt", "images"]
    return schema


def _ref_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """ImageRef as generated, with the prose and Power Platform labels of each kind."""
    schema["description"] = (
        "One input image: exactly one of `job` (with `index`), `blob`, `url` and `b64_json`."
    )
    for name, prop in schema["properties"].items():
        prop["description"] = _REF_DESCRIPTION.get(name, prop.get("description", ""))
        prop["x-ms-summary"] = _REF_SUMMARY.get(name, prop.get("x-ms-summary", name))
        prop["x-ms-visibility"] = _REF_VISIBILITY.get(name, "advanced")
    return schema


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"$ref": "#/definitions/ApiError"}}


def _configuration_error() -> dict[str, Any]:
    return _error(
        f"The app's settings are invalid (`configuration_error` naming the setting, e.g. "
        f"{SECRET_SETTING} missing); nothing was started or changed."
    )


def _view_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A cancel/list answer as generated, with Power Platform labels on every property."""
    for name, prop in schema["properties"].items():
        prop["x-ms-summary"] = _VIEW_SUMMARY.get(name, prop.get("x-ms-summary", name))
        if name in _VIEW_DESCRIPTION:
            prop["description"] = _VIEW_DESCRIPTION[name]
    return schema


_LOCATION_TEXT = (
    "The job's signed status link (`/api/status/{id}?expires=...&sig=...`): GET it with no key "
    "until the job is done. Polling it answers the same link; it expires after "
    f"{TTL_SETTING} (default 24 hours)."
)


def _accepted(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {
            "Location": {"type": "string", "description": _LOCATION_TEXT},
            "Retry-After": {"type": "integer", "description": "Seconds to wait before polling."},
        },
        "schema": {"$ref": "#/definitions/JobAccepted"},
    }


def _idempotency_param(description: str) -> dict[str, Any]:
    return {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "type": "string",
        "maxLength": 200,
        "x-ms-summary": "Idempotency key",
        "description": description,
        "x-ms-visibility": "advanced",
    }


def _edit_operation(caps: Mapping[str, ModelCapabilities]) -> dict[str, Any]:
    """`EditImage`: the JSON form of `POST /api/images/edits`, answered like `StartImageJob`."""
    editors = _editors(caps)
    return {
        "operationId": "EditImage",
        "summary": "Edit images",
        "description": (
            "Edits or combines images with a prompt: a job like StartImageJob, answered the same "
            "way (202 + Location; poll GetImageJob), whose result also lists its inputs "
            "(`inputs`, each with its SHA-256). Each image is an earlier job's ({job, index}), "
            "a blob of the images container ({blob}), an https URL on IMAGE_SOURCE_ALLOWED_HOSTS "
            "({url}) or the image itself in base64 or as a data: URL ({b64_json}: in Power Apps "
            "an image control's JSON(..., JSONFormat.IncludeBinaryData) without its quotes). "
            "Models that edit here: "
            + ", ".join(editors)
            + ". Every input is fetched and checked before the job starts, so a refused request "
            "is a 400 naming the field with nothing stored or started. The route also takes "
            "OpenAI's multipart/form-data form (file parts `image` or `image[]`, repeated, and "
            "`mask`; the options as text fields), which this Swagger 2.0 document cannot "
            "describe beside the JSON body."
        ),
        "x-ms-visibility": "important",
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "parameters": [
            _idempotency_param(
                "The same key with the same request and inputs returns the same job, not a new "
                "one; with other inputs it is a 409."
            ),
            {
                "name": "body",
                "in": "body",
                "required": True,
                "schema": {"$ref": "#/definitions/EditRequest"},
            },
        ],
        "responses": {
            "202": _accepted("Job accepted; poll Location (the same status route as image jobs)."),
            "200": {
                "description": "A job with this Idempotency-Key already succeeded.",
                "schema": {"$ref": "#/definitions/JobResult"},
            },
            "400": _error(
                "Invalid request or input (or a body over "
                f"{size_text(MAX_EDIT_BODY_BYTES)}: `body_too_large`); `error.field` names it "
                "(`images[1]`, `mask`, `images[0].job`). Nothing was stored or started."
            ),
            "409": _error("The Idempotency-Key was used for a different request or inputs."),
            "415": _error("The Content-Type is neither application/json nor multipart/form-data."),
            "422": _error("A job with this Idempotency-Key already failed or was canceled."),
            "500": _configuration_error(),
            "503": {
                "description": (
                    "Blob Storage or an input's source URL is unavailable for now; nothing was "
                    "started. Retry after Retry-After."
                ),
                "headers": {
                    "Retry-After": {"type": "integer", "description": "Seconds to wait."},
                },
                "schema": {"$ref": "#/definitions/ApiError"},
            },
        },
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


_LOOKBACK_DAYS = LOOKBACK.days


def _cancel_operation() -> dict[str, Any]:
    """`CancelImageJob`: `DELETE /api/images/{id}`."""
    return {
        "operationId": "CancelImageJob",
        "summary": "Cancel an image job",
        "description": (
            "Stops a job that is still running. A generation already sent to the image service "
            "is waited for (it is billed and cannot be recalled), no further one is started, "
            "everything the job stored is deleted, and the job ends as canceled: GetImageJob "
            "then answers 422 with error code job_canceled. Answers 202 with status canceling "
            "(or canceled once it has ended) and no Location, so a flow does not wait for it; "
            "calling it again answers the same. A job that already succeeded or failed is a "
            "409 job_finished and keeps its images; so is a job whose images are all stored: a "
            "cancel that arrives then has no effect, and the job finishes."
        ),
        "x-ms-visibility": "important",
        "produces": ["application/json"],
        "parameters": [_JOB_ID_PARAM],
        "responses": {
            "202": {
                "description": (
                    "The cancel is in effect: `canceling` while the job winds down, `canceled` "
                    "once it has ended. No Location header."
                ),
                "schema": {"$ref": "#/definitions/CancelAccepted"},
            },
            "404": _error("No job with this id (`error.field`: `id`)."),
            "409": _error(
                "`job_finished`: the job already succeeded or failed, or its images are all "
                "stored and it is finishing; nothing was canceled and its images are kept."
            ),
            "500": _configuration_error(),
            "503": _error(
                "`unavailable`: the cancel could not be delivered to the running job; nothing "
                "changed. Try again after Retry-After."
            ),
        },
    }


def _list_operation() -> dict[str, Any]:
    """`ListImageJobs`: `GET /api/images`, paged with `nextLink` (x-ms-pageable)."""
    statuses = ", ".join(API_STATUSES)
    return {
        "operationId": "ListImageJobs",
        "summary": "List image jobs",
        "description": (
            f"The jobs of the last {_LOOKBACK_DAYS} days, newest first (by created time), "
            f"{TOP_DEFAULT} per page unless top says otherwise: each with its id, status, "
            f"model, the first {PROMPT_CHARS} characters of its prompt, how many images it "
            "stored, the error code of a failed or canceled job, and its signed status link. "
            "While more jobs are, the answer has continuationToken (pass it back for the next "
            "page) and nextLink (the same query for that page). Older jobs are not listed; "
            "GetImageJob still reads them by id."
        ),
        "x-ms-visibility": "important",
        "x-ms-pageable": {"nextLinkName": "nextLink"},
        "produces": ["application/json"],
        "parameters": [
            {
                "name": "top",
                "in": "query",
                "required": False,
                "type": "integer",
                "minimum": 1,
                "maximum": TOP_MAX,
                "default": TOP_DEFAULT,
                "x-ms-summary": "Jobs per page",
                "description": f"How many jobs per page: 1 to {TOP_MAX} (default {TOP_DEFAULT}).",
                "x-ms-visibility": "important",
            },
            {
                "name": "status",
                "in": "query",
                "required": False,
                "type": "string",
                "x-ms-summary": "Statuses",
                "description": (
                    f"Only jobs with one of these statuses, comma-separated: {statuses} (e.g. "
                    "`running,pending`). Empty: every status."
                ),
                "x-ms-visibility": "advanced",
            },
            {
                "name": "continuationToken",
                "in": "query",
                "required": False,
                "type": "string",
                "x-ms-summary": "Continuation token",
                "description": (
                    "The continuationToken of the previous page, for the page after it. Empty: "
                    "the first page."
                ),
                "x-ms-visibility": "advanced",
            },
        ],
        "responses": {
            "200": {
                "description": "One page of jobs, newest first.",
                "schema": {"$ref": "#/definitions/JobList"},
            },
            "400": _error(
                "A query parameter is not valid; `error.field` names it (`top`, `status` or "
                "`continuationToken`)."
            ),
            "500": _configuration_error(),
        },
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
    caps = {name: capabilities_for(family, flavour) for name, (family, flavour) in models.items()}
    editors = _editors(caps)
    defs = definitions(
        [
            (ImageRequest, "validation"),
            (EditRequest, "validation"),
            (JobAccepted, "serialization"),
            (JobResult, "serialization"),
            (ApiError, "serialization"),
            (ModelList, "serialization"),
            (CancelAccepted, "serialization"),
            (JobList, "serialization"),
        ]
    )
    for name in _VIEW_DEFINITIONS:
        defs[name] = _view_schema(defs[name])
    defs["ImageRequest"] = _request_schema(defs["ImageRequest"], table, default_model)
    defs["ImageRequest"]["example"] = {
        "prompt": "a badger wearing a tuxedo",
        "model": default_model,
    }
    for name, prop in defs["InputView"]["properties"].items():
        if name in _INPUT_VIEW_DESCRIPTION:
            prop["description"] = _INPUT_VIEW_DESCRIPTION[name]
    defs["JobResult"]["properties"]["inputs"]["description"] = (
        "An edit's inputs as staged under the job's `inputs/` folder (images in order, then the "
        "mask); absent for a generation."
    )
    edit_paths: dict[str, Any] = {}
    if editors:
        edit_default = default_model if default_model in editors else next(iter(editors))
        defs["ImageRef"] = _ref_schema(defs["ImageRef"])
        defs["EditRequest"] = _edit_request_schema(
            defs["EditRequest"], defs["ImageRef"], table, caps, edit_default
        )
        example = defs["EditRequest"]["example"]  # pydantic sorts its keys: prompt first
        defs["EditRequest"]["example"] = {
            "prompt": example["prompt"],
            "model": edit_default,
            "images": example["images"],
        }
        edit_paths[f"{ROUTE_PREFIX}/images/edits"] = {"post": _edit_operation(caps)}
    else:  # nothing here edits: no operation that could only answer 400
        del defs["EditRequest"], defs["ImageRef"]
    paths: dict[str, Any] = {
        f"{ROUTE_PREFIX}/images": {
            "post": {
                "operationId": "StartImageJob",
                "summary": "Start an image job",
                "description": (
                    "Validates the request and starts generating. Answers 202 with a Location "
                    "to poll: the job's signed status link, which needs no key, so Power "
                    "Automate follows it until the job is done."
                ),
                "x-ms-visibility": "important",
                "consumes": ["application/json"],
                "produces": ["application/json"],
                "parameters": [
                    _idempotency_param("The same key again returns the same job, not a new one."),
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
                    "422": _error(
                        "A job with this Idempotency-Key already failed or was canceled."
                    ),
                    "500": _configuration_error(),
                },
            },
            "get": _list_operation(),
        },
        **edit_paths,
        f"{ROUTE_PREFIX}/images/{{id}}": {
            "get": {
                "operationId": "GetImageJob",
                "summary": "Get an image job",
                "description": (
                    "202 with progress while the job runs, 200 with the images when it "
                    "succeeded, 422 when it failed or was canceled. In Power Apps, call it "
                    "from a Timer every few seconds until status is succeeded."
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
                    "422": _error(
                        "The job failed or was canceled; `error.code` says why (e.g. "
                        "content_filter, job_canceled)."
                    ),
                    "500": _configuration_error(),
                },
            },
            "delete": _cancel_operation(),
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
                    {
                        "name": "download",
                        "in": "query",
                        "required": False,
                        "type": "integer",
                        "enum": [1],
                        "x-ms-summary": "Download",
                        "x-ms-visibility": "advanced",
                        "description": (
                            "1: the image URL answers as an attachment (Content-Disposition "
                            'attachment; filename="image-{id8}-{index}.{ext}"), so a browser '
                            "saves it instead of showing it."
                        ),
                    },
                ],
                "responses": {
                    "302": {
                        "description": "Redirect to the image.",
                        "headers": {"Location": {"type": "string"}},
                    },
                    "404": _error("No such job or image."),
                    "409": _error("The job has not finished yet."),
                    "422": _error("The job failed or was canceled."),
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
                "Generate and edit images with Azure OpenAI (and FLUX) as durable jobs: start "
                "a job, poll its status (202 + Location + Retry-After) until it has images; "
                "list recent jobs and cancel a running one."
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
