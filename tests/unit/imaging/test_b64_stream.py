"""The streamed b64_json decoder: whatever the chunking, the sink gets exactly the image bytes and
the rest of the JSON survives; broken base64 or a reply cut inside an image is refused."""

from __future__ import annotations

import base64
import json
import os

import pytest

from shared.imaging.b64stream import MAX_REST_BYTES, B64JsonSplitter
from shared.imaging.types import ErrorCode, ImageApiError


class Sink:
    def __init__(self) -> None:
        self.data = bytearray()

    async def write(self, chunk: bytes) -> None:
        self.data += chunk


async def split(body: bytes, chunk_size: int) -> tuple[list[bytes], dict]:
    sinks: list[Sink] = []

    async def open_sink(ordinal: int) -> Sink:
        assert ordinal == len(sinks)
        sinks.append(Sink())
        return sinks[-1]

    splitter = B64JsonSplitter(open_sink)
    for start in range(0, len(body), chunk_size):
        await splitter.feed(body[start : start + chunk_size])
    return [bytes(s.data) for s in sinks], json.loads(splitter.rest())


IMAGES = [os.urandom(1000), os.urandom(1001), os.urandom(1002)]  # every padding length


def reply(*, escape_slashes: bool = False, spaces: bool = False) -> bytes:
    data = [
        {"b64_json": base64.b64encode(img).decode(), "revised_prompt": f'say "b64_json":"{i}"'}
        for i, img in enumerate(IMAGES)
    ]
    text = json.dumps(
        {"created": 1, "data": data, "usage": {"total_tokens": 42}},
        separators=(", ", " : ") if spaces else (",", ":"),
    )
    return text.replace("/", "\\/").encode() if escape_slashes else text.encode()


@pytest.mark.parametrize("chunk_size", [1, 3, 4, 7, 64, 1 << 20])
@pytest.mark.parametrize("variant", [{}, {"escape_slashes": True}, {"spaces": True}])
async def test_images_and_the_other_fields_come_through_any_chunking(chunk_size, variant):
    images, rest = await split(reply(**variant), chunk_size)

    assert images == IMAGES
    assert rest["usage"] == {"total_tokens": 42}
    assert [d["revised_prompt"] for d in rest["data"]] == [
        f'say "b64_json":"{i}"' for i in range(3)
    ]
    assert [d["b64_json"] for d in rest["data"]] == ["0", "1", "2"]  # ordinals of the sinks


@pytest.mark.parametrize(
    "value",
    ["AAA*", "AAAAA", "AA=A", "AAAA\\nAAAA", "AAA\\"],
    ids=["char", "len", "pad", "esc", "bs"],
)
async def test_broken_base64_is_refused(value):
    body = b'{"data":[{"b64_json":"' + value.encode() + b'"}]}'
    with pytest.raises(ImageApiError) as err:
        await split(body, 3)
    assert err.value.code is ErrorCode.OPERATION_FAILED


async def test_a_reply_cut_inside_an_image_is_a_retryable_fault():
    body = reply()[:3000]
    sinks: list[Sink] = []

    async def open_sink(ordinal: int) -> Sink:
        sinks.append(Sink())
        return sinks[-1]

    splitter = B64JsonSplitter(open_sink)
    await splitter.feed(body)
    with pytest.raises(ImageApiError) as err:
        splitter.rest()
    assert err.value.retryable


async def test_a_character_outside_the_alphabet_is_refused_not_skipped():
    """A lenient decoder would drop the stray characters and store a different image."""
    for value in ("AA*AA", "AA AA", "AAAA\\u0041AAA", "QUFB    QUFB", "QU**FB**QUFB"):
        body = b'{"data":[{"b64_json":"' + value.encode() + b'"}]}'
        with pytest.raises(ImageApiError) as err:
            await split(body, 1 << 20)
        assert err.value.code is ErrorCode.OPERATION_FAILED
        assert err.value.message == "the image service returned invalid base64 data"


