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
    `b64_json` value starts and receives its decoded bytes. `rest()` is the remaining JSON.

    `lenient` (settable until a value starts, e.g. by `open_sink` for a preview's sink): a
    value that is not valid base64 is skipped to its closing quote instead of raising, and
    `invalid` says so; what its sink got before is the sink's owner's to throw away. Strict,
    the default, is for the images that were paid for."""

    def __init__(self, open_sink: OpenSink, *, lenient: bool = False) -> None:
        self._open_sink = open_sink
        self._rest = bytearray()
        self._scan_from = 0
        self._floor = 0  # the rest before this is done with: never search it again
        self._sink: ByteSink | None = None
        self._carry = b""  # undecoded characters (< 4, plus a split escape)
        self._skipping = False  # lenient, past invalid base64: looking for the closing quote
        self._escaped = False  # skipping: the text so far ends in an odd run of backslashes
        self.count = 0
        self.lenient = lenient
        self.invalid = False  # lenient: a value was not base64 (and was skipped)

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
        if self._skipping:
            end = self._closing_quote(chunk)
        else:
            end = chunk.find(b'"')
            value = chunk if end < 0 else chunk[:end]
            if not await self._decode(value, final=end >= 0):
                if not self.lenient:
                    raise invalid_base64()
                # skip the value: its closing quote is the first one no backslash escapes
                # (the quote found above may be escaped: the chunk is scanned again)
                self.invalid, self._skipping = True, True
                self._escaped = _odd_backslashes_at_end(self._carry, False)
                self._carry = b""
                end = self._closing_quote(chunk)
        if end < 0:
            return b""
        self._sink = None
        self._skipping = False
        self._scan_from = self._floor = len(self._rest)
        return chunk[end:]  # the closing quote belongs to the rest

    def _closing_quote(self, chunk: bytes) -> int:
        """Skipping an invalid value: where its closing (unescaped) quote is in `chunk`, or -1,
        remembering whether the chunk ends inside an escape."""
        pos = 0
        while True:
            quote = chunk.find(b'"', pos)
            if quote < 0:
                self._escaped = _odd_backslashes_at_end(chunk, self._escaped)
                return -1
            run = quote
            while run > 0 and chunk[run - 1] == 0x5C:  # the backslashes right before it
                run -= 1
            odd = (quote - run) % 2 == 1
            if run == 0 and self._escaped:
                odd = not odd
            if not odd:
                return quote
            pos = quote + 1

    async def _decode(self, value: bytes, *, final: bool) -> bool:
        """Decode and write a piece of the value; False (nothing written) when it is not
        base64."""
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
            return False
        carry = text[usable:] + held
        if final and carry:
            return False
        self._carry = carry  # only now: a refused piece leaves the carry as it was before it
        await self._sink.write(decoded)
        return True

    @property
    def inside(self) -> bool:
        """Whether a `b64_json` value has begun and not yet ended."""
        return self._sink is not None

    @property
    def held(self) -> int:
        """How many bytes the splitter holds between feeds (the rest plus a few undecoded
        characters): what a memory bound is checked against, never an image's size."""
        return len(self._rest) + len(self._carry)

    def rest_so_far(self) -> bytes:
        """The reply without its images up to here; when `open_sink` is awaited it ends with
        the opening value's ordinal, so the fields before `b64_json` (an event's `type`) can be
        read to decide where the image goes."""
        return bytes(self._rest)

    def rest(self) -> bytes:
        """The reply without its images; only once the whole body was fed."""
        if self._sink is not None:
            raise ImageApiError(
                ErrorCode.UNAVAILABLE,
                "The image service sent an unusable reply (it ended inside an image).",
            )
        return bytes(self._rest)


def _odd_backslashes_at_end(text: bytes, before: bool) -> bool:
    """Whether `text`, after text that ended in an odd run of backslashes when `before`, ends
    in an odd run of them (the next character is escaped)."""
    run = len(text) - len(text.rstrip(b"\\"))
    odd = run % 2 == 1
    return odd != before if run == len(text) else odd
