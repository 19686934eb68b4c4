"""A Postman collection (v2.1) with one request per API operation, derived from the document.

Deriving it (instead of keeping a hand-made export) keeps its paths, methods and example bodies in
step with the OpenAPI document; the key travels as ``x-functions-key`` from a collection variable.
Each POST stores the id of the job it started in ``jobId``, which the status, cancel and download
requests use — and so does the JSON edit, whose example edits that job's first image — and the
job's signed status link (its ``Location``) in ``statusLink``, which "Follow the signed status
link" GETs with no key, as Power Automate does. The edit operation gets a second request,
OpenAI's multipart form with file parts, which the document (Swagger 2.0, one body per operation)
cannot describe itself. Query parameters are listed on their request, the optional ones switched
off unless the document gives them a default.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from shared.openapi.document import FUNCTION_KEY_HEADER, TITLE

SCHEMA_URL = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
# Fixed so regenerating the file changes nothing when the API did not change.
_COLLECTION_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "aoai-image-durable/postman"))
DEFAULT_BASE_URL = "http://127.0.0.1:7071"
JOB_ID_VARIABLE = "{{jobId}}"
EDIT_OPERATION = "EditImage"

STATUS_LINK_VARIABLE = "{{statusLink}}"
FOLLOW_LINK_NAME = "Follow the signed status link"

_SAVE_JOB_ID = [
    "if (pm.response.code === 202 || pm.response.code === 200) {",
    "    const body = pm.response.json();",
    "    pm.collectionVariables.set('jobId', body.id);",
    "    // the signed status link: Location of a 202 (absent on a 200 that is already done)",
    "    const link = pm.response.headers.get('Location') || body.statusQueryGetUri;",
    "    if (link) {",
    "        pm.collectionVariables.set('statusLink', link);",
    "    }",
    "}",
]


def _query(op: dict[str, Any]) -> list[dict[str, Any]]:
    """Postman's query entries for an operation's query parameters: the default as the value,
    an optional parameter without one switched off."""
    entries = []
    for param in op.get("parameters", []):
        if param.get("in") != "query":
            continue
        entry: dict[str, Any] = {
            "key": param["name"],
            "value": str(param["default"]) if "default" in param else "",
            "description": param.get("description", ""),
        }
        if not param.get("required") and "default" not in param:
            entry["disabled"] = True
        entries.append(entry)
    return entries


def _url(base_path: str, path: str, query: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Postman's URL object for an OpenAPI path; ``{id}`` → ``{{jobId}}``, ``{index}`` → 0."""
    segments = [s for s in f"{base_path}{path}".split("/") if s]
    values = {"{id}": JOB_ID_VARIABLE, "{index}": "0"}
    concrete = [values.get(s, s) for s in segments]
    raw = "{{baseUrl}}/" + "/".join(concrete)
    on = [f"{q['key']}={q['value']}" for q in query or [] if not q.get("disabled")]
    if on:
        raw += "?" + "&".join(on)
    url: dict[str, Any] = {"raw": raw, "host": ["{{baseUrl}}"], "path": concrete}
    if query:
        url["query"] = query
    return url


def _follow_link_item() -> dict[str, Any]:
    """GET the signed status link the last POST answered, with no key (what Power Automate's
    HTTP action does with Location). The URL is the whole variable: the link carries its own
    query (``expires``, ``sig``)."""
    return {
        "name": FOLLOW_LINK_NAME,
        "request": {
            "method": "GET",
            "header": [],
            "url": STATUS_LINK_VARIABLE,
            "description": (
                "GETs the Location (signed status link) of the last 'Start an image job' or "
                "edit, stored in statusLink, with no function key: 202 while the job runs "
                "(Location: the same link), then 200 with the images, or 422 when it failed or "
                "was canceled. A changed, expired or other job's link answers 403 (link_invalid, "
                "link_expired)."
            ),
        },
        "response": [],
    }


def _body_example(document: dict[str, Any], op: dict[str, Any]) -> dict[str, Any] | None:
    """The example of the definition an operation's body refers to (None: it takes no body)."""
    for param in op.get("parameters", []):
        if param.get("in") != "body":
            continue
        name = param["schema"]["$ref"].rsplit("/", 1)[1]
        example: dict[str, Any] = document["definitions"][name].get("example", {})
        return example
    return None


