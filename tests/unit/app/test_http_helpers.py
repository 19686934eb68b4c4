"""Pure parts of the HTTP API: where its links point, ids, and the retry pacing."""

from __future__ import annotations

import azure.functions as func

from shared.blueprints.http_api import api_base, instance_id_for, retry_after_for
from shared.models import Progress


def request(url: str, **route: str) -> func.HttpRequest:
    return func.HttpRequest("POST", url, headers={}, params={}, route_params=route, body=b"")


def test_the_api_base_is_the_callers_host_and_prefix_without_the_function_key():
    base = api_base(request("https://img.contoso.com/api/images?code=SECRET-KEY"))

    assert base == "https://img.contoso.com/api"


def test_the_api_base_from_each_route():
    host = "http://127.0.0.1:7071"
    assert api_base(request(f"{host}/api/images/edits")) == f"{host}/api"
    assert api_base(request(f"{host}/api/images/abc123", id="abc123")) == f"{host}/api"
    assert api_base(request(f"{host}/api/status/abc123?sig=x", id="abc123")) == f"{host}/api"
    signed_image = request(f"{host}/api/status/abc/images/1", id="abc", index="1")
    assert api_base(signed_image) == f"{host}/api"
    assert api_base(request(f"{host}/api/images/abc/1", id="abc", index="1")) == f"{host}/api"


def test_the_api_base_of_a_job_whose_id_is_images():
    # Queue messages choose their own ids; "images" must not be read as the route.
    url = "https://img.contoso.com/api/images/images"
    assert api_base(request(url, id="images")) == "https://img.contoso.com/api"


def test_the_api_base_under_another_route_prefix():
    assert api_base(request("https://h/images-api/images?code=k")) == "https://h/images-api"


def test_the_same_idempotency_key_always_gives_the_same_job_id():
    assert instance_id_for("order-42") == instance_id_for("order-42")
    assert instance_id_for("order-42") != instance_id_for("order-43")
    assert instance_id_for(None) != instance_id_for(None)
    assert instance_id_for("order-42").isalnum()


def test_retry_after_follows_a_throttled_job_within_bounds():
    waiting = Progress(stage="waiting_to_retry", images_total=1, retry_after_seconds=7.2)
    assert retry_after_for(waiting) == 8
    assert retry_after_for(waiting.model_copy(update={"retry_after_seconds": 600})) == 30
    assert retry_after_for(Progress(stage="generating", images_total=1)) == 2
    assert retry_after_for(None) == 2
