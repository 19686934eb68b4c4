"""A streamed request body: sent once, exactly its stated length, inputs closed after use."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shared.imaging.streamed_body import StreamedBody, input_chunks
from shared.imaging.types import ImageApiError


def body_of(pieces: list[bytes], length: int) -> StreamedBody:
    async def produce() -> AsyncIterator[bytes]:
        for piece in pieces:
            yield piece

    return StreamedBody("application/octet-stream", length, produce)


async def collect(body: StreamedBody) -> bytes:
    return b"".join([piece async for piece in body])


async def test_a_body_is_its_pieces_and_states_its_length():
    body = body_of([b"ab", b"", b"cd"], 4)
    assert body.headers == {"Content-Type": "application/octet-stream", "Content-Length": "4"}
    assert await collect(body) == b"abcd"


async def test_a_body_is_sent_once_only():
    body = body_of([b"ab"], 2)
    await collect(body)
    with pytest.raises(RuntimeError, match="only once"):
        await collect(body)


@pytest.mark.parametrize(("pieces", "words"), [([b"abc"], "longer than"), ([b"a"], "stated 2")])
async def test_a_body_of_another_length_than_stated_is_refused(pieces, words):
    with pytest.raises(RuntimeError, match=words):
        await collect(body_of(pieces, 2))


class Source:
    """An InputFile whose iterator records being closed."""

    filename = "a.png"
    content_type = "image/png"

    def __init__(self, pieces: list[bytes], size: int) -> None:
        self.pieces = pieces
        self.size = size
        self.closed = False

    def chunks(self) -> AsyncIterator[bytes]:
        source = self

        class Chunks:
            def __init__(self) -> None:
                self.items = iter(source.pieces)

            def __aiter__(self) -> Chunks:
                return self

            async def __anext__(self) -> bytes:
                try:
                    return next(self.items)
                except StopIteration:
                    raise StopAsyncIteration from None

            async def aclose(self) -> None:
                source.closed = True

        return Chunks()


async def test_an_input_passes_through_as_bytes_and_is_closed():
    source = Source([bytearray(b"ab"), b"", b"c"], 3)
    got = [chunk async for chunk in input_chunks(source)]
    assert got == [b"ab", b"c"]
    assert all(type(chunk) is bytes for chunk in got)
    assert source.closed


@pytest.mark.parametrize("pieces", [[b"abcd"], [b"ab"]])
async def test_an_input_of_another_size_is_refused_and_closed(pieces):
    source = Source(pieces, 3)
    with pytest.raises(ImageApiError, match="stated size of 3 bytes"):
        [chunk async for chunk in input_chunks(source)]
    assert source.closed
