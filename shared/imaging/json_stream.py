"""A JSON object streamed with inputs as base64 strings (Black Forest Labs' `input_image`, ...).

`{<fields>, "input_image": "<base64>", "input_image_2": "<base64>"}`: the scalar fields are
encoded as httpx encodes `json=` (compact, UTF-8), each input as plain base64 (no `data:`
prefix) encoded chunk by chunk. A chunk is encoded up to a multiple of 3 bytes and the rest
carried into the next, so the text is exactly `base64.b64encode` of the whole input, and its
length, 4·ceil(size/3), is known before the input is read.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from shared.imaging.streamed_body import StreamedBody, input_chunks, pieces_body
from shared.imaging.types import InputFile


def base64_length(size: int) -> int:
    """The length of the padded base64 text of `size` bytes."""
    return 4 * ((size + 2) // 3)


async def base64_chunks(source: InputFile) -> AsyncIterator[bytes]:
    """`source`'s bytes as base64 text, one piece per input chunk (less than 3 bytes carried)."""
    carry = b""
    async for chunk in input_chunks(source):
        data = carry + chunk if carry else chunk
        usable = len(data) - len(data) % 3
        carry = data[usable:]
        if usable:
            yield binascii.b2a_base64(memoryview(data)[:usable], newline=False)
    if carry:
        yield binascii.b2a_base64(carry, newline=False)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def json_with_base64(
    fields: Mapping[str, Any], inputs: Sequence[tuple[str, InputFile]]
) -> StreamedBody:
    """`fields`, then each `(key, input)` of `inputs` as a base64 string member, in order."""
    clash = [key for key, _ in inputs if key in fields]
    if clash:
        raise ValueError(f"input keys also given as fields: {clash}")
    head = _dumps(dict(fields))  # b"{...}"
    pieces: list[bytes | InputFile] = [head[:-1]]
    comma = bool(fields)
    for key, source in inputs:
        pieces.append((b"," if comma else b"") + _dumps(key) + b':"')
        pieces.append(source)
        pieces.append(b'"')
        comma = True
    pieces.append(b"}")

    return pieces_body("application/json", pieces, encode=base64_chunks, encoded_size=base64_length)
