"""A raw HTTP/1.1 client for hostile requests, and a check of the host's log lines.

httpx (like every well-behaved client) normalises what it sends: it refuses header values that
are not ASCII, re-encodes paths and sets its own framing. The hardening tests need the bytes on
the wire to be exactly the test's, so requests are written to a socket as given, one per
connection (``Connection: close``), and the answer is read until the host closes it.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

# Every line the host prints: its logging format, or the one ready line.
LOG_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.\-]+: "
)
QUIET = ("DEBUG", "INFO", "WARNING")
READY_LINE = re.compile(r"^host listening on http://\S+$")


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]  # names lower-cased; the last of repeated headers
    body: bytes
    raw: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


def build(
    method: bytes,
    target: bytes,
    headers: Sequence[tuple[bytes, bytes]] = (),
    body: bytes = b"",
    *,
    host: bytes = b"127.0.0.1",
    content_length: bool = True,
) -> bytes:
    """One request, byte for byte: the request line, ``Host``, the given headers in order, a
    ``Content-Length`` of the body (unless ``content_length`` is false) and the body."""
    lines = [method + b" " + target + b" HTTP/1.1", b"Host: " + host, b"Connection: close"]
    lines += [name + b": " + value for name, value in headers]
    if content_length:
        lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def send(base_url: str, request: bytes, *, timeout: float = 30.0) -> RawResponse | None:
    """Write ``request`` and read the answer until the host closes the connection; None when it
    closed without answering."""
    parts = urlsplit(base_url)
    deadline = time.monotonic() + timeout
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(request)
        data = b""
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
    return parse(data)


def parse(data: bytes) -> RawResponse | None:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return None
    status_line, *header_lines = head.split(b"\r\n")
    fields = status_line.split(b" ", 2)
    headers: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(b":")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    length = headers.get("content-length")
    if length is not None and length.isdigit():
        body = body[: int(length)]
    return RawResponse(int(fields[1]), headers, body, data)


def bad_log_lines(text: str) -> list[str]:
    """Lines of the host's output that are not one normal log line: a traceback, a forged or
    split line, a "--- Logging error ---" block, and every ERROR or CRITICAL record."""
    bad = []
    for line in text.splitlines():
        m = LOG_LINE.match(line)
        if (m is None and not READY_LINE.match(line)) or (
            m is not None and m.group(1) in ("ERROR", "CRITICAL")
        ):
            bad.append(line)
    return bad