async def test_a_key_that_only_ends_in_b64_json_is_not_an_image():
    """A key such as `note"b64_json` is serialised with an escaped quote: not the image field."""
    image = os.urandom(30)
    body = json.dumps(
        {"data": [{'note"b64_json': "QUFB", "b64_json": base64.b64encode(image).decode()}]}
    ).encode()
    for chunk_size in (1, 7, 1 << 20):
        images, rest = await split(body, chunk_size)
        assert images == [image]
        assert rest["data"] == [{'note"b64_json': "QUFB", "b64_json": "0"}]


async def test_a_reply_without_images_is_refused_once_it_outgrows_the_limit():
    """The reply without its images is kept in memory: past MAX_REST_BYTES it is not a reply."""
    head = b'{"data":[], "note": "'
    filler = b"x" * (MAX_REST_BYTES - len(head))
    splitter = B64JsonSplitter(lambda ordinal: pytest.fail("no image was expected"))
    await splitter.feed(head + filler)  # exactly at the limit: still fine
    with pytest.raises(ImageApiError) as err:
        await splitter.feed(b"x")
    assert (err.value.code, err.value.message) == (
        ErrorCode.UNAVAILABLE,
        "The image service sent an unusable reply (no image data found).",
    )


async def test_a_reply_cut_inside_an_image_says_so():
    sinks: list[Sink] = []

    async def open_sink(ordinal: int) -> Sink:
        sinks.append(Sink())
        return sinks[-1]

    splitter = B64JsonSplitter(open_sink)
    await splitter.feed(b'{"data":[{"b64_json":"AAAA')
    with pytest.raises(ImageApiError) as err:
        splitter.rest()
    assert err.value.message == (
        "The image service sent an unusable reply (it ended inside an image)."
    )


# ---- lenient: a value that is not base64 is skipped, not refused ---------------------------------


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 5, 7, 64, 4096])
@pytest.mark.parametrize(
    "value",
    [
        "AA!A" + "B" * 30,
        'AAAA\\"still\\\\\\" inside\\\\',  # escaped quotes and backslashes
        "AAAAA",  # a short final quantum
        "\\u0041AAA",  # an escape base64 never carries
    ],
    ids=["bad-char", "escapes", "short", "unicode-escape"],
)
async def test_a_lenient_splitter_skips_an_invalid_value_to_its_closing_quote(chunk_size, value):
    sinks: list[Sink] = []

    async def open_sink(ordinal: int) -> Sink:
        sinks.append(Sink())
        return sinks[-1]

    body = ('{"a": 1, "b64_json": "' + value + '", "tail": "x\\"y"}').encode()
    json.loads(body)  # the test's own body is valid JSON
    splitter = B64JsonSplitter(open_sink, lenient=True)
    for start in range(0, len(body), chunk_size):
        await splitter.feed(body[start : start + chunk_size])

    assert splitter.invalid
    assert not splitter.inside
    assert json.loads(splitter.rest()) == {"a": 1, "b64_json": "0", "tail": 'x"y'}


async def test_a_lenient_splitter_decodes_valid_values_as_a_strict_one():
    sinks: list[Sink] = []

    async def open_sink(ordinal: int) -> Sink:
        sinks.append(Sink())
        return sinks[-1]

    image = IMAGES[0]
    body = json.dumps({"b64_json": base64.b64encode(image).decode()}).encode()
    splitter = B64JsonSplitter(open_sink, lenient=True)
    for start in range(0, len(body), 5):
        await splitter.feed(body[start : start + 5])

    assert not splitter.invalid
    assert bytes(sinks[0].data) == image


async def test_a_strict_splitter_still_refuses_an_invalid_value():
    async def open_sink(ordinal: int) -> Sink:
        return Sink()

    splitter = B64JsonSplitter(open_sink)
    with pytest.raises(ImageApiError) as caught:
        await splitter.feed(b'{"b64_json": "AA!A"}')
    assert caught.value.code is ErrorCode.OPERATION_FAILED