def _raw_json(example: dict[str, Any]) -> dict[str, Any]:
    return {
        "mode": "raw",
        "raw": json.dumps(example, indent=2),
        "options": {"raw": {"language": "json"}},
    }


def _from_last_job(example: dict[str, Any]) -> dict[str, Any]:
    """The edit example with its images replaced by the first image of the job in ``jobId``."""
    return {**example, "images": [{"job": JOB_ID_VARIABLE, "index": 0}]}


def _multipart(example: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's edits form: the example's text options, one `image[]` file part to choose, and a
    second image and a mask ready to switch on."""
    fields: list[dict[str, Any]] = [
        {"key": key, "value": value, "type": "text"}
        for key, value in example.items()
        if isinstance(value, str)
    ]
    fields += [
        {
            "key": "image[]",
            "type": "file",
            "src": [],
            "description": "The image to edit (png or jpeg). Repeat image[] for more images.",
        },
        {
            "key": "image[]",
            "type": "file",
            "src": [],
            "disabled": True,
            "description": "A second image, for models that combine several.",
        },
        {
            "key": "mask",
            "type": "file",
            "src": [],
            "disabled": True,
            "description": "A PNG with transparent areas where the first image is to change; "
            "the first image's size (GPT image models only).",
        },
    ]
    return {"mode": "formdata", "formdata": fields}


def _item(
    name: str,
    method: str,
    url: dict[str, Any],
    description: str,
    body: dict[str, Any] | None,
) -> dict[str, Any]:
    headers = [{"key": FUNCTION_KEY_HEADER, "value": "{{functionKey}}", "type": "text"}]
    request: dict[str, Any] = {
        "method": method.upper(),
        "header": headers,
        "url": url,
        "description": description,
    }
    if body is not None:
        if body["mode"] == "raw":  # multipart: Postman writes the Content-Type and its boundary
            headers.append({"key": "Content-Type", "value": "application/json", "type": "text"})
        request["body"] = body
    item: dict[str, Any] = {"name": name, "request": request, "response": []}
    if method == "post":
        item["event"] = [
            {"listen": "test", "script": {"type": "text/javascript", "exec": _SAVE_JOB_ID}}
        ]
    return item


def build_collection(document: dict[str, Any]) -> dict[str, Any]:
    base_path = document.get("basePath", "").rstrip("/")
    items: list[dict[str, Any]] = []
    for path, operations in document["paths"].items():
        for method, op in operations.items():
            url = _url(base_path, path, _query(op))
            description = op.get("description", "")
            example = _body_example(document, op)
            if op.get("operationId") != EDIT_OPERATION:
                body = None if example is None else _raw_json(example)
                items.append(_item(op["summary"], method, url, description, body))
                continue
            if example is None:
                raise ValueError(f"{EDIT_OPERATION} has no body to show")
            items.append(
                _item(
                    f"{op['summary']} (JSON, the last job's image)",
                    method,
                    url,
                    "Edits the first image of the job in jobId (run 'Start an image job' first). "
                    + description,
                    _raw_json(_from_last_job(example)),
                )
            )
            items.append(
                _item(
                    f"{op['summary']} (multipart upload)",
                    method,
                    _url(base_path, path),
                    "Uploads the image files as OpenAI's edits form (choose a file for image[]). "
                    + description,
                    _multipart(example),
                )
            )
    items.append(_follow_link_item())
    return {
        "info": {
            "_postman_id": _COLLECTION_ID,
            "name": TITLE,
            "description": document["info"]["description"]
            + "\n\nSet the collection variables baseUrl and functionKey. Each POST ('Start an "
            "image job', the edits) stores its job's id in jobId for the other requests (get, "
            "cancel, download) and its signed status link in statusLink for 'Follow the signed "
            "status link', which sends no key; the JSON edit edits that job's first image.",
            "schema": SCHEMA_URL,
        },
        "item": items,
        "variable": [
            {"key": "baseUrl", "value": DEFAULT_BASE_URL, "type": "string"},
            {"key": "functionKey", "value": "", "type": "string"},
            {"key": "jobId", "value": "", "type": "string"},
            {"key": "statusLink", "value": "", "type": "string"},
        ],
    }
