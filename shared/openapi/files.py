"""The generated files: ``connector/`` rendered exactly as checked in, and the generated tables
of ``docs/`` (shared.openapi.doc_tables)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.openapi.doc_tables import DOC_BLOCKS, replace_blocks
from shared.openapi.document import build_document
from shared.openapi.postman import build_collection

REPO_DIR = Path(__file__).resolve().parent.parent.parent
CONNECTOR_DIR = REPO_DIR / "connector"
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


def render_docs(root: Path = REPO_DIR) -> dict[Path, str]:
    """Each docs file with generated tables → its text with them regenerated."""
    out: dict[Path, str] = {}
    for name, blocks in DOC_BLOCKS.items():
        path = root / name
        out[path] = replace_blocks(path.read_text(encoding="utf-8"), blocks, name)
    return out
