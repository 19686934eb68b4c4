"""A request body that is produced while it is sent: an async iterator of bytes whose exact
length is known up front, so httpx sends `Content-Length` instead of chunked transfer encoding
(which not every front end of the image services accepts).

The edit bodies (shared/imaging/multipart.py, shared/imaging/json_stream.py) are built from
`InputFile`s streamed out of Blob Storage: an input is opened only when the body reaches it and
passes through one chunk at a time, so a 20 MB reference image is never held whole. Its stated
`size` is what the length was computed from; an input that yields more or fewer bytes is refused
before the request could go out with a wrong body.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence

from shared.imaging.types import ErrorCode, ImageApiError, InputFile


class StreamedBody:
    """`async for` it once to get the body's bytes; `headers` are the ones it must be sent with."""

    def __init__(
        self, content_type: str, length: int, produce: Callable[[], AsyncIterator[bytes]]
    ) -> None:
        self.content_type = content_type
        self.length = length
        self._produce = produce
        self._used = False

    @property
    def headers(self) -> dict[str, str]:
        return {"Content-Type": self.content_type, "Content-Length": str(self.length)}

    def __repr__(self) -> str:
        return f"StreamedBody({self.content_type!r}, {self.length} bytes)"

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._used:
            raise RuntimeError("a streamed body can be sent only once")
        self._used = True
        sent = 0
        async for piece in self._produce():
            sent += len(piece)
            if sent > self.length:
                raise RuntimeError(f"streamed body longer than its stated {self.length} bytes")
            if piece:
                yield piece
        if sent != self.length:
            raise RuntimeError(f"streamed body of {sent} bytes, stated {self.length}")


def input_changed(source: InputFile) -> ImageApiError:
    return ImageApiError(
        ErrorCode.INVALID_REQUEST,
        f"The input {source.filename!r} did not have its stated size of {source.size} bytes.",
    )


async def input_chunks(source: InputFile) -> AsyncIterator[bytes]:
    """`source`'s bytes as it yields them, checked against its stated size: more is refused
    before it is passed on, fewer at the end. The input's iterator is closed either way."""
    chunks = source.chunks()
    seen = 0
    try:
        async for chunk in chunks:
            seen += len(chunk)
            if seen > source.size:
                raise input_changed(source)
            if chunk:
                yield bytes(chunk)
    finally:
        close = getattr(chunks, "aclose", None)
        if close is not None:
            await close()
    if seen != source.size:
        raise input_changed(source)


def pieces_body(
    content_type: str,
    pieces: Sequence[bytes | InputFile],
    *,
    encode: Callable[[InputFile], AsyncIterator[bytes]] = input_chunks,
    encoded_size: Callable[[int], int] = lambda size: size,
) -> StreamedBody:
    """The body of `pieces` in order: bytes as they are, each input as `encode` streams it
    (`encoded_size` of its stated size long). Adjacent bytes go out as one piece."""
    merged: list[bytes | InputFile] = []
    for piece in pieces:
        if isinstance(piece, bytes) and merged and isinstance(merged[-1], bytes):
            merged[-1] += piece
        else:
            merged.append(piece)
    length = sum(len(p) if isinstance(p, bytes) else encoded_size(p.size) for p in merged)

    async def produce() -> AsyncIterator[bytes]:
        for piece in merged:
            if isinstance(piece, bytes):
                yield piece
            else:
                async for chunk in encode(piece):
                    yield chunk

    return StreamedBody(content_type, length, produce)
