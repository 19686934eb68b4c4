"""The generated files of ``connector/``, rendered exactly as they are checked in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.openapi.document import build_document
from shared.openapi.postman import build_collection

CONNECTOR_DIR = Path(__file__).resolve().parent.parent.parent / "connector"
GENERATED = ("apiDefinition.swagger.json", "postman_collection.json")


def _dump(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def render_files() -> dict[str, str]:
    """File name → text, for the connector (placeholder host, default models)."""
    document = build_document()
    return {
        "apiDefinition.swagger.json": _dump(document),
        "postman_collection.json": _dump(build_collection(document)),
    }
