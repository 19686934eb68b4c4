"""Pydantic's JSON Schema (draft 2020-12) → Swagger 2.0 schema objects.

Swagger 2.0 — what Power Platform custom connectors require — predates ``null`` as a type,
``anyOf``, ``const`` and ``examples``. Rather than keep a second, hand-written copy of the request
and response schemas, the pydantic schema is translated: ``Optional[X]`` becomes ``X`` with
``x-nullable``, ``const`` becomes a one-value ``enum``, ``examples`` the single ``example``, and
``$defs`` the document's ``definitions``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

REF_TEMPLATE = "#/definitions/{model}"
_DROP = {"default", "examples", "title"}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def humanize(name: str) -> str:
    """``output_format`` → "Output format", ``statusQueryGetUri`` → "Status query get uri"."""
    words = _CAMEL.sub(" ", name).replace("_", " ").split()
    text = " ".join(words).lower()
    return text[:1].upper() + text[1:]


def _nullable_branch(schema: dict[str, Any]) -> dict[str, Any] | None:
    """The non-null branch of ``anyOf: [X, {type: null}]``, or None when it is another union."""
    branches = schema.get("anyOf")
    if not isinstance(branches, list):
        return None
    rest = [b for b in branches if b != {"type": "null"}]
    if len(rest) == 1 and len(rest) < len(branches):
        return dict(rest[0])
    return None


def convert(schema: Any, *, name: str | None = None) -> Any:
    """One JSON Schema node (recursively) as a Swagger 2.0 schema node."""
    if isinstance(schema, list):
        return [convert(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    node = dict(schema)
    nullable = False
    inner = _nullable_branch(node)
    if inner is not None:
        nullable = True
        node.pop("anyOf")
        node = {**inner, **node}
    if "anyOf" in node:  # a true union: Swagger 2.0 cannot say it, so say "string" and explain
        node.pop("anyOf")
        node.setdefault("type", "string")
    if "const" in node:
        node["enum"] = [node.pop("const")]
    examples = node.get("examples")
    if isinstance(examples, list) and examples:
        node["example"] = examples[0]
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "properties":
            out[key] = {prop: convert(sub, name=prop) for prop, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = convert(value)
        elif key == "allOf":
            out[key] = [convert(v) for v in value]
        else:
            out[key] = value
    if "$ref" in out:
        # Swagger 2.0 ignores siblings of $ref: keep the reference alone.
        return {"$ref": out["$ref"]}
    if nullable:
        out["x-nullable"] = True
    if name is not None:
        out.setdefault("x-ms-summary", humanize(name))
    return out


def definitions(
    models: Iterable[tuple[type[BaseModel], Literal["validation", "serialization"]]],
) -> dict[str, Any]:
    """Swagger ``definitions`` for the given models (and every model they reference)."""
    _, schema = models_json_schema(list(models), ref_template=REF_TEMPLATE)
    return {name: convert(body) for name, body in sorted(schema.get("$defs", {}).items())}
