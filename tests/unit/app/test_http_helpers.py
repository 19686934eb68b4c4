"""Pure parts of the HTTP API: the status URL it hands out, ids, and the retry pacing."""

from __future__ import annotations

import azure.functions as func

from shared.blueprints.http_api import instance_id_for, retry_after_for, status_url
from shared.models import Progress


def request(url: str) -> func.HttpRequest:
    return func.HttpRequest("POST", url, headers={}, params={}, route_params={}, body=b"")


def test_status_url_is_absolute_on_the_callers_host_and_drops_the_function_key():
    req = request("https://img.contoso.com/api/images?code=SECRET-KEY")

    url = status_url(req, "abc123")

    assert url == "https://img.contoso.com/api/images/abc123"
    assert "SECRET" not in url


def test_status_url_from_the_status_route_itself():
    assert (
        status_url(request("http://127.0.0.1:7071/api/images/abc123"), "abc123")
        == "http://127.0.0.1:7071/api/images/abc123"
    )


def test_status_url_of_a_job_whose_id_starts_with_images():
    # Queue messages choose their own ids; "images-1" must not be read as the route.
    assert (
        status_url(request("https://img.contoso.com/api/images/images-1"), "images-1")
        == "https://img.contoso.com/api/images/images-1"
    )


def test_status_url_under_another_route_prefix():
    assert (
        status_url(request("https://h/images-api/images?code=k"), "j1")
        == "https://h/images-api/images/j1"
    )


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
