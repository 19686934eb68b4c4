"""The API's Swagger 2.0 document, generated from the pydantic models that validate requests.

- `shared.openapi.document.build_document` — the document (served, or for the connector).
- `shared.openapi.blueprint.bp` — the blueprint serving ``GET /api/openapi.json``.
- ``python -m shared.openapi --write | --check`` — the checked-in connector files.

Nothing is re-exported here: the blueprint is imported by function_app.py, and this file runs
first, so a re-export would load the models (pydantic) on every cold start.
"""
