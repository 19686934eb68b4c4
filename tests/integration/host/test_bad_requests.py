"""Hostile requests to the host itself (the sample app): framing, Host, encodings, bombs, logs.

Each answer is a 4xx the caller can read, never a 500, and the host's output stays one normal
line per record: no traceback, no line a request could forge. The host is started with its whole
output on disk (``log_path``), since the process object keeps only the last lines.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.azurite import AzuriteEndpoints
from devstack.launch import LocalHost, app_env
from tests.integration.host.conftest import SAMPLE_APP
from tests.integration.host.rawhttp import RawResponse, bad_log_lines, build, send

MB = 1 << 20


@pytest.fixture(scope="module")
def logged_host(
    azurite: AzuriteEndpoints, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalHost]:
    data = tmp_path_factory.mktemp("hostile")
    env = app_env(azurite.connection_string, SAMPLE_QUEUE="hostile-unused")
    host = LocalHost(SAMPLE_APP, data / "host", env, log_path=data / "host.log")
    host.start(timeout=60)
    try:
        yield host
    finally:
        host.stop()


def log_text(host: LocalHost) -> str:
    assert host.log_path is not None
    return Path(host.log_path).read_text(encoding="utf-8", errors="replace")


def ask(host: LocalHost, request: bytes) -> RawResponse:
    response = send(host.base_url, request)
    assert response is not None, f"no answer to {request[:200]!r}"
    assert response.status < 500, (request[:200], response.raw[:500])
    return response


def error_of(response: RawResponse, status: int) -> dict[str, str]:
    assert response.status == status, response.raw[:500]
    assert response.content_type.startswith("application/json"), response.raw[:500]
    error = json.loads(response.body)["error"]
    assert error["code"], error
    assert len(error["message"]) >= 10, error
    return dict(error)


def echo(host: LocalHost, body: bytes, encoding: bytes) -> RawResponse:
    headers = [(b"Content-Type", b"application/octet-stream"), (b"Content-Encoding", encoding)]
    return ask(host, build(b"POST", b"/api/echo", headers, body))


def _gzip_of_zeros(megabytes: int) -> bytes:
    """A gzip stream of ``megabytes`` MiB of zeros, made 1 MiB at a time (never held whole)."""
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(MB)
    return b"".join(c.compress(zeros) for _ in range(megabytes)) + c.flush()


@pytest.mark.parametrize(
    ("encoding", "body", "expected"),
    [
        (b"gzip", gzip.compress(b"hello gzip"), b"hello gzip"),
        (b"x-gzip", gzip.compress(b"hello x-gzip"), b"hello x-gzip"),
        (b"deflate", zlib.compress(b"hello zlib"), b"hello zlib"),
        (b"deflate", zlib.compress(b"hello raw")[2:-4], b"hello raw"),  # raw deflate
        (b"gzip, gzip", gzip.compress(gzip.compress(b"twice")), b"twice"),
        (b"identity", b"as is", b"as is"),
        (b"GZIP", gzip.compress(b"a") + gzip.compress(b"b"), b"ab"),  # two members
        (b"gzip", b"", b""),  # nothing to decode
    ],
)
def test_compressed_bodies_reach_the_function_decoded(logged_host, encoding, body, expected):
    r = echo(logged_host, body, encoding)
    assert r.status == 201
    assert r.body == expected


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        (b"gzip", b"this is not gzip"),
        (b"deflate", b"\xff\xfe not deflate either"),
        (b"gzip", gzip.compress(b"cut short" * 50)[:-20]),  # truncated
        (b"deflate", zlib.compress(b"x") + b"trailing junk"),
    ],
)
def test_a_body_that_does_not_decode_is_a_400_naming_content_encoding(logged_host, encoding, body):
    error = error_of(echo(logged_host, body, encoding), 400)
    assert error["field"] == "Content-Encoding"


@pytest.mark.parametrize("encoding", [b"br", b"zstd", b"compress", b"x-custom", b"gzip, br"])
def test_an_unsupported_content_encoding_is_a_415(logged_host, encoding):
    error = error_of(echo(logged_host, b"whatever", encoding), 415)
    assert error["field"] == "Content-Encoding"
    assert "gzip" in error["message"]  # says what would work


def test_a_compression_bomb_is_refused_while_it_inflates(logged_host):
    # 300 KiB of gzip inflate to 300 MiB, past the host's 100 MiB limit.
    error = error_of(echo(logged_host, _gzip_of_zeros(300), b"gzip"), 413)
    assert error["code"] == "body_too_large"
    assert ask(logged_host, build(b"GET", b"/api/hello")).status == 200


@pytest.mark.parametrize("host_header", [b"\xff\xfe", b"a b", b"[::1", b"\xc3\xa9:x"])
def test_a_host_header_no_url_can_be_built_from_is_a_400(logged_host, host_header):
    r = ask(logged_host, build(b"GET", b"/api/hello", host=host_header))
    assert error_of(r, 400)["field"] == "Host"


@pytest.mark.parametrize(
    "request_bytes",
    [
        build(b"GET", b"/api/items/" + b"a" * 10_000),  # request line over aiohttp's 8 KiB
        build(b"GET", b"/api/hello", [(b"X-Big", b"v" * 10_000)]),
        build(b"POST", b"/api/echo", [(b"Content-Length", b"3")], b"abc"),  # duplicate length
        build(
            b"POST",
            b"/api/echo",
            [(b"Transfer-Encoding", b"chunked")],
            b"zz\r\nab\r\n0\r\n\r\n",
            content_length=False,
        ),
        build(b"GET", b"/api/hello", [(b"Bad Name", b"x")]),
        build(b"GET", b"/api/hello", [(b"X-Ctl", b"a\x01b")]),
        build(b"GET", b"/api/hello", host=b"h\x00st"),  # a NUL in Host: refused by the parser
        b"NOT-HTTP\r\n\r\n",
        b"GET /api/hello HTTP/9.9\r\nHost: x\r\n\r\n",
    ],
)
def test_broken_framing_is_a_400_logged_as_one_line(logged_host, request_bytes):
    r = ask(logged_host, request_bytes)
    assert 400 <= r.status < 500


def test_header_values_that_are_not_ascii_reach_the_function(logged_host):
    for value in (b"caf\xe9", b"caf\xc3\xa9", b"\xff" * 20):
        r = ask(logged_host, build(b"GET", b"/api/hello", [(b"X-Odd", value), (b"X-Odd", b"2")]))
        assert r.status == 200


def test_nul_and_long_path_segments_are_route_values_not_errors(logged_host):
    r = ask(logged_host, build(b"GET", b"/api/items/a%00b"))
    assert r.status == 200
    assert json.loads(r.body)["id"] == "a\x00b"
    r = ask(logged_host, build(b"GET", b"/api/items/7/parts/" + b"9" * 5000))
    assert r.status == 200  # {index:int}: any length of digits matches, as in ASP.NET
    assert ask(logged_host, build(b"GET", b"/api/items/%ff%fe?q=%zz&%=%00")).status == 200


def test_no_request_can_forge_or_break_a_host_log_line(logged_host):
    forged = b"2026-01-01 00:00:00,000 ERROR devstack.host: forged"
    requests = [
        build(b"GET", b"/api/items/x%0d%0a" + forged.replace(b" ", b"%20")),
        build(b"GET", b"/api/nothing%0A" + forged.replace(b" ", b"%20")),
        build(b"GET", b"/api/items/%1b%5b31mred%e2%80%a8sep%ff%fe"),
        build(b"GET", b"/api/hello\n" + forged),  # raw LF in the request line
        build(b"GET", b"/api/hello", [(b"X-Inject", b"a\rb")]),  # bare CR in a header
        build(b"GET", b"/api/hello", [(b"X-Inject", b"a\n" + forged)]),
    ]
    for request in requests:
        send(logged_host.base_url, request)
    marker = "/api/items/log-check-done"
    assert ask(logged_host, build(b"GET", marker.encode())).status == 200
    text = wait_for_log(logged_host, marker)
    assert "forged" in text  # the requests were logged ...
    assert bad_log_lines(text) == []  # ... each on its own, normal line
    assert "x\\r\\n2026-01-01" in text


def wait_for_log(host: LocalHost, needle: str, deadline_s: float = 30.0) -> str:
    """The host's log once ``needle`` is in it (written by tee, so a little after the answer)."""
    import time

    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        text = log_text(host)
        if needle in text:
            return text
        time.sleep(0.05)  # polling, with a deadline
    raise AssertionError(f"{needle!r} never reached the host's log")


def test_every_refusal_above_left_the_log_clean(logged_host):
    """Last in the module: whatever the tests above sent, no traceback and no ERROR line."""
    marker = "/api/items/all-done"
    ask(logged_host, build(b"GET", marker.encode()))
    assert bad_log_lines(wait_for_log(logged_host, marker)) == []
