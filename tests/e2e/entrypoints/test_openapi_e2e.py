"""The served Swagger document, read the way Power Platform and Postman read it."""

from __future__ import annotations

import httpx
from openapi_spec_validator import validate


def test_openapi_json_is_served_valid_and_names_the_callers_host(entry_stack, hooks):
    hooks.require("openapi_json", "start_edit_job")
    response = httpx.get(f"{entry_stack.base_url}/api/openapi.json", timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    validate(document)
    assert document["host"] == entry_stack.base_url.split("://", 1)[1]
    assert document["schemes"] == ["http"]
    assert document["basePath"] == "/"
    assert set(document["paths"]) == {
        "/api/images",
        "/api/images/edits",
        "/api/images/{id}",
        "/api/images/{id}/{index}",
        "/api/models",
    }
    # Every documented path answers on this host (not 404 for an unknown route).
    create = httpx.post(f"{entry_stack.base_url}/api/images", json={}, timeout=30)
    assert create.status_code == 400
    edit = httpx.post(f"{entry_stack.base_url}/api/images/edits", json={}, timeout=30)
    assert edit.status_code == 400
    assert edit.json()["error"]["field"] == "prompt"
    ops = {op["operationId"]: op for path in document["paths"].values() for op in path.values()}
    assert ops["EditImage"]["consumes"] == ["application/json"]
    assert set(ops["EditImage"]["responses"]) >= {"202", "400", "415", "503"}
    models = httpx.get(f"{entry_stack.base_url}/api/models", timeout=30)
    assert models.status_code == 200
    default = document["definitions"]["ImageRequest"]["properties"]["model"]["default"]
    assert models.json()["default_model"] == default
    assert "x-functions-key" not in response.text.replace('"name": "x-functions-key"', "")
