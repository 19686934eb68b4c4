"""Fuzz below the schema: raw bytes on the wire to every route of the running host.

Where test_fuzz_api.py sends what the OpenAPI document describes, this sends what no document
does: arbitrary body bytes, header names and byte values, path segments and query strings
(percent-encoded garbage included), bogus Content-Types and Content-Encodings, written to a socket
as they are (tests/integration/host/rawhttp.py: httpx would normalise or refuse them). Any 5xx,
any 4xx without the usual error body (from the app or the host) and any traceback, ERROR or
malformed line in the host's log fails, printing the example.

``make test`` runs ``EXAMPLES`` derandomized examples (the same ones every run, plus the explicit
ones that once were 500s); ``make soak`` (``-m soak``) 20 times as many; ``FUZZ_EXAMPLES_SCALE``
multiplies both. Jobs a valid body starts run on the emulator.
"""

from __future__ import annotations

import gzip
import json
import os
import time
import zlib
from typing import Any
from urllib.parse import quote_from_bytes

import httpx
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from tests.integration.host.rawhttp import RawResponse, bad_log_lines, build, send
from tests.reliability.conftest import HostUnderTest, poll_until_done, post_job

SCALE = float(os.environ.get("FUZZ_EXAMPLES_SCALE", "1"))
EXAMPLES = 1000
TOKEN = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Framing headers are the client's own (one body, one connection); everything else is fuzzed.
FRAMING = {"content-length", "transfer-encoding", "host", "connection"}

raw_segment = st.one_of(
    st.binary(max_size=40).map(lambda b: quote_from_bytes(b, safe="").encode()),
    st.text(alphabet="abcXYZ019-_.~%!$&'()*+,;=:@", max_size=30).map(str.encode),
    st.integers(min_value=1, max_value=6000).map(lambda n: b"9" * n),  # int() refuses > 4300
    st.sampled_from([b"%00", b"%0d%0a", b"%ff%fe", b"%", b"%zz", b"..", b"a" * 5000, b"%c0%af"]),
)
path = st.one_of(
    st.just(b"/api/images"),
    st.builds(lambda s: b"/api/images/" + s, raw_segment),
    st.builds(lambda a, b: b"/api/images/" + a + b"/" + b, raw_segment, raw_segment),
    st.just(b"/api/openapi.json"),
    # not routes
    st.sampled_from([b"/", b"/api", b"/api/", b"/favicon.ico", b"/api/images/a/0/extra"]),
    st.builds(lambda s: b"/api/" + s, raw_segment),
)
query = st.one_of(
    st.just(b""),
    st.lists(st.tuples(raw_segment, raw_segment), max_size=4).map(
        lambda kv: b"?" + b"&".join(k + b"=" + v for k, v in kv)
    ),
    st.sampled_from([b"?", b"?%", b"?a=%zz&=&&b", b"?code=x%0a", b"?%ff=%fe"]),
)
# Mostly bytes a parser lets through (any byte but controls: latin-1 and UTF-8 included), so the
# requests reach the app; sometimes any bytes but CR/LF (the parser's own 400).
_FIELD_BYTES = bytes([9, *range(0x20, 0x7F), *range(0x80, 0x100)])
header_value = st.one_of(
    st.lists(st.sampled_from(_FIELD_BYTES), max_size=60).map(bytes),
    st.lists(st.sampled_from(_FIELD_BYTES), max_size=60).map(bytes),
    st.binary(max_size=60),
).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"").strip(b" \t"))
header_name = st.one_of(
    st.text(alphabet=TOKEN, min_size=1, max_size=20),
    st.sampled_from(["Idempotency-Key", "Accept", "Accept-Encoding", "X-Forwarded-Host", "Expect"]),
).filter(lambda n: n.lower() not in FRAMING and n.lower() != "content-encoding")
content_type = st.one_of(
    st.none(),
    st.sampled_from(
        [
            b"application/json",
            b"text/plain",
            b"application/json; charset=utf-16",
            b"*/*",
            b"multipart/form-data; boundary=",
            b";;;",
            b"application/x-www-form-urlencoded",
        ]
    ),
    header_value,
)
json_body = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
).map(lambda v: json.dumps(v).encode())
request_like = st.fixed_dictionaries(
    {"prompt": st.text(min_size=1, max_size=30)},
    optional={
        "n": st.integers(-2, 12),
        "model": st.text(max_size=10),
        "size": st.text(max_size=10),
    },
).map(lambda v: json.dumps(v).encode())
body = st.one_of(
    st.binary(max_size=300),
    json_body,
    request_like,
    st.integers(1, 200_000).map(lambda d: b"[" * d + b"]" * d),
    st.integers(1, 6000).map(lambda d: b'{"prompt":"x","n":' + b"7" * d + b"}"),
)
encoding = st.one_of(
    st.none(),
    st.sampled_from(["gzip", "deflate", "identity", "br", "zstd", "gzip, deflate", "x-gzip"]),
    st.text(alphabet=TOKEN + ", ", max_size=12),
)


