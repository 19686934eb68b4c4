"""A POST whose ``callback_url`` is not canonical is a 400 naming the field, before any job starts.

Request-level counterpart of test_callback_policy.py (the pure rules): what a caller sees when
the body of ``POST /api/images`` carries such a URL, JSON escapes included (a JSON string can
spell a raw control character as ``\\u0000``)."""

from __future__ import annotations

import json

import pytest

from shared.models import RequestError, parse_body


def refused(callback_url: str, **kw: object) -> RequestError:
    body = json.dumps({"prompt": "a lighthouse", "callback_url": callback_url}).encode()
    with pytest.raises(RequestError) as info:
        parse_body(body, **kw)  # type: ignore[arg-type]
    return info.value


@pytest.mark.parametrize(
    ("callback_url", "rule"),
    [
        ("https://flows.example.com/hook\r\n", "control character"),
        ("https://flows.example.com/hook\u0000", "control character"),
        ("https://flows.example.com/hook\u009b", "control character"),
        ("https://flows.example.com/ho ok", "whitespace"),
        ("https://@flows.example.com/hook", "credentials"),
        ("https://127.1/hook", "four decimal numbers"),
        ("https://0x7f.0.0.1/hook", "four decimal numbers"),
        ("https://flows.example.com./hook", "trailing dot"),
        ("https://FLOWS.example.com/hook", "lower case"),
        ("https://%66lows.example.com/hook", "percent-encode its host"),
        ("https://bücher.example/hook", "IDNA form (xn--bcher-kva.example)"),
        ("https://flows.example.com:/hook", "empty port"),
        ("https://flows.example.com:0/hook", "between 1 and 65535"),
        ("https://flows.example.com\\hook", "backslash"),
        ("HTTPS://flows.example.com/hook", "lower case"),
        ("https://flows.example.com/hook#done", "fragment"),
    ],
)
def test_a_non_canonical_callback_url_is_a_400_naming_the_field(callback_url, rule):
    error = refused(callback_url)
    assert error.status == 400
    assert error.field == "callback_url"
    assert error.message.startswith("callback_url ")
    assert rule in error.message


def test_a_too_long_callback_url_is_a_400_naming_the_field():
    error = refused("https://flows.example.com/" + "a" * 2048)
    assert (error.status, error.field) == (400, "callback_url")
    assert "2048" in error.message


def test_the_message_does_not_echo_the_signed_url():
    error = refused("https://flows.example.com/run?sig=SECRET-SIG\n")
    assert error.field == "callback_url"
    assert "SECRET-SIG" not in error.message


def test_listed_http_hosts_must_be_canonical_too():
    listed = {"callback_http_hosts": ["127.0.0.1"]}
    ok = json.dumps({"prompt": "p", "callback_url": "http://127.0.0.1:7071/cb"}).encode()
    assert parse_body(ok, callback_http_hosts=["127.0.0.1"]).callback_url is not None
    error = refused("http://2130706433:7071/cb", **listed)
    assert (error.status, error.field) == (400, "callback_url")


def test_a_canonical_callback_url_is_kept_exactly():
    url = "https://xn--bcher-kva.example:8443/hooks/run?api-version=1&sig=a%2Bb%3D"
    body = json.dumps({"prompt": "p", "callback_url": url}).encode()
    assert parse_body(body).callback_url == url
