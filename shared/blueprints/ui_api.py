"""``GET /api/ui``: the playground, a static page that drives the API from a browser.

Anonymous on purpose: the page and its two assets hold no secret (a caller types a function key
into the page when the API asks for one). Only the files named in ``ASSETS`` are served, looked up
by exact name, so no request can reach another file of the package. The page talks to the API on
the same origin, and the headers say so: a Content-Security-Policy that allows scripts, styles
and fetches from this origin only (images from anywhere: the SAS links point at Blob Storage),
``nosniff``, no referrer (a signed link never leaks in a ``Referer``) and no framing.

The page names its assets relative to ``/api/`` (``ui/app.js``), so it must be served at
``/api/ui`` exactly: ``/api/ui/`` (which the host routes here too) would resolve them to
``/api/ui/ui/app.js``. A path that ends in ``/`` is therefore a 308 to the same path without it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import azure.durable_functions as df
import azure.functions as func

bp = df.Blueprint()

UI_DIR = Path(__file__).resolve().parent.parent / "ui"
PAGE = "index.html"
# name -> Content-Type; nothing else under UI_DIR is served
ASSETS = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}
PAGE_TYPE = "text/html; charset=utf-8"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src * data: blob:; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@cache
def _read(name: str) -> bytes:
    """A shipped file's bytes, read once per worker (the package does not change under it)."""
    return (UI_DIR / name).read_bytes()


def _file(name: str, content_type: str) -> func.HttpResponse:
    return func.HttpResponse(
        _read(name), status_code=200, headers={**HEADERS, "Content-Type": content_type}
    )


@bp.function_name("playground_page")
@bp.route(route="ui", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def playground_page(req: func.HttpRequest) -> func.HttpResponse:
    """`GET /api/ui`: the page; `GET /api/ui/` (or `//`…) a 308 to `/api/ui`."""
    url = urlsplit(req.url)
    if url.path.endswith("/"):
        location = url.path.rstrip("/") + (f"?{url.query}" if url.query else "")
        return func.HttpResponse(status_code=308, headers={**HEADERS, "Location": location or "/"})
    return _file(PAGE, PAGE_TYPE)


@bp.function_name("playground_asset")
@bp.route(route="ui/{name}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def playground_asset(req: func.HttpRequest) -> func.HttpResponse:
    """`GET /api/ui/{name}`: the page's script or stylesheet; any other name is a 404."""
    name = req.route_params.get("name", "")
    content_type = ASSETS.get(name)
    if content_type is None:
        from shared.blueprints.http_api import error_response

        response = error_response(404, "not_found", "no such playground file", "name")
        for header, value in HEADERS.items():
            response.headers[header] = value
        return response
    return _file(name, content_type)
