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

from shared.edit_requests import MAX_EDIT_BODY_BYTES, EditRequest, ImageRef
from shared.imaging.types import Family, Flavour
from shared.job_list import API_STATUSES, TOP_DEFAULT, TOP_MAX, ListQuery
from shared.job_views import CancelAccepted, JobList, JobSummary
from shared.models import (
    CAPABILITIES,
    OPTION_FIELDS,
    ImageRequest,
    InputView,
    ModelList,
    capabilities_for,
)
from shared.openapi.blueprint import openapi_json
from shared.openapi.doc_tables import (
    DOC_BLOCKS,
    EDIT_MODELS,
    begin_marker,
    edit_models_table,
    end_marker,
    replace_blocks,
)
from shared.openapi.document import PLACEHOLDER_HOST, build_document, default_models, size_text
from shared.openapi.files import CONNECTOR_DIR, GENERATED, render_docs, render_files
from shared.openapi.postman import (
    FOLLOW_LINK_NAME,
    SCHEMA_URL,
    STATUS_LINK_VARIABLE,
    build_collection,
)

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
        if item["name"] == FOLLOW_LINK_NAME:  # no operation of the document: tested below
            continue
        assert request["url"]["raw"].startswith("{{baseUrl}}/")
        assert request["url"]["host"] == ["{{baseUrl}}"]
        headers = {h["key"]: h["value"] for h in request["header"]}
        assert headers["x-functions-key"] == "{{functionKey}}"
        # /api/images/{{jobId}}/0 → /api/images/{id}/{index}
        path = "/" + "/".join(request["url"]["path"])
        path = path.replace("{{jobId}}", "{id}")
        path = re.sub(r"(?<=\{id\}/)\d+$", "{index}", path)
        seen.add((request["method"], path))
        if (request["method"], path) == ("POST", "/api/images"):
            ImageRequest.model_validate_json(request["body"]["raw"])
        elif path == "/api/images/edits":
            _edit_body(request)  # validated there
    assert seen == operations


def _raw_url(item):
    """A Postman item's URL as text: a URL object's `raw`, or the URL string itself (the signed
    link request's `{{statusLink}}`)."""
    url = item["request"]["url"]
    return url if isinstance(url, str) else url["raw"]


def _edit_body(request):
    """A Postman edit request's body as EditRequest: the raw JSON, or the multipart text fields."""
    body = request["body"]
    if body["mode"] == "raw":
        return EditRequest.model_validate_json(body["raw"])
    fields = {f["key"]: f["value"] for f in body["formdata"] if f["type"] == "text"}
    return EditRequest.model_validate_json(json.dumps(fields))


EDIT_PATH = "/api/images/edits"


def _editing(models):
    return [name for name, (f, v) in models.items() if capabilities_for(f, v).edits]


def test_edit_request_schema_has_exactly_the_models_fields(document):
    schema = document["definitions"]["EditRequest"]
    assert set(schema["properties"]) == set(EditRequest.model_fields)
    assert schema["required"] == ["prompt", "images"]  # the JSON form needs at least one image
    assert schema["additionalProperties"] is False
    props = schema["properties"]
    assert props["images"]["items"] == {"$ref": "#/definitions/ImageRef"}
    assert props["images"]["minItems"] == 1
    ref = document["definitions"]["ImageRef"]
    assert set(ref["properties"]) == set(ImageRef.model_fields)
    assert ref["additionalProperties"] is False
    # the mask is an ImageRef inlined, so that its own description and labels survive Swagger 2.0
    assert set(props["mask"]["properties"]) == set(ImageRef.model_fields)
    assert props["mask"]["x-nullable"] is True
    EditRequest.model_validate(schema["example"])
    ImageRef.model_validate(ref["example"])
    generated = EditRequest.model_json_schema()["properties"]
    assert props["prompt"]["maxLength"] == generated["prompt"]["maxLength"]


