"""A Postman collection (v2.1) with one request per API operation, derived from the document.

Deriving it (instead of keeping a hand-made export) keeps its paths, methods and example body in
step with the OpenAPI document; the key travels as ``x-functions-key`` from a collection variable.
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

_SAVE_JOB_ID = [
    "if (pm.response.code === 202 || pm.response.code === 200) {",
    "    pm.collectionVariables.set('jobId', pm.response.json().id);",
    "}",
]


def _url(base_path: str, path: str) -> dict[str, Any]:
    """Postman's URL object for an OpenAPI path; ``{id}`` → ``{{jobId}}``, ``{index}`` → 0."""
    segments = [s for s in f"{base_path}{path}".split("/") if s]
    values = {"{id}": "{{jobId}}", "{index}": "0"}
    concrete = [values.get(s, s) for s in segments]
    return {
        "raw": "{{baseUrl}}/" + "/".join(concrete),
        "host": ["{{baseUrl}}"],
        "path": concrete,
    }


def build_collection(document: dict[str, Any]) -> dict[str, Any]:
    base_path = document.get("basePath", "").rstrip("/")
    example = document["definitions"]["ImageRequest"].get("example", {"prompt": "a badger"})
    items: list[dict[str, Any]] = []
    for path, operations in document["paths"].items():
        for method, op in operations.items():
            headers = [{"key": FUNCTION_KEY_HEADER, "value": "{{functionKey}}", "type": "text"}]
            request: dict[str, Any] = {
                "method": method.upper(),
                "header": headers,
                "url": _url(base_path, path),
                "description": op.get("description", ""),
            }
            item: dict[str, Any] = {"name": op["summary"], "request": request, "response": []}
            if any(p.get("in") == "body" for p in op.get("parameters", [])):
                headers.append({"key": "Content-Type", "value": "application/json", "type": "text"})
                request["body"] = {
                    "mode": "raw",
                    "raw": json.dumps(example, indent=2),
                    "options": {"raw": {"language": "json"}},
                }
            if method == "post":
                item["event"] = [
                    {"listen": "test", "script": {"type": "text/javascript", "exec": _SAVE_JOB_ID}}
                ]
            items.append(item)
    return {
        "info": {
            "_postman_id": _COLLECTION_ID,
            "name": TITLE,
            "description": document["info"]["description"]
            + "\n\nSet the collection variables baseUrl and functionKey. 'Start an image job' "
            "stores the new job's id in jobId for the other requests.",
            "schema": SCHEMA_URL,
        },
        "item": items,
        "variable": [
            {"key": "baseUrl", "value": DEFAULT_BASE_URL, "type": "string"},
            {"key": "functionKey", "value": "", "type": "string"},
            {"key": "jobId", "value": "", "type": "string"},
        ],
    }
