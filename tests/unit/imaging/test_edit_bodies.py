"""The edit bodies, built from inputs streamed chunk by chunk: multipart/form-data for the
`images/edits` routes, JSON with base64 references for the Black Forest Labs routes.

Pure: each body is drained here and parsed back (werkzeug's form parser, json.loads), so the
tests see what a server would, and that the stated Content-Length is the real one. The inputs
log when they are read, which is how the tests check that a body never reads ahead of what it
has passed on (holding a 20 MB input whole is the thing to avoid).
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import AsyncIterator

import pytest
from werkzeug.wrappers import Request

from shared.imaging.base import edit_body, edit_fields, edit_files
from shared.imaging.bfl_api import edit_body_for, reference_names, request_body_for
from shared.imaging.bfl_foundry import bfl_edit_body, bfl_edit_fields
from shared.imaging.json_stream import base64_length, json_with_base64
from shared.imaging.multipart import multipart_body
from shared.imaging.streamed_body import StreamedBody
from shared.imaging.types import EditSources, ErrorCode, Family, GenerationParams, ImageApiError

# Bytes that look like multipart structure, quotes and every byte value: none may confuse it.
AWKWARD = b'\r\n--boundary\r\n"\\' + bytes(range(256))


class Chunked:
    """An InputFile whose bytes come in `chunk`-sized pieces; `reads` logs, for each piece it
    hands out, how many body bytes the consumer had received by then (`received`)."""

    def __init__(
        self,
        data: bytes,
        *,
        chunk: int = 7,
        filename: str = "image-0.png",
        content_type: str = "image/png",
        size: int | None = None,
        received: list[int] | None = None,
    ) -> None:
        self.data, self.chunk = data, chunk
        self.filename, self.content_type = filename, content_type
        self.size = len(data) if size is None else size
        self.received = received if received is not None else [0]
        self.opened = 0
        self.reads: list[int] = []

    async def chunks(self) -> AsyncIterator[bytes]:
        self.opened += 1
        for start in range(0, len(self.data), self.chunk):
            self.reads.append(self.received[0])
            yield self.data[start : start + self.chunk]


async def drain(body: StreamedBody, received: list[int] | None = None) -> bytes:
    out = bytearray()
    async for piece in body:
        assert isinstance(piece, bytes)
        out += piece
        if received is not None:
            received[0] = len(out)
    return bytes(out)


def form(body: StreamedBody, raw: bytes) -> Request:
    return Request.from_values(
        input_stream=io.BytesIO(raw),
        content_type=body.content_type,
        content_length=len(raw),
        method="POST",
    )


# ---- multipart ---------------------------------------------------------------------------------


async def test_multipart_parses_back_to_the_fields_and_the_exact_file_bytes():
    first = Chunked(AWKWARD * 3, chunk=5, filename="image-0.png")
    second = Chunked(b"jpeg!" * 100, chunk=64, filename="image-1.jpg", content_type="image/jpeg")
    body = multipart_body(
        {"prompt": "a badger ünicode", "n": "1"}, [("image[]", first), ("image[]", second)]
    )
    raw = await drain(body)

    assert body.length == len(raw)
    assert body.headers["Content-Length"] == str(len(raw))
    assert body.content_type.startswith("multipart/form-data; boundary=")
    request = form(body, raw)
    assert request.form.to_dict() == {"prompt": "a badger ünicode", "n": "1"}
    images = request.files.getlist("image[]")
    assert [f.filename for f in images] == ["image-0.png", "image-1.jpg"]
    assert [f.mimetype for f in images] == ["image/png", "image/jpeg"]
    assert [f.read() for f in images] == [AWKWARD * 3, b"jpeg!" * 100]


async def test_multipart_wire_format_is_the_usual_one():
    body = multipart_body(
        {"prompt": "p"}, [("image", Chunked(b"PNG", filename='a"b.png'))], boundary="XyZ"
    )
    assert await drain(body) == (
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="prompt"\r\n\r\n'
        b"p\r\n"
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="image"; filename="a%22b.png"\r\n'
        b"Content-Type: image/png\r\n\r\n"
        b"PNG\r\n"
        b"--XyZ--\r\n"
    )
    assert body.headers == {
        "Content-Type": "multipart/form-data; boundary=XyZ",
        "Content-Length": str(body.length),
    }


async def test_multipart_reads_an_input_only_after_everything_before_it_was_passed_on():
    received = [0]
    inputs = [Chunked(bytes([i]) * 20, chunk=6, received=received) for i in range(3)]
    body = multipart_body({"prompt": "p"}, [("image[]", f) for f in inputs], boundary="B")
    assert [f.opened for f in inputs] == [0, 0, 0]  # building the body reads nothing
    raw = await drain(body, received)

    for source in inputs:
        start = raw.index(source.data)  # where its bytes sit in the body
        # Each piece is read only once everything before it reached the consumer: the body
        # never holds more than the one chunk it is passing on.
        assert source.reads == [start + offset for offset in range(0, 20, 6)]
        assert source.opened == 1


@pytest.mark.parametrize("size", [5, 500])
async def test_an_input_that_is_not_its_stated_size_is_refused(size):
    body = multipart_body({}, [("image", Chunked(b"x" * 50, size=size))])
    with pytest.raises(ImageApiError) as info:
        await drain(body)
    assert info.value.code is ErrorCode.INVALID_REQUEST
    assert "image-0.png" in info.value.message


async def test_a_streamed_body_is_sent_once():
    body = multipart_body({"prompt": "p"}, [])
    await drain(body)
    with pytest.raises(RuntimeError):
        await drain(body)


# ---- which multipart fields each family sends -------------------------------------------------

ALL_OPTIONS = GenerationParams(
    prompt="add a hat",
    n=2,
    size="1024x1536",
    quality="high",
    style="vivid",
    output_format="jpeg",
    output_compression=80,
    background="opaque",
    moderation="low",
    seed=3,
    input_fidelity="high",
    user="u-1",
)


@pytest.mark.parametrize(
    "family",
    [Family.GPT_IMAGE, Family.GPT_IMAGE_1_MINI, Family.GPT_IMAGE_1_5, Family.GPT_IMAGE_2],
)
def test_gpt_image_edits_send_the_generation_options_and_input_fidelity_as_text(family):
    assert edit_fields(ALL_OPTIONS, family) == {
        "prompt": "add a hat",
        "n": "2",
        "size": "1024x1536",
        "quality": "high",
        "output_format": "jpeg",
        "output_compression": "80",
        "background": "opaque",
        "input_fidelity": "high",
        "user": "u-1",
    }  # no moderation (not a multipart field of the edits route), no response_format


def test_the_v1_and_openai_routes_name_the_model_in_the_form():
    fields = edit_fields(GenerationParams(prompt="p"), Family.GPT_IMAGE, model="my-dep")
    assert fields == {"prompt": "p", "n": "1", "model": "my-dep"}


def test_kontext_on_the_image_api_sends_prompt_n_and_size_only():
    fields = edit_fields(ALL_OPTIONS.model_copy(update={"n": 1}), Family.FLUX_1_KONTEXT_PRO)
    assert fields == {"prompt": "add a hat", "n": "1", "size": "1024x1536"}


def test_one_image_is_image_several_are_image_brackets_and_the_mask_is_mask():
    a, b, m = Chunked(b"a"), Chunked(b"b"), Chunked(b"m", filename="mask.png")
    assert edit_files(EditSources([a]), Family.GPT_IMAGE) == [("image", a)]
    assert edit_files(EditSources([a, b], m), Family.GPT_IMAGE) == [
        ("image[]", a),
        ("image[]", b),
        ("mask", m),
    ]
    assert edit_files(EditSources([a]), Family.FLUX_1_KONTEXT_PRO) == [("image", a)]


@pytest.mark.parametrize(
    "sources",
    [
        EditSources([]),
        EditSources([Chunked(b"a"), Chunked(b"b")]),
        EditSources([Chunked(b"a")], Chunked(b"m")),
    ],
)
def test_kontext_edits_exactly_one_image_without_a_mask(sources):
    with pytest.raises(ImageApiError) as info:
        edit_files(sources, Family.FLUX_1_KONTEXT_PRO)
    assert info.value.code is ErrorCode.INVALID_REQUEST


async def test_an_edit_body_with_a_mask_parses_back():
    image = Chunked(AWKWARD, chunk=3, filename="image-0.png")
    mask = Chunked(b"\x89PNG mask", chunk=2, filename="mask.png")
    params = GenerationParams(prompt="p", input_fidelity="low")
    body = edit_body(params, Family.GPT_IMAGE_1_5, EditSources([image], mask), model="dep")
    raw = await drain(body)
    assert body.length == len(raw)
    request = form(body, raw)
    assert request.form.to_dict() == {
        "prompt": "p",
        "n": "1",
        "model": "dep",
        "input_fidelity": "low",
    }
    assert request.files["image"].read() == AWKWARD
    assert (request.files["mask"].filename, request.files["mask"].read()) == (
        "mask.png",
        b"\x89PNG mask",
    )


# ---- JSON with base64 references -----------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 299, 300, 301])
@pytest.mark.parametrize("chunk", [1, 2, 4, 64])
async def test_base64_members_decode_to_the_exact_input_bytes(size, chunk):
    data = (AWKWARD * 2)[:size]
    other = b"second" * 11
    body = json_with_base64(
        {"prompt": 'a "quoted" ü', "n": 1},
        [("input_image", Chunked(data, chunk=chunk)), ("input_image_2", Chunked(other, chunk=5))],
    )
    raw = await drain(body)

    assert body.length == len(raw)
    assert body.headers == {"Content-Type": "application/json", "Content-Length": str(len(raw))}
    payload = json.loads(raw)
    assert list(payload) == ["prompt", "n", "input_image", "input_image_2"]
    assert payload["prompt"] == 'a "quoted" ü'
    assert payload["input_image"] == base64.b64encode(data).decode()  # plain, no data: prefix
    assert base64.b64decode(payload["input_image_2"], validate=True) == other


async def test_json_without_fields_is_still_an_object():
    body = json_with_base64({}, [("input_image", Chunked(b"abcd"))])
    assert json.loads(await drain(body)) == {"input_image": "YWJjZA=="}


def test_the_base64_length_is_known_up_front():
    for size in range(50):
        assert base64_length(size) == len(base64.b64encode(b"x" * size))


async def test_json_reads_an_input_only_after_what_it_encoded_so_far_was_passed_on():
    received = [0]
    inputs = [Chunked(bytes([65 + i]) * 20, chunk=7, received=received) for i in range(2)]
    body = json_with_base64({"prompt": "p"}, list(zip(reference_names(2), inputs, strict=True)))
    assert [f.opened for f in inputs] == [0, 0]
    raw = await drain(body, received)

    for name, source in zip(reference_names(2), inputs, strict=True):
        start = raw.index(f'"{name}":"'.encode()) + len(name) + 4
        # Before chunk k is read, the base64 of every whole 3-byte group of the earlier chunks
        # is out (fewer than 3 bytes carried): nothing else of the input is held.
        assert source.reads == [start + 4 * (offset // 3) for offset in range(0, 20, 7)]


async def test_json_refuses_an_input_that_is_not_its_stated_size():
    body = json_with_base64({}, [("input_image", Chunked(b"x" * 10, size=11))])
    with pytest.raises(ImageApiError) as info:
        await drain(body)
    assert info.value.code is ErrorCode.INVALID_REQUEST


def test_reference_names():
    assert reference_names(3) == ["input_image", "input_image_2", "input_image_3"]


# ---- which BFL fields each route and model sends ------------------------------------------------

FLUX_EDIT = GenerationParams(prompt="add a hat", size="1536x1024", output_format="jpeg", seed=7)


async def test_foundry_bfl_edit_body_carries_bfl_fields_and_the_references():
    refs = [Chunked(AWKWARD, chunk=10), Chunked(b"second ref", chunk=4)]
    body = bfl_edit_body(FLUX_EDIT, "my-flux", Family.FLUX_2_PRO, EditSources(refs))
    raw = await drain(body)
    assert body.length == len(raw)
    assert json.loads(raw) == {
        "model": "my-flux",
        "prompt": "add a hat",
        "width": 1536,
        "height": 1024,
        "output_format": "jpeg",
        "n": 1,
        "seed": 7,
        "input_image": base64.b64encode(AWKWARD).decode(),
        "input_image_2": base64.b64encode(b"second ref").decode(),
    }


def test_foundry_edits_without_a_size_leave_it_to_the_input():
    fields = bfl_edit_fields(GenerationParams(prompt="p"), "m", Family.FLUX_2_FLEX)
    assert fields == {"model": "m", "prompt": "p", "output_format": "png", "n": 1}


def test_kontext_edits_send_the_size_as_a_reduced_aspect_ratio():
    fields = bfl_edit_fields(FLUX_EDIT, "m", Family.FLUX_1_KONTEXT_PRO)
    assert fields == {
        "model": "m",
        "prompt": "add a hat",
        "aspect_ratio": "3:2",
        "output_format": "jpeg",
        "n": 1,
        "seed": 7,
    }
    square = bfl_edit_fields(
        GenerationParams(prompt="p", size="1024x1024"), "m", Family.FLUX_1_KONTEXT_PRO
    )
    assert square["aspect_ratio"] == "1:1"
    assert "width" not in square


def test_foundry_edits_make_one_image():
    with pytest.raises(ImageApiError) as info:
        bfl_edit_fields(GenerationParams(prompt="p", n=2), "m", Family.FLUX_2_PRO)
    assert info.value.code is ErrorCode.INVALID_REQUEST


async def test_bfl_api_edit_body_is_its_submit_body_plus_the_references():
    body = edit_body_for(FLUX_EDIT, Family.FLUX_2_PRO, EditSources([Chunked(b"ref")]))
    raw = await drain(body)
    assert body.length == len(raw)
    assert json.loads(raw) == {
        **request_body_for(FLUX_EDIT),
        "input_image": base64.b64encode(b"ref").decode(),
    }
    assert set(request_body_for(FLUX_EDIT)) == {
        "prompt",
        "width",
        "height",
        "output_format",
        "seed",
    }


async def test_bfl_api_kontext_edit_sends_aspect_ratio_and_no_width_or_height():
    body = edit_body_for(FLUX_EDIT, Family.FLUX_1_KONTEXT_PRO, EditSources([Chunked(b"ref")]))
    payload = json.loads(await drain(body))
    assert payload == {
        "prompt": "add a hat",
        "aspect_ratio": "3:2",
        "output_format": "jpeg",
        "seed": 7,
        "input_image": "cmVm",
    }


def many(count: int) -> EditSources:
    return EditSources([Chunked(bytes([i])) for i in range(count)])


@pytest.mark.parametrize(
    ("family", "sources"),
    [
        (Family.FLUX_2_PRO, many(9)),
        (Family.FLUX_2_FLEX, many(11)),
        (Family.FLUX_1_KONTEXT_PRO, many(2)),
        (Family.FLUX_1_1_PRO, many(1)),  # FLUX 1.1 [pro] takes no input_image at all
        (Family.FLUX_2_PRO, many(0)),
        (Family.FLUX_2_PRO, EditSources([Chunked(b"a")], Chunked(b"mask"))),
    ],
)
def test_foundry_refuses_references_the_model_would_silently_ignore(family, sources):
    with pytest.raises(ImageApiError) as info:
        bfl_edit_body(GenerationParams(prompt="p"), "m", family, sources)
    assert info.value.code is ErrorCode.INVALID_REQUEST


def test_foundry_flex_takes_ten_references_bfls_own_api_eight():
    bfl_edit_body(GenerationParams(prompt="p"), "m", Family.FLUX_2_FLEX, many(10))
    edit_body_for(GenerationParams(prompt="p"), Family.FLUX_2_FLEX, many(8))
    with pytest.raises(ImageApiError):
        edit_body_for(GenerationParams(prompt="p"), Family.FLUX_2_FLEX, many(9))