def _encode(data: bytes, coding: str | None, honest: bool) -> bytes:
    """The body as a client would send it for ``coding``: encoded, unless ``honest`` is false
    (then the raw bytes go with the header: garbage for the decoder)."""
    if not honest or coding is None:
        return data
    for c in [c.strip().lower() for c in coding.split(",")]:
        if c in ("gzip", "x-gzip"):
            data = gzip.compress(data)
        elif c == "deflate":
            data = zlib.compress(data)
    return data


requests = st.fixed_dictionaries(
    {
        "method": st.sampled_from([b"GET", b"POST", b"PUT", b"DELETE", b"PATCH", b"OPTIONS"]),
        "path": path,
        "query": query,
        "headers": st.lists(st.tuples(header_name.map(str.encode), header_value), max_size=5),
        "content_type": content_type,
        "encoding": encoding,
        "honest": st.booleans(),
        "body": body,
        "host": st.one_of(
            st.just(b"127.0.0.1"), st.sampled_from([b"h:1", b"[::1]:80", b"a b", b""]), header_value
        ),
    }
)

# The requests that were 500s, kept as explicit examples (docs/app.md lists what they get now).
KNOWN = [
    {"method": b"POST", "path": b"/api/images", "body": b"[" * 50_000 + b"]" * 50_000},
    {"method": b"POST", "path": b"/api/images", "headers": [(b"Idempotency-Key", b"caf\xe9")]},
    {"method": b"POST", "path": b"/api/images", "headers": [(b"X-Any", b"\xc3\xa9\xff")]},
    {"method": b"POST", "path": b"/api/images", "encoding": "gzip", "body": b"not gzip"},
    {"method": b"POST", "path": b"/api/images", "encoding": "deflate", "body": b"\xff\x00"},
    {"method": b"POST", "path": b"/api/images", "encoding": "br", "body": b"\x8b\x02"},
    {"method": b"GET", "path": b"/api/images/x%0d%0aforged", "host": b"\xff"},
]


def _request(r: dict[str, Any]) -> bytes:
    headers = list(r.get("headers", []))
    if r.get("content_type") is not None:
        headers.append((b"Content-Type", r["content_type"]))
    data = r.get("body", b'{"prompt": "a cat"}')
    if r.get("encoding") is not None:
        headers.append((b"Content-Encoding", r["encoding"].encode()))
        data = _encode(data, r["encoding"], r.get("honest", False))
    target = r["path"] + r.get("query", b"")
    return build(r["method"], target, headers, data, host=r.get("host", b"127.0.0.1"))


def check_answer(request: bytes, response: RawResponse | None) -> None:
    shown = request[:400]
    assert response is not None, f"no answer to {shown!r}"
    assert response.status < 500, f"{response.status} for {shown!r}: {response.body[:300]!r}"
    if 400 <= response.status < 500 and response.content_type.startswith("application/json"):
        error = json.loads(response.body)["error"]
        assert error["code"], (shown, error)
        assert len(error["message"]) >= 10, (shown, error)


