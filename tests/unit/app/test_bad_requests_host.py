"""The devstack host's pure defences: bounded inflation of request bodies, one-line log records.

Here (beside the app's bad-request tests) because they are pure: no socket, no process. The same
behaviour over a real socket: tests/integration/host/test_bad_requests.py.
"""

from __future__ import annotations

import gzip
import io
import logging
import zlib

import pytest
from aiohttp import http_exceptions

from devstack.host.logs import RedactSecrets, escape_controls
from devstack.host.server import (
    INFLATE_STEP_BYTES,
    RequestRefused,
    ServerLogger,
    content_codings,
    decode_body,
)

MB = 1 << 20


def bomb(megabytes: int, wbits: int = 16 + zlib.MAX_WBITS) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return b"".join(c.compress(bytes(MB)) for _ in range(megabytes)) + c.flush()


def refusal(data: bytes, encoding: str, limit: int = 10 * MB) -> RequestRefused:
    with pytest.raises(RequestRefused) as info:
        decode_body(data, encoding, limit)
    return info.value


@pytest.mark.parametrize(
    ("encoding", "wbits"),
    [("gzip", 16 + zlib.MAX_WBITS), ("deflate", zlib.MAX_WBITS), ("deflate", -zlib.MAX_WBITS)],
)
def test_a_bomb_is_refused_with_413_once_its_output_passes_the_limit(encoding, wbits):
    err = refusal(bomb(64, wbits), encoding, limit=MB)
    assert err.status == 413
    assert err.code == "body_too_large"


def test_the_limit_is_checked_every_step_not_after_inflating_everything(monkeypatch):
    written: list[int] = []
    real_write = io.BytesIO.write

    class Counting(io.BytesIO):
        def write(self, b):  # type: ignore[override]
            written.append(len(b))
            return real_write(self, b)

    monkeypatch.setattr("devstack.host.server.io.BytesIO", Counting)
    refusal(bomb(64), "gzip", limit=MB)
    assert max(written) <= INFLATE_STEP_BYTES
    assert sum(written) <= MB  # it stopped at the limit, not at 64 MiB


def test_a_body_at_the_limit_passes():
    assert decode_body(gzip.compress(bytes(MB)), "gzip", MB) == bytes(MB)


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (b"garbage", "gzip"),
        (b"\x1f\x8b\x08\x00garbage", "gzip"),
        (b"\xff\xfe", "deflate"),
        (gzip.compress(bytes(range(256)) * 4)[:-30], "gzip"),
        (zlib.compress(b"x") + b"junk", "deflate"),
        (gzip.compress(b"x") + b"junk", "gzip"),
    ],
)
def test_data_that_does_not_decode_is_a_400_naming_content_encoding(data, encoding):
    err = refusal(data, encoding)
    assert err.status == 400
    assert err.field == "Content-Encoding"


@pytest.mark.parametrize("encoding", ["br", "zstd", "compress", "gzip, br", "\udcff"])
def test_other_codings_are_a_415(encoding):
    err = refusal(b"data", encoding)
    assert err.status == 415
    assert err.field == "Content-Encoding"


def test_codings_are_undone_last_first_and_identity_is_nothing():
    assert content_codings(" GZIP , identity,, deflate ") == ["gzip", "deflate"]
    assert decode_body(gzip.compress(zlib.compress(b"x")), "deflate, gzip") == b"x"
    assert decode_body(b"plain", "identity") == b"plain"
    assert decode_body(b"", "br") == b""


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("GET /a\r\n2026-01-01 INFO x: forged", "GET /a\\r\\n2026-01-01 INFO x: forged"),
        ("nul\x00esc\x1b[31m", "nul\\x00esc\\x1b[31m"),
        ("caf\udce9", "caf\\udce9"),
        ("sep\u2028\x85end", "sep\\u2028\\x85end"),
        ("café ok", "café ok"),
    ],
)
def test_controls_and_undecodable_bytes_are_escaped(text, shown):
    assert escape_controls(text) == shown


def _capture(logger: logging.Logger) -> io.StringIO:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("PREFIX %(message)s"))
    handler.addFilter(RedactSecrets())
    logger.handlers[:] = [handler]
    logger.propagate = False
    return out


def test_every_record_is_one_line_whatever_its_arguments():
    out = _capture(logging.getLogger("test.hardening.oneline"))
    logger = logging.getLogger("test.hardening.oneline")
    logger.warning("GET %s -> 404", "/x\nPREFIX forged\rline\udcff")
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("PREFIX GET /x\\nPREFIX forged")


def test_a_malformed_request_is_one_info_line_and_a_real_failure_keeps_its_traceback():
    logger = ServerLogger()
    out = _capture(logger)
    logger.setLevel(logging.DEBUG)
    bad = http_exceptions.BadHttpMessage("Invalid header value char:\n\n  b'X: \\x01'\n  ^")
    logger.exception("Error handling request from %s", "127.0.0.1", exc_info=bad)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert "refused a malformed request (400)" in lines[0]
    try:
        raise RuntimeError("a bug in the host")
    except RuntimeError:
        logger.exception("Error handling request from %s", "127.0.0.1")
    assert "Traceback" in out.getvalue()
