"""The API's Swagger 2.0 document, generated from the pydantic models that validate requests.

- :func:`build_document` — the document (served, or for the connector).
- :data:`openapi_bp` — the blueprint serving ``GET /api/openapi.json``; register it in
  function_app.py.
- ``python -m shared.openapi --write | --check`` — the checked-in connector files.
"""

from shared.openapi.blueprint import bp as openapi_bp
from shared.openapi.document import build_document

__all__ = ["build_document", "openapi_bp"]
