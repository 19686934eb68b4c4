"""Decode the `b64_json` values of a streamed image reply as they arrive.

A gpt-image reply is one JSON object whose `data[i].b64_json` strings hold whole images (27 MB of
text for a 20 MB PNG). Parsing it with `json.loads` holds the body, the str and the decoded bytes
at once; here each value is decoded in 4-character-aligned pieces straight into a sink (a staged
blob), so memory is bounded by the sink's block size whatever the image's size. Everything else
(`revised_prompt`, `usage`, ...) is kept, with each value replaced by its ordinal ("0", "1", ...),
and parsed with `json.loads` at the end.
"""

from __future__ import annotations

import binascii
import re

from shared.imaging.types import ByteSink, ErrorCode, ImageApiError, OpenSink

# The key, outside any string: inside a JSON string its quotes would be escaped (\").
_KEY = re.compile(rb'"b64_json"\s*:\s*"')
_LOOKBACK = 64  # a key split across chunks starts at most this far before a chunk's end
MAX_REST_BYTES = 1024 * 1024  # the reply without its images: prompts and usage, never this big


def invalid_base64() -> ImageApiError:
    return ImageApiError(
        ErrorCode.OPERATION_FAILED, "the image service returned invalid base64 data"
    )


class B64JsonSplitter:
    """Feed the reply's bytes in order; `open_sink(ordinal)` is awaited when the ordinal-th
    `b64_json` value starts and receives its decoded bytes. `rest()` is the remaining JSON."""

    def __init__(self, open_sink: OpenSink) -> None:
        self._open_sink = open_sink
        self._rest = bytearray()
        self._scan_from = 0
        self._floor = 0  # the rest before this is done with: never search it again
        self._sink: ByteSink | None = None
        self._carry = b""  # undecoded characters (< 4, plus a split escape)
        self.count = 0

    async def feed(self, chunk: bytes) -> None:
        while chunk:
            if self._sink is None:
                chunk = await self._outside(chunk)
            else:
                chunk = await self._inside(chunk)

    async def _outside(self, chunk: bytes) -> bytes:
        self._rest += chunk
        while True:
            match = _KEY.search(self._rest, self._scan_from)
            if match is None:
                self._scan_from = max(self._floor, len(self._rest) - _LOOKBACK)
                if len(self._rest) > MAX_REST_BYTES:
                    raise ImageApiError(
                        ErrorCode.UNAVAILABLE,
                        "The image service sent an unusable reply (no image data found).",
                    )
                return b""
            if match.start() > 0 and self._rest[match.start() - 1] == ord("\\"):
                self._scan_from = match.end()
                continue
            break
        tail = bytes(self._rest[match.end() :])
        del self._rest[match.end() :]
        self._rest += str(self.count).encode()
        self._sink = await self._open_sink(self.count)
        self.count += 1
        return tail

    async def _inside(self, chunk: bytes) -> bytes:
        end = chunk.find(b'"')
        value = chunk if end < 0 else chunk[:end]
        await self._decode(value, final=end >= 0)
        if end < 0:
            return b""
        self._sink = None
        self._scan_from = self._floor = len(self._rest)
        return chunk[end:]  # the closing quote belongs to the rest

    async def _decode(self, value: bytes, *, final: bool) -> None:
        assert self._sink is not None
        text = self._carry + value
        held = b""
        if not final and text.endswith(b"\\"):
            text, held = text[:-1], b"\\"  # the escape continues in the next chunk
        # `\/` is the one escape base64 text may carry; the strict decoder refuses any other,
        # like any character outside the alphabet, misplaced padding or a short final quantum
        text = text.replace(b"\\/", b"/")
        usable = len(text) - len(text) % 4
        try:
            decoded = binascii.a2b_base64(text[:usable], strict_mode=True)
        except (binascii.Error, ValueError):
            raise invalid_base64() from None
        self._carry = text[usable:] + held
        if final and self._carry:
            raise invalid_base64()
        await self._sink.write(decoded)

    def rest(self) -> bytes:
        """The reply without its images; only once the whole body was fed."""
        if self._sink is not None:
            raise ImageApiError(
                ErrorCode.UNAVAILABLE,
                "The image service sent an unusable reply (it ended inside an image).",
            )
        return bytes(self._rest)
