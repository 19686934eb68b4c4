"""The Swagger 2.0 document, the connector files and the Postman collection stay true to the
models that validate requests."""

from __future__ import annotations

import json
import re
from pathlib import Path

import azure.functions as func
import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from shared.imaging.types import Family, Flavour
from shared.models import OPTION_FIELDS, ImageRequest, ModelList, capabilities_for
from shared.openapi.blueprint import openapi_json
from shared.openapi.document import PLACEHOLDER_HOST, build_document, default_models
from shared.openapi.files import CONNECTOR_DIR, GENERATED, render_files
from shared.openapi.postman import SCHEMA_URL, build_collection

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def document():
    return build_document()


def test_document_is_valid_swagger_2(document):
    validate(document)
    assert document["swagger"] == "2.0"


def test_the_validator_would_notice_a_broken_document(document):
    broken = json.loads(json.dumps(document))
    broken["paths"]["/api/images"]["post"]["responses"]["202"]["schema"] = {"$ref": 7}
    with pytest.raises(OpenAPIValidationError):
        validate(broken)


def test_request_schema_has_exactly_the_models_fields(document):
    schema = document["definitions"]["ImageRequest"]
    assert set(schema["properties"]) == set(ImageRequest.model_fields)
    assert schema["required"] == ["prompt"]
    assert schema["additionalProperties"] is False
    prompt = schema["properties"]["prompt"]
    assert (
        prompt["maxLength"] == ImageRequest.model_json_schema()["properties"]["prompt"]["maxLength"]
    )


def test_every_request_property_speaks_power_platform(document):
    for name, prop in document["definitions"]["ImageRequest"]["properties"].items():
        assert prop["x-ms-summary"], name
        assert prop["x-ms-visibility"] in ("important", "advanced", "internal"), name
    assert document["definitions"]["ImageRequest"]["properties"]["prompt"]["x-ms-visibility"] == (
        "important"
    )


def test_option_enums_come_from_the_capability_table(document):
    props = document["definitions"]["ImageRequest"]["properties"]
    for option in OPTION_FIELDS:
        expected: set[str] = set()
        for family, flavour in default_models().values():
            expected |= set(capabilities_for(family, flavour).options(option) or ())
        if expected:
            assert set(props[option]["enum"]) == expected, option
        else:  # moderation: no default model is on OpenAI's API
            assert "enum" not in props[option], option
    assert "1792x1024" in props["size"]["enum"]
    assert "dall-e-3: 1024x1024, 1792x1024, 1024x1792" in props["size"]["description"]
    assert "dall-e-2: not supported" in props["quality"]["description"]
    table = document["x-image-model-capabilities"]
    assert table["dall-e-3"]["style"] == ["vivid", "natural"]
    assert "style" not in table["gpt-image-1"]


def test_the_default_connector_documents_gpt_image_2_and_azure_platform_limits(document):
    request = document["definitions"]["ImageRequest"]
    props = request["properties"]
    assert props["model"]["default"] == "gpt-image-2"
    assert request["example"]["model"] == "gpt-image-2"
    assert (
        "gpt-image-2: 1024x1024, 1024x1536, 1536x1024, auto, or any WxH"
        in (props["size"]["description"])
    )
    assert "multiples of 16" in props["size"]["description"]
    assert "webp" not in props["output_format"]["enum"]  # every default model is on Azure
    assert "gpt-image-2: jpeg" in props["output_compression"]["description"]
    assert "dall-e-3: not supported" in props["output_compression"]["description"]
    assert props["output_compression"]["minimum"] == 0
    assert props["output_compression"]["maximum"] == 100


def test_an_openai_model_documents_webp_and_moderation():
    doc = build_document(models={"o2": (Family.GPT_IMAGE_2, Flavour.OPENAI)})
    props = doc["definitions"]["ImageRequest"]["properties"]
    assert "webp" in props["output_format"]["enum"]
    assert props["moderation"]["enum"] == ["low", "auto"]
    assert "o2: jpeg or webp" in props["output_compression"]["description"]
    validate(doc)


def test_list_models_is_documented(document):
    op = document["paths"]["/api/models"]["get"]
    assert op["operationId"] == "ListModels"
    assert op["responses"]["200"]["schema"] == {"$ref": "#/definitions/ModelList"}
    listed = set(document["definitions"]["ModelInfo"]["properties"])
    assert listed >= {"sizes", "size_rule", "output_compression", "moderation", "lifecycle"}
    assert set(document["definitions"]["ModelList"]["properties"]) == set(ModelList.model_fields)


