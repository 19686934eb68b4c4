"""Functions route templates as the host matches them (pure; the HTTP tests cover the wiring)."""

from __future__ import annotations

import pytest

from devstack.host.routes import RouteTemplate


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        ("images/{id}", "images/abc", {"id": "abc"}),
        ("images/{id}", "IMAGES/abc/", {"id": "abc"}),
        ("images/{id}", "images", None),
        ("images/{id}", "images/a/b", None),
        ("items/{index:int?}", "items", {}),
        ("items/{index:int?}", "items/-3", {"index": "-3"}),
        ("items/{index:int?}", "items/x", None),
        ("pages/{page=1}", "pages", {"page": "1"}),
        ("files/{*rest}", "files/a/b/c", {"rest": "a/b/c"}),
        ("files/{*rest}", "files", {}),
        ("v{version:int}/things", "v2/things", {"version": "2"}),
        (
            "ids/{id:guid}",
            "ids/0f8fad5b-d9cb-469f-a165-70867728950e",
            {"id": "0f8fad5b-d9cb-469f-a165-70867728950e"},
        ),
        ("ids/{id:guid}", "ids/nope", None),
        ("names/{name:alpha:maxlength(5)}", "names/abc", {"name": "abc"}),
        ("names/{name:alpha:maxlength(5)}", "names/abcdef", None),
        ("codes/{code:regex(^[a-z]{{2}}$)}", "codes/ab", {"code": "ab"}),
        ("range/{n:range(1,10)}", "range/11", None),
        ("t/{at:regex(^\\d\\d:\\d\\d$)}", "t/12:30", {"at": "12:30"}),
    ],
)
def test_route_matching(template, path, expected):
    assert RouteTemplate(template).match(path) == expected


def test_literal_segments_take_precedence():
    routes = sorted(
        [RouteTemplate("images/{id}"), RouteTemplate("images/latest"), RouteTemplate("{*all}")],
        key=lambda r: r.precedence,
    )
    assert [r.template for r in routes] == ["images/latest", "images/{id}", "{*all}"]