class LogWatch:
    """The part of the host's log written since the last look, checked line by line."""

    def __init__(self, host: HostUnderTest) -> None:
        self.host = host
        self.seen = host.log.rfind("\n") + 1  # from the last complete line

    def new_bad_lines(self) -> list[str]:
        """Bad lines among the COMPLETE lines written since the last look: the host's output
        reaches the file in pieces, and the tail of a line read half-written (an escaped
        traceback's `\\n   ^`) must not be judged as a line of its own."""
        text = self.host.log
        end = text.rfind("\n", self.seen) + 1
        if end <= self.seen:
            return []
        fresh, self.seen = text[self.seen : end], end
        return bad_log_lines(fresh)

    def settle(self, deadline_s: float = 30.0) -> str:
        """The whole log once a marker request has reached it (tee writes a little later)."""
        marker = f"/api/fuzz-done-{time.monotonic_ns()}"
        send(self.host.base_url, build(b"GET", marker.encode()))
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            if marker in self.host.log:
                return self.host.log
            time.sleep(0.05)  # polling, with a deadline
        raise AssertionError("the marker request never reached the host's log")


def fuzz_raw(host: HostUnderTest, examples: int) -> None:
    watch = LogWatch(host)

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(r=requests)
    def fuzz(r: dict[str, Any]) -> None:
        request = _request(r)
        check_answer(request, send(host.base_url, request))
        bad = watch.new_bad_lines()
        assert not bad, f"after {request[:400]!r} the host logged: {bad[:10]}"

    for known in KNOWN:
        fuzz = example(r=known)(fuzz)
    fuzz()
    assert bad_log_lines(watch.settle()) == []


def test_raw_requests_never_5xx_nor_a_traceback(start_host):
    fuzz_raw(start_host(), max(1, int(EXAMPLES * SCALE)))


@pytest.mark.soak
def test_raw_fuzz_longer(start_host):
    fuzz_raw(start_host(), max(1, int(EXAMPLES * SCALE * 20)))


def test_the_requests_that_were_500s_are_4xx_naming_the_field(start_host):
    """One case of each break (and its relatives) with the exact answer it gets now."""
    host = start_host()
    watch = LogWatch(host)

    def ask(req: bytes) -> dict[str, Any]:
        response = send(host.base_url, req)
        check_answer(req, response)
        assert response is not None
        return {"status": response.status, **json.loads(response.body).get("error", {})}

    post = b"/api/images"
    deep = ask(build(b"POST", post, [], b'{"prompt": ' + b"[" * 5000 + b"]" * 5000 + b"}"))
    assert deep["status"] == 400
    assert "nested too deeply" in deep["message"]
    key = ask(build(b"POST", post, [(b"Idempotency-Key", b"caf\xe9")], b'{"prompt": "a cat"}'))
    assert (key["status"], key["field"]) == (400, "Idempotency-Key")
    for coding, status in ((b"gzip", 400), (b"deflate", 400), (b"br", 415), (b"zz", 415)):
        got = ask(build(b"POST", post, [(b"Content-Encoding", coding)], b"\x00garbage"))
        assert (got["status"], got["field"]) == (status, "Content-Encoding"), got
    long_id = ask(build(b"GET", b"/api/images/" + b"a" * 5000))
    assert long_id["status"] == 404
    assert len(long_id["message"]) < 200
    with httpx.Client(timeout=30) as client:
        (job,) = poll_until_done(
            client, [post_job(client, host.api_url, {"prompt": "a cat"})], deadline_s=120
        )
    assert job.final is not None
    assert job.final.status_code == 200, job.final.text
    for index in (b"1" * 5000, b"9" * 4301, b"12345678901"):
        got = ask(build(b"GET", f"/api/images/{job.id}/".encode() + index))
        assert (got["status"], got["field"]) == (404, "index"), got
    assert bad_log_lines(watch.settle()) == []