def test_a_deployment_with_one_model_documents_only_its_options():
    only_d2 = {"only-d2": (Family.DALLE2, Flavour.AZURE_DALLE2_ASYNC)}
    doc = build_document(host="img.example.com", models=only_d2)
    props = doc["definitions"]["ImageRequest"]["properties"]
    assert props["model"]["enum"] == ["only-d2"]
    assert props["size"]["enum"] == ["256x256", "512x512", "1024x1024"]
    assert "enum" not in props["quality"]
    validate(doc)


def test_operations_and_responses(document):
    create = document["paths"]["/api/images"]["post"]
    assert create["responses"]["202"]["headers"].keys() >= {"Location", "Retry-After"}
    assert create["responses"]["202"]["schema"] == {"$ref": "#/definitions/JobAccepted"}
    status = document["paths"]["/api/images/{id}"]["get"]
    assert status["responses"]["200"]["schema"] == {"$ref": "#/definitions/JobResult"}
    assert "202" in status["responses"]
    assert "422" in status["responses"]
    for path in document["paths"].values():
        for op in path.values():
            assert op["x-ms-visibility"] in ("important", "advanced")
            assert op["summary"]
            assert op["operationId"]


def test_function_key_security(document):
    assert document["securityDefinitions"]["functionKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "x-functions-key",
        "description": document["securityDefinitions"]["functionKey"]["description"],
    }
    assert document["security"] == [{"functionKey": []}]


def test_served_document_uses_the_callers_host(monkeypatch):
    req = func.HttpRequest(
        "GET",
        "http://127.0.0.1:7071/api/openapi.json",
        headers={"x-forwarded-host": "img.contoso.com", "x-forwarded-proto": "https"},
        body=b"",
    )
    response = openapi_json(req)
    assert response.status_code == 200
    doc = json.loads(response.get_body())
    assert doc["host"] == "img.contoso.com"
    assert doc["schemes"] == ["https"]
    validate(doc)


def test_connector_definition_is_not_stale():
    files = render_files()
    for name in GENERATED:
        on_disk = (CONNECTOR_DIR / name).read_text(encoding="utf-8")
        assert on_disk == files[name], (
            f"connector/{name} is stale: run `.venv/bin/python -m shared.openapi --write`"
        )
    checked_in = json.loads((CONNECTOR_DIR / "apiDefinition.swagger.json").read_text("utf-8"))
    assert checked_in["host"] == PLACEHOLDER_HOST
    validate(checked_in)


def test_api_properties_declare_key_and_dynamic_host():
    props = json.loads((REPO / "connector" / "apiProperties.json").read_text("utf-8"))["properties"]
    params = props["connectionParameters"]
    assert params["api_key"]["type"] == "securestring"
    assert params["hostName"]["type"] == "string"
    (policy,) = props["policyTemplateInstances"]
    assert policy["templateId"] == "dynamichosturl"
    assert policy["parameters"]["x-ms-apimTemplateParameter.urlTemplate"] == (
        "https://@connectionParameters('hostName')"
    )


def test_postman_collection_is_v21_and_matches_the_api(document):
    collection = json.loads((REPO / "connector" / "postman_collection.json").read_text("utf-8"))
    assert collection == build_collection(document)
    assert collection["info"]["schema"] == SCHEMA_URL
    assert collection["info"]["name"]
    variables = {v["key"] for v in collection["variable"]}
    assert {"baseUrl", "functionKey"} <= variables
    operations = {
        (method.upper(), document["basePath"].rstrip("/") + path)
        for path, ops in document["paths"].items()
        for method in ops
    }
    seen = set()
    for item in collection["item"]:
        request = item["request"]
        assert set(item) >= {"name", "request"}
        assert request["url"]["raw"].startswith("{{baseUrl}}/")
        assert request["url"]["host"] == ["{{baseUrl}}"]
        headers = {h["key"]: h["value"] for h in request["header"]}
        assert headers["x-functions-key"] == "{{functionKey}}"
        # /api/images/{{jobId}}/0 → /api/images/{id}/{index}
        path = "/" + "/".join(request["url"]["path"])
        path = path.replace("{{jobId}}", "{id}")
        path = re.sub(r"(?<=\{id\}/)\d+$", "{index}", path)
        seen.add((request["method"], path))
        if request["method"] == "POST":
            ImageRequest.model_validate_json(request["body"]["raw"])
    assert seen == operations