def test_every_edit_property_speaks_power_platform(document):
    for definition in ("EditRequest", "ImageRef"):
        props = document["definitions"][definition]["properties"]
        for name, prop in props.items():
            assert prop["x-ms-summary"], (definition, name)
            assert prop["x-ms-visibility"] in ("important", "advanced", "internal"), name
    edit = document["definitions"]["EditRequest"]["properties"]
    assert edit["prompt"]["x-ms-visibility"] == "important"
    assert edit["images"]["x-ms-visibility"] == "important"
    for name, prop in edit["mask"]["properties"].items():
        assert prop["x-ms-summary"], name
        assert prop["x-ms-visibility"], name
    ref = document["definitions"]["ImageRef"]["properties"]
    assert ref["b64_json"]["x-ms-visibility"] == "important"
    assert "JSONFormat.IncludeBinaryData" in ref["b64_json"]["description"]


def test_edit_operation_is_json_and_answers_like_start_image_job(document):
    op = document["paths"][EDIT_PATH]["post"]
    start = document["paths"]["/api/images"]["post"]
    assert op["operationId"] == "EditImage"
    assert op["summary"]
    assert op["x-ms-visibility"] == "important"
    assert op["consumes"] == ["application/json"]
    kinds = [p["in"] for p in op["parameters"]]
    assert "formData" not in kinds
    (body,) = [p for p in op["parameters"] if p["in"] == "body"]
    assert body["schema"] == {"$ref": "#/definitions/EditRequest"}
    assert body["required"] is True
    (key,) = [p for p in op["parameters"] if p["in"] == "header"]
    assert key["name"] == "Idempotency-Key"
    assert set(op["responses"]) == {"200", "202", "400", "409", "415", "422", "500", "503"}
    for status in ("200", "202"):
        assert op["responses"][status]["schema"] == start["responses"][status]["schema"]
    assert op["responses"]["202"]["headers"] == start["responses"]["202"]["headers"]
    assert "Retry-After" in op["responses"]["503"]["headers"]
    for status in ("400", "409", "415", "422", "500", "503"):
        assert op["responses"][status]["schema"] == {"$ref": "#/definitions/ApiError"}
    assert "multipart/form-data" in op["description"]  # named, as Swagger 2.0 cannot show it
    assert "64 MiB" in op["responses"]["400"]["description"]


def test_edit_models_and_limits_come_from_the_capability_table(document):
    models = default_models()
    props = document["definitions"]["EditRequest"]["properties"]
    editing = _editing(models)
    assert editing
    assert len(editing) < len(models)  # the DALL-E defaults do not edit
    assert props["model"]["enum"] == editing
    assert props["model"]["default"] == "gpt-image-2"
    assert document["definitions"]["EditRequest"]["example"]["model"] == "gpt-image-2"
    for name in models:
        assert name in props["model"]["description"], name
    caps = {name: capabilities_for(*models[name]) for name in editing}
    assert props["images"]["maxItems"] == max(c.max_input_images for c in caps.values())
    assert size_text(MAX_EDIT_BODY_BYTES) in props["images"]["description"]
    assert "url or blob" in props["images"]["description"]
    assert props["input_fidelity"]["enum"] == ["high", "low"]
    assert "gpt-image-1-mini: not supported" in props["input_fidelity"]["description"]
    assert "under 4 MB" in props["mask"]["description"]
    assert "first image" in props["mask"]["description"]


def test_a_flux_deployment_documents_its_reference_image_limits():
    models = {
        "kontext": (Family.FLUX_1_KONTEXT_PRO, Flavour.BFL),
        "flex": (Family.FLUX_2_FLEX, Flavour.BFL_FOUNDRY),
        "pro11": (Family.FLUX_1_1_PRO, Flavour.BFL),
    }
    doc = build_document(models=models, default_model="pro11")
    validate(doc)
    props = doc["definitions"]["EditRequest"]["properties"]
    assert props["model"]["enum"] == ["kontext", "flex"]
    assert props["model"]["default"] == "kontext"  # the default model does not edit
    assert props["images"]["maxItems"] == FLEX_FOUNDRY_INPUTS == 10
    assert "kontext: 1" in props["images"]["description"]
    assert "No model here takes a mask" in props["mask"]["description"]
    assert "enum" not in props["input_fidelity"]


FLEX_FOUNDRY_INPUTS = capabilities_for(Family.FLUX_2_FLEX, Flavour.BFL_FOUNDRY).max_input_images


