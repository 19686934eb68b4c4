"""The served Swagger document, read the way Power Platform and Postman read it."""

from __future__ import annotations

import httpx
from openapi_spec_validator import validate

from tests.e2e.entrypoints.conftest import KEY


def test_openapi_json_is_served_valid_and_names_the_callers_host(entry_stack, hooks):
    hooks.require("openapi_json", "start_edit_job", "cancel_image_job", "list_image_jobs")
    response = httpx.get(f"{entry_stack.base_url}/api/openapi.json", timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    validate(document)
    assert document["host"] == entry_stack.base_url.split("://", 1)[1]
    assert document["schemes"] == ["http"]
    assert document["basePath"] == "/"
    # The signed status routes (/api/status/...) are anonymous and no connector operations.
    assert {path: set(methods) for path, methods in document["paths"].items()} == {
        "/api/images": {"post", "get"},
        "/api/images/edits": {"post"},
        "/api/images/{id}": {"get", "delete"},
        "/api/images/{id}/{index}": {"get"},
        "/api/models": {"get"},
    }
    # Every documented path answers on this host (not 404 for an unknown route).
    create = httpx.post(f"{entry_stack.base_url}/api/images", json={}, headers=KEY, timeout=30)
    assert create.status_code == 400
    edit = httpx.post(f"{entry_stack.base_url}/api/images/edits", json={}, headers=KEY, timeout=30)
    assert edit.status_code == 400
    assert edit.json()["error"]["field"] == "prompt"
    listed = httpx.get(f"{entry_stack.base_url}/api/images?top=1", headers=KEY, timeout=30)
    assert listed.status_code == 200
    assert isinstance(listed.json()["value"], list)
    bad_top = httpx.get(f"{entry_stack.base_url}/api/images?top=0", headers=KEY, timeout=30)
    assert bad_top.status_code == 400
    assert bad_top.json()["error"]["field"] == "top"
    unknown = httpx.delete(
        f"{entry_stack.base_url}/api/images/no-such-job", headers=KEY, timeout=30
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["field"] == "id"
    ops = {op["operationId"]: op for path in document["paths"].values() for op in path.values()}
    assert ops["ListImageJobs"]["x-ms-pageable"] == {"nextLinkName": "nextLink"}
    assert set(ops["CancelImageJob"]["responses"]) >= {"202", "404", "409"}
    assert ops["EditImage"]["consumes"] == ["application/json"]
    assert set(ops["EditImage"]["responses"]) >= {"202", "400", "415", "503"}
    models = httpx.get(f"{entry_stack.base_url}/api/models", headers=KEY, timeout=30)
    assert models.status_code == 200
    default = document["definitions"]["ImageRequest"]["properties"]["model"]["default"]
    assert models.json()["default_model"] == default
    assert "x-functions-key" not in response.text.replace('"name": "x-functions-key"', "")
