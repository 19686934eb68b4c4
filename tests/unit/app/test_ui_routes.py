"""The playground's routes serve the page and its two assets, with the page's security headers,
and nothing else of the package."""

from __future__ import annotations

import json

import azure.functions as func
import pytest

from shared.blueprints.ui_api import ASSETS, UI_DIR, playground_asset, playground_page

CSP = (
    "default-src 'self'; img-src * data: blob:; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def request(route: str, **route_params: str) -> func.HttpRequest:
    return func.HttpRequest(
        "GET",
        f"http://127.0.0.1:7071/api/{route}",
        headers={},
        params={},
        route_params=route_params,
        body=b"",
    )


def assert_page_headers(response: func.HttpResponse) -> None:
    assert response.headers["Content-Security-Policy"] == CSP
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-cache"


def test_the_page_is_the_shipped_index_html_with_its_headers() -> None:
    response = playground_page(request("ui"))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.get_body() == (UI_DIR / "index.html").read_bytes()
    assert_page_headers(response)
    page = response.get_body().decode()
    # the assets it loads are the allow-listed ones, relative to /api/ (no CDN, no inline code)
    assert 'src="ui/app.js"' in page
    assert 'href="ui/app.css"' in page
    for absent in ("http://", "https://", "<style", "onclick="):
        assert absent not in page


@pytest.mark.parametrize(
    ("route", "location"),
    [("ui/", "/api/ui"), ("ui//", "/api/ui"), ("ui/?x=1", "/api/ui?x=1")],
)
def test_the_page_with_a_trailing_slash_redirects_to_the_page(route: str, location: str) -> None:
    # from /api/ui/ the page's relative asset links would resolve to /api/ui/ui/app.js
    response = playground_page(request(route))
    assert response.status_code == 308
    assert response.headers["Location"] == location
    assert response.get_body() == b""
    assert_page_headers(response)


@pytest.mark.parametrize(
    ("name", "content_type"),
    [("app.js", "text/javascript; charset=utf-8"), ("app.css", "text/css; charset=utf-8")],
)
def test_each_asset_is_served_with_its_content_type(name: str, content_type: str) -> None:
    response = playground_asset(request(f"ui/{name}", name=name))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type
    assert response.get_body() == (UI_DIR / name).read_bytes()
    assert_page_headers(response)


@pytest.mark.parametrize(
    "name",
    [
        "index.html",  # the page has its own route
        "../function_app.py",
        "..%2Ffunction_app.py",
        "../../host.json",
        "..\\models_api.py",
        "/etc/passwd",
        "APP.JS",
        "app.js ",
        "app.js/",
        "app.js\x00",
        "",
        ".",
        "..",
    ],
)
def test_any_other_name_is_a_404_naming_it(name: str) -> None:
    response = playground_asset(request("ui/x", name=name))
    assert response.status_code == 404
    assert json.loads(response.get_body())["error"] == {
        "code": "not_found",
        "message": "no such playground file",
        "field": "name",
    }
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_every_allow_listed_asset_exists() -> None:
    assert sorted(ASSETS) == ["app.css", "app.js"]
    for name in [*ASSETS, "index.html"]:
        assert (UI_DIR / name).is_file(), name