def test_a_deployment_without_an_editing_model_has_no_edit_operation():
    doc = build_document(models={"d3": (Family.DALLE3, Flavour.AZURE_DEPLOYMENT)})
    validate(doc)
    assert EDIT_PATH not in doc["paths"]
    assert "EditRequest" not in doc["definitions"]
    assert "ImageRef" not in doc["definitions"]
    collection = build_collection(doc)
    assert not [i for i in collection["item"] if "edits" in _raw_url(i)]


def test_the_result_schema_lists_an_edits_inputs(document):
    result = document["definitions"]["JobResult"]["properties"]
    assert result["inputs"]["items"] == {"$ref": "#/definitions/InputView"}
    assert "inputs" not in document["definitions"]["JobResult"]["required"]
    view = document["definitions"]["InputView"]
    assert set(view["properties"]) == set(InputView.model_fields)
    assert "SHA-256" in view["properties"]["sha256"]["description"]
    assert "inputs/" in view["properties"]["blob"]["description"]


def test_the_connector_has_edit_image_with_a_json_body():
    checked_in = json.loads((CONNECTOR_DIR / "apiDefinition.swagger.json").read_text("utf-8"))
    ops = {
        op["operationId"]: (path, method, op)
        for path, methods in checked_in["paths"].items()
        for method, op in methods.items()
    }
    path, method, op = ops["EditImage"]
    assert (path, method) == (EDIT_PATH, "post")
    assert op["consumes"] == ["application/json"]
    assert [p["schema"] for p in op["parameters"] if p["in"] == "body"] == [
        {"$ref": "#/definitions/EditRequest"}
    ]
    assert set(checked_in["definitions"]["EditRequest"]["properties"]) == set(
        EditRequest.model_fields
    )


def test_postman_has_a_json_edit_of_the_last_job_and_a_multipart_upload(document):
    collection = json.loads((REPO / "connector" / "postman_collection.json").read_text("utf-8"))
    edits = [i for i in collection["item"] if _raw_url(i).endswith("/images/edits")]
    by_mode = {i["request"]["body"]["mode"]: i for i in edits}
    assert set(by_mode) == {"raw", "formdata"}
    assert len(edits) == 2

    as_json = by_mode["raw"]["request"]
    edit = _edit_body(as_json)
    assert [ref.model_dump(exclude_none=True) for ref in edit.images] == [
        {"job": "{{jobId}}", "index": 0}
    ]
    headers = {h["key"]: h["value"] for h in as_json["header"]}
    assert headers["Content-Type"] == "application/json"

    upload = by_mode["formdata"]["request"]
    parts = upload["body"]["formdata"]
    files = [p for p in parts if p["type"] == "file"]
    assert [p["key"] for p in files if not p.get("disabled")] == ["image[]"]
    assert {p["key"] for p in files} == {"image[]", "mask"}
    assert _edit_body(upload).prompt
    # Postman writes a multipart Content-Type with its boundary itself
    assert "Content-Type" not in {h["key"] for h in upload["header"]}
    for item in edits:  # each edit stores its job's id for 'Get an image job'
        (event,) = item["event"]
        assert "jobId" in "".join(event["script"]["exec"])


def test_generated_doc_tables_are_not_stale():
    for path, text in render_docs().items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path} has a stale generated table: run `.venv/bin/python -m shared.openapi --write`"
        )
    assert "docs/app.md" in DOC_BLOCKS


def test_the_edit_models_table_says_what_capabilities_for_says():
    table = edit_models_table()
    rows = [line.split(" | ") for line in table.splitlines()[2:]]
    seen = set()
    for row in rows:
        models = [m.strip("`| ") for m in row[0].split(", ")]
        flavours = [f.strip("`") for f in row[1].split(", ")]
        for family in Family:
            if family.model_id not in models:
                continue
            for value in flavours:
                caps = capabilities_for(family, Flavour(value))
                expected = str(caps.max_input_images) if caps.edits else "no edits"
                assert row[2] == expected, (family, value)
                seen.add((family, value))
    served = {
        (family, flavour.value) for family, c in CAPABILITIES.items() for flavour in c.flavours
    }
    assert {(f, v) for f, v in seen} == served  # every model on every flavour it is served on


