"""HTTP triggers served by the host over a real socket: routes, methods, bodies, failures."""

from __future__ import annotations

import httpx
import pytest


@pytest.fixture
def client(sample_host):
    with httpx.Client(base_url=sample_host.base_url, timeout=30) as c:
        yield c


def test_query_string_and_response_headers_reach_the_caller(client):
    r = client.get("/api/hello", params={"name": "badger"})
    assert r.status_code == 200
    assert r.text == "hello badger"
    assert r.headers["x-sample"] == "yes"


def test_route_parameters_and_allowed_methods(client):
    assert client.get("/api/items/42").json() == {"id": "42", "method": "GET"}
    assert client.delete("/api/Items/42").json() == {"id": "42", "method": "DELETE"}
    assert client.post("/api/items/42").status_code == 404


def test_route_values_arrive_decoded_whatever_they_contain(client):
    r = client.get("/api/items/a%20b%0Ac%E2%82%AC%28")
    assert r.json() == {"id": "a b\nc€(", "method": "GET"}


def test_literal_route_wins_over_a_parameter(client):
    assert client.get("/api/items/special").text == "the literal route wins"


def test_optional_and_constrained_route_parameters(client):
    assert client.get("/api/items/7/parts").json() == {"id": "7"}
    assert client.get("/api/items/7/parts/3").json() == {"id": "7", "index": "3"}
    assert client.get("/api/items/7/parts/three").status_code == 404


def test_function_without_route_is_served_at_its_name_with_body_bytes(client):
    payload = bytes(range(256))
    r = client.post(
        "/api/echo", content=payload, headers={"content-type": "application/octet-stream"}
    )
    assert r.status_code == 201
    assert r.content == payload
    assert client.get("/api/echo").status_code == 404


def test_unknown_path_is_404_and_failing_function_is_500(client):
    assert client.get("/api/nothing-here").status_code == 404
    assert client.get("/api/boom").status_code == 500
    # The host keeps serving after a function failed.
    assert client.get("/api/hello").status_code == 200


def test_process_environment_wins_over_local_settings(client, sample_host):
    assert client.get("/api/settings").json() == {
        "SAMPLE_FROM_FILE": "from-local-settings",
        "SAMPLE_OVERRIDDEN": "from-environment",
        # Set by the host, as Azure and Core Tools do: where the app is served.
        "WEBSITE_HOSTNAME": sample_host.base_url.removeprefix("http://"),
    }
