"""A multipart/form-data body streamed from its inputs (the `images/edits` routes).

Text fields first, then the files in the order given, each file part carrying the input's
filename and Content-Type. The body's length is exact before the first byte is sent: every part
header and text value is known, and each file contributes its stated `size`. File bytes are read
only when the body reaches them and passed on chunk by chunk (streamed_body.input_chunks).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence

from shared.imaging.streamed_body import StreamedBody, pieces_body
from shared.imaging.types import InputFile

CRLF = b"\r\n"
# How httpx (after the HTML5 form encoding) escapes a Content-Disposition parameter.
_ESCAPES = {'"': "%22", "\\": "\\\\"} | {chr(c): f"%{c:02X}" for c in range(0x20) if c != 0x1B}
_ESCAPED = re.compile("|".join(re.escape(c) for c in _ESCAPES))


def _quoted(value: str) -> str:
    """A Content-Disposition parameter value (a field name or a filename), escaped."""
    return _ESCAPED.sub(lambda m: _ESCAPES[m.group(0)], value)


def _header_value(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError("a multipart header value may not contain a line break")
    return value


def new_boundary() -> str:
    return secrets.token_hex(16)


def multipart_body(
    fields: Mapping[str, str],
    files: Sequence[tuple[str, InputFile]],
    *,
    boundary: str | None = None,
) -> StreamedBody:
    """`fields` as text parts, then each `(name, input)` of `files` as a file part; a name may
    repeat (`image[]`). `boundary` is random unless given (tests)."""
    boundary = boundary or new_boundary()
    delimiter = b"--" + boundary.encode("ascii") + CRLF
    pieces: list[bytes | InputFile] = []
    for name, value in fields.items():
        pieces.append(
            delimiter
            + f'Content-Disposition: form-data; name="{_quoted(name)}"'.encode()
            + CRLF * 2
            + value.encode()
            + CRLF
        )
    for name, source in files:
        pieces.append(
            delimiter
            + (
                f'Content-Disposition: form-data; name="{_quoted(name)}"; '
                f'filename="{_quoted(source.filename)}"'
            ).encode()
            + CRLF
            + f"Content-Type: {_header_value(source.content_type)}".encode()
            + CRLF * 2
        )
        pieces.append(source)
        pieces.append(CRLF)
    pieces.append(b"--" + boundary.encode("ascii") + b"--" + CRLF)

    return pieces_body(f"multipart/form-data; boundary={boundary}", pieces)