def test_replacing_a_block_keeps_the_text_around_it():
    text = f"before\n{begin_marker(EDIT_MODELS)}\nold\n{end_marker(EDIT_MODELS)}\nafter\n"
    out = replace_blocks(text, {EDIT_MODELS: lambda: "new"}, "x.md")
    assert out == f"before\n{begin_marker(EDIT_MODELS)}\nnew\n{end_marker(EDIT_MODELS)}\nafter\n"
    with pytest.raises(ValueError, match=r"x\.md"):
        replace_blocks("no markers", {EDIT_MODELS: lambda: "new"}, "x.md")


def test_size_text_reads_like_the_sources():
    assert size_text(50 * 1000 * 1000 - 1) == "under 50 MB"
    assert size_text(20 * 1000 * 1000) == "at most 20 MB"
    assert size_text(64 * 1024 * 1024) == "64 MiB"
    assert size_text(12345) == "at most 12,345 bytes"


# ---- cancel, list and the signed status links ----------------------------------------------------


def _operations(document):
    return {
        op["operationId"]: (path, method, op)
        for path, methods in document["paths"].items()
        for method, op in methods.items()
    }


def test_every_operation_id_is_where_the_routes_are(document):
    where = {name: (path, method) for name, (path, method, _op) in _operations(document).items()}
    assert where == {
        "StartImageJob": ("/api/images", "post"),
        "ListImageJobs": ("/api/images", "get"),
        "EditImage": ("/api/images/edits", "post"),
        "GetImageJob": ("/api/images/{id}", "get"),
        "CancelImageJob": ("/api/images/{id}", "delete"),
        "GetImageFile": ("/api/images/{id}/{index}", "get"),
        "ListModels": ("/api/models", "get"),
    }
    # POST and GET share the one path item, as do GET and DELETE of a job
    assert set(document["paths"]["/api/images"]) == {"post", "get"}
    assert set(document["paths"]["/api/images/{id}"]) == {"get", "delete"}


def test_cancel_is_documented_with_its_answers(document):
    op = _operations(document)["CancelImageJob"][2]
    assert op["summary"] == "Cancel an image job"
    assert op["x-ms-visibility"] == "important"
    (param,) = op["parameters"]
    assert (param["name"], param["in"], param["required"]) == ("id", "path", True)
    assert param == document["paths"]["/api/images/{id}"]["get"]["parameters"][0]
    assert set(op["responses"]) == {"202", "404", "409", "500", "503"}
    accepted = op["responses"]["202"]
    assert accepted["schema"] == {"$ref": "#/definitions/CancelAccepted"}
    # no Location: a Power Automate HTTP action must end on this answer, not poll
    assert "headers" not in accepted
    for status in ("404", "409", "500"):
        assert op["responses"][status]["schema"] == {"$ref": "#/definitions/ApiError"}
    assert "job_finished" in op["responses"]["409"]["description"]
    assert "billed" in op["description"]
    assert "job_canceled" in op["description"]


def test_list_is_pageable_with_its_query_parameters(document):
    op = _operations(document)["ListImageJobs"][2]
    assert op["summary"] == "List image jobs"
    assert op["x-ms-pageable"] == {"nextLinkName": "nextLink"}
    params = {p["name"]: p for p in op["parameters"]}
    assert set(params) == set(ListQuery.model_fields) == {"top", "status", "continuationToken"}
    for param in params.values():
        assert param["in"] == "query"
        assert param["required"] is False
        assert param["x-ms-summary"]
        assert param["x-ms-visibility"] in ("important", "advanced")
    top = params["top"]
    assert (top["type"], top["minimum"], top["maximum"], top["default"]) == (
        "integer",
        1,
        TOP_MAX,
        TOP_DEFAULT,
    )
    for status in API_STATUSES:
        assert status in params["status"]["description"]
    assert set(op["responses"]) == {"200", "400", "500"}
    assert op["responses"]["200"]["schema"] == {"$ref": "#/definitions/JobList"}
    assert op["responses"]["400"]["schema"] == {"$ref": "#/definitions/ApiError"}
    for name in params:  # a 400 names the query parameter
        assert f"`{name}`" in op["responses"]["400"]["description"]


def test_cancel_and_list_schemas_are_the_job_views_models(document):
    defs = document["definitions"]
    for name, model in (
        ("CancelAccepted", CancelAccepted),
        ("JobList", JobList),
        ("JobSummary", JobSummary),
    ):
        assert set(defs[name]["properties"]) == set(model.model_fields), name
        for prop, schema in defs[name]["properties"].items():
            assert schema["x-ms-summary"], (name, prop)
    job_list = defs["JobList"]
    # x-ms-pageable's defaults: the items in `value`, the next page in `nextLink`
    assert job_list["properties"]["value"]["items"] == {"$ref": "#/definitions/JobSummary"}
    assert job_list["properties"]["nextLink"]["type"] == "string"
    assert defs["JobSummary"]["properties"]["status"]["enum"] == list(API_STATUSES)
    assert defs["CancelAccepted"]["properties"]["status"]["enum"] == ["canceling", "canceled"]
    assert defs["JobSummary"]["properties"]["statusQueryGetUri"]["x-ms-summary"] == "Status link"


def test_status_answers_say_location_is_a_signed_link_and_name_the_secret(document):
    ops = _operations(document)
    for name in ("StartImageJob", "GetImageJob", "EditImage"):
        _path, _method, op = ops[name]
        location = op["responses"]["202"]["headers"]["Location"]["description"]
        assert "/api/status/{id}?expires=" in location, name
        assert "no key" in location, name
        assert "STATUS_LINK_SECRET" in op["responses"]["500"]["description"], name
    _path, _method, get = ops["GetImageJob"]
    assert "job_canceled" in get["responses"]["422"]["description"]


def test_the_signed_status_routes_are_no_connector_operations(document):
    # Anonymous routes checked by their own signature: not actions of a connector whose
    # connection sends the function key (shared/openapi/document.py says why).
    assert not [path for path in document["paths"] if path.startswith("/api/status")]
    assert document["security"] == [{"functionKey": []}]
    for methods in document["paths"].values():
        for op in methods.values():
            assert "security" not in op


def test_the_checked_in_connector_has_cancel_and_list():
    checked_in = json.loads((CONNECTOR_DIR / "apiDefinition.swagger.json").read_text("utf-8"))
    validate(checked_in)
    ops = _operations(checked_in)
    assert ops["CancelImageJob"][:2] == ("/api/images/{id}", "delete")
    assert ops["ListImageJobs"][:2] == ("/api/images", "get")
    assert ops["ListImageJobs"][2]["x-ms-pageable"] == {"nextLinkName": "nextLink"}


def _items(collection):
    return {item["name"]: item for item in collection["item"]}


def test_postman_has_cancel_list_and_follows_the_signed_link(document):
    collection = json.loads((REPO / "connector" / "postman_collection.json").read_text("utf-8"))
    items = _items(collection)
    cancel = items["Cancel an image job"]["request"]
    assert cancel["method"] == "DELETE"
    assert cancel["url"]["raw"] == "{{baseUrl}}/api/images/{{jobId}}"
    listing = items["List image jobs"]["request"]
    assert listing["method"] == "GET"
    assert listing["url"]["raw"] == f"{{{{baseUrl}}}}/api/images?top={TOP_DEFAULT}"
    query = {q["key"]: q for q in listing["url"]["query"]}
    assert set(query) == {"top", "status", "continuationToken"}
    assert query["top"]["value"] == str(TOP_DEFAULT)
    assert not query["top"].get("disabled")
    assert query["status"]["disabled"] is True
    assert query["continuationToken"]["disabled"] is True
    for item in (items["Cancel an image job"], items["List image jobs"]):
        assert "event" not in item  # only a POST stores a job's id and link

    follow = items[FOLLOW_LINK_NAME]["request"]
    assert follow["method"] == "GET"
    assert follow["url"] == STATUS_LINK_VARIABLE  # the whole link, its expires & sig included
    assert follow["header"] == []  # no function key: the link is its own credential
    assert "statusLink" in {v["key"] for v in collection["variable"]}
    for item in collection["item"]:  # every POST stores the Location it answered
        if item["request"]["method"] == "POST":
            script = "".join(item["event"][0]["script"]["exec"])
            assert "statusLink" in script, item["name"]
            assert "Location" in script, item["name"]
