"""The event-stream reader of a streaming image call: whatever the chunking and line endings,
each partial frame reaches its preview sink (finished once, with its frame index) and the final
image the job's sink; errors inside the stream classify like error bodies; a cut stream is a
retryable fault; and a multi-MB `data:` line is never held.

Pure parsing: the stream's bytes are built here and fed as a transport would hand them over.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.imaging.sse import MAX_FIELD_BYTES, MAX_HELD_VALUE_BYTES
from shared.imaging.types import ErrorCode, GeneratedImage, ImageApiError, Previews
from tests.unit.imaging.sse_events import FINAL, FRAMES, Recorder, b64, event, stream


async def read(body: bytes, recorder: Recorder, cuts: list[int] | None = None) -> Any:
    reader = recorder.reader()
    points = sorted({0, *(cuts or [len(body)]), len(body)})
    for start, end in itertools.pairwise(points):
        await reader.feed(body[start:end])
    return await reader.finish()


def chunked(body: bytes, size: int) -> list[int]:
    return list(range(size, len(body), size))


def assert_read_whole(recorder: Recorder, images: list[GeneratedImage]) -> None:
    assert images == [GeneratedImage(streamed=0, revised_prompt='a "b64_json":"x" badger')]
    assert bytes(recorder.finals[0].data) == FINAL
    assert [(ordinal, bytes(s.data)) for ordinal, s in recorder.frames] == [
        (0, FRAMES[0]),
        (0, FRAMES[1]),
    ]
    assert [s.finished for _, s in recorder.frames] == [[0], [1]]  # each published once


# ---- the stream's shapes -----------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 3, 5, 64, 1 << 20])
@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
async def test_frames_and_the_final_image_arrive_whatever_the_chunking(size, newline):
    recorder = Recorder()
    body = stream(newline)

    images = await read(body, recorder, chunked(body, size))

    assert_read_whole(recorder, images)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cuts=st.lists(st.integers(min_value=0, max_value=6000), max_size=40),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    escape_slashes=st.booleans(),
    name=st.booleans(),
)
def test_any_split_of_the_stream_reads_the_same(cuts, newline, escape_slashes, name):
    recorder = Recorder()
    body = stream(newline, escape_slashes=escape_slashes, name=name)

    images = asyncio.run(read(body, recorder, [c for c in cuts if c < len(body)]))

    assert_read_whole(recorder, images)


async def test_escaped_slashes_in_the_base64_decode_to_the_image():
    recorder = Recorder()
    body = stream(escape_slashes=True)
    assert b"\\/" in body

    assert_read_whole(recorder, await read(body, recorder, chunked(body, 3)))


async def test_events_without_an_event_line_are_routed_by_their_type():
    recorder = Recorder()
    body = stream(name=False)
    assert b"event:" not in body

    assert_read_whole(recorder, await read(body, recorder, chunked(body, 7)))


async def test_edit_events_are_read_like_generation_events():
    recorder = Recorder()
    body = (
        event("partial_image", FRAMES[0], prefix="image_edit", partial_image_index=0)
        + event("completed", FINAL, prefix="image_edit")
    ).encode()

    images = await read(body, recorder, chunked(body, 11))

    assert images == [GeneratedImage(streamed=0)]
    assert bytes(recorder.finals[0].data) == FINAL
    assert [s.finished for _, s in recorder.frames] == [[0]]


async def test_comments_other_fields_unknown_events_and_done_are_passed_over():
    recorder = Recorder()
    body = (
        ": keep-alive\n\n"
        "retry: 3000\nid: 7\n"
        + event("partial_image", FRAMES[0], partial_image_index=0)
        + 'event: image_generation.in_progress\ndata: {"type": "image_generation.in_progress"}\n\n'
        + "event: image_generation.something_new\n"
        + 'data: {"type": "image_generation.something_new", "b64_json": "'
        + b64(os.urandom(3000))
        + '"}\n\n'
        + "custom-field: whatever\n"
        + event("completed", FINAL)
        + ":bye\n"
        + "data: [DONE]\n\n"
        + "event: image_generation.completed\ndata: not even JSON after DONE\n\n"
    ).encode()

    images = await read(body, recorder, chunked(body, 13))

    assert images == [GeneratedImage(streamed=0)]
    assert bytes(recorder.finals[0].data) == FINAL
    assert [bytes(s.data) for _, s in recorder.frames] == [FRAMES[0]]


async def test_multi_line_data_is_joined_with_line_feeds():
    recorder = Recorder()
    image = b64(FINAL)
    body = (
        "event: image_generation.completed\r\n"
        'data: {"type": "image_generation.completed",\r\n'
        f'data:"b64_json": "{image}",\r\n'
        "data:\r\n"
        'data: "revised_prompt": "two\\nlines"}\r\n'
        "\r\n"
    ).encode()

    images = await read(body, recorder, chunked(body, 9))

    assert images == [GeneratedImage(streamed=0, revised_prompt="two\nlines")]
    assert bytes(recorder.finals[0].data) == FINAL


async def test_without_previews_no_preview_sink_is_opened_and_the_final_still_arrives():
    recorder = Recorder(previews=False)

    images = await read(stream(), recorder, chunked(stream(), 100))

    assert images[0].streamed == 0
    assert bytes(recorder.finals[0].data) == FINAL
    assert recorder.frames == []


async def test_partials_after_their_image_was_completed_are_dropped():
    recorder = Recorder()
    body = (
        event("partial_image", FRAMES[0], partial_image_index=0)
        + event("completed", FINAL)
        + event("partial_image", FRAMES[1], partial_image_index=1)
    ).encode()

    images = await read(body, recorder, chunked(body, 17))

    assert images == [GeneratedImage(streamed=0)]
    assert [(o, bytes(s.data), s.finished) for o, s in recorder.frames] == [(0, FRAMES[0], [0])]


async def test_each_image_of_several_gets_its_own_ordinal():
    recorder = Recorder()
    other = os.urandom(999)
    body = (
        event("partial_image", FRAMES[0], partial_image_index=0)
        + event("completed", FINAL)
        + event("partial_image", FRAMES[1], partial_image_index=0)
        + event("completed", other)
    ).encode()
    reader = recorder.reader(images=2)
    await reader.feed(body)

    images = await reader.finish()

    assert images == [GeneratedImage(streamed=0), GeneratedImage(streamed=1)]
    assert bytes(recorder.finals[1].data) == other
    assert [(o, bytes(s.data)) for o, s in recorder.frames] == [(0, FRAMES[0]), (1, FRAMES[1])]


# ---- errors in the stream ----------------------------------------------------------------------


def error_event(err: dict[str, Any], *, name: str | None = "error") -> bytes:
    head = f"event: {name}\n" if name else ""
    return (head + "data: " + json.dumps({"type": "error", "error": err}) + "\n\n").encode()


@pytest.mark.parametrize(
    ("err", "code", "retry_after"),
    [
        (
            {
                "code": "content_policy_violation",
                "message": "Your request was rejected as a result of our safety system.",
                "type": "invalid_request_error",
                "inner_error": {"code": "ResponsibleAIPolicyViolation"},
            },
            ErrorCode.CONTENT_FILTER,
            None,
        ),
        ({"code": "contentFilter", "message": "Generated image was filtered."}, None, None),
        (
            {"code": "InternalServerError", "message": "The server had an error.", "type": "x"},
            ErrorCode.UNAVAILABLE,
            None,
        ),
        ({"type": "server_error", "message": "boom"}, ErrorCode.UNAVAILABLE, None),
        ({"message": "something odd"}, ErrorCode.UNAVAILABLE, None),
        (
            {"code": "rate_limit_exceeded", "message": "Please retry after 7 seconds."},
            ErrorCode.THROTTLED,
            7.0,
        ),
        ({"code": "429", "message": "Too many."}, ErrorCode.THROTTLED, None),
        ({"code": "invalidPayload", "message": "Bad size."}, ErrorCode.INVALID_REQUEST, None),
        ({"code": "model_not_found", "message": "gone"}, ErrorCode.DEPLOYMENT_NOT_FOUND, None),
        (
            {
                "code": "moderation_blocked",
                "message": "Your request was rejected by the safety system.",
                "type": "image_generation_user_error",
            },
            ErrorCode.CONTENT_FILTER,
            None,
        ),
        (
            {"code": "something_new", "message": "No.", "type": "image_generation_user_error"},
            ErrorCode.INVALID_REQUEST,
            None,
        ),
        (
            {"code": "bad_size", "message": "No.", "type": "invalid_request_error"},
            ErrorCode.INVALID_REQUEST,
            None,
        ),
        ({"message": "No.", "type": "invalid_request"}, ErrorCode.INVALID_REQUEST, None),
        (
            {"code": "rate_limit_reached", "message": "Slow down."},
            ErrorCode.THROTTLED,
            None,
        ),
        ({"message": "Slow down.", "type": "rate_limit_tokens"}, ErrorCode.THROTTLED, None),
    ],
    ids=[
        "policy",
        "filter",
        "server",
        "server-type",
        "unknown",
        "throttled",
        "429",
        "invalid",
        "model",
        "moderation-blocked",
        "user-error-type",
        "invalid-request-type",
        "invalid-request-prefix",
        "rate-limit-code",
        "rate-limit-type",
    ],
)
async def test_an_error_event_classifies_like_the_same_error_body(err, code, retry_after):
    recorder = Recorder()
    body = event("partial_image", FRAMES[0], partial_image_index=0).encode() + error_event(err)

    with pytest.raises(ImageApiError) as caught:
        await read(body, recorder, chunked(body, 5))

    assert caught.value.code is (code or ErrorCode.CONTENT_FILTER)
    assert caught.value.retryable is caught.value.code.retryable
    assert caught.value.retry_after_s == retry_after
    assert caught.value.message == err["message"]
    assert recorder.finals == {}


async def test_a_data_object_carrying_error_is_an_error_without_an_error_event():
    body = error_event({"code": "content_policy_violation", "message": "no."}, name=None)

    with pytest.raises(ImageApiError) as caught:
        await read(body, Recorder())

    assert caught.value.code is ErrorCode.CONTENT_FILTER


async def test_an_error_event_that_is_not_json_is_a_retryable_fault_saying_what_it_said():
    with pytest.raises(ImageApiError) as caught:
        await read(b"event: error\ndata: upstream went away\n\n", Recorder())

    assert caught.value.code is ErrorCode.UNAVAILABLE
    assert "upstream went away" in caught.value.message


async def test_an_error_without_a_message_still_says_what_happened():
    with pytest.raises(ImageApiError) as caught:
        await read(error_event({"code": "server_error"}), Recorder())

    assert caught.value.code is ErrorCode.UNAVAILABLE
    assert "server_error" in caught.value.message


# ---- cut and broken streams --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cut", "says"),
    [
        (lambda body: body[: body.index(b"event: image_generation.completed")], "without"),
        (lambda body: body[: len(body) - 500], "inside an event"),  # inside the final image
        (lambda body: body[: len(body) - 40], "inside an event"),  # in the JSON after the image
        (lambda body: b"", "without"),
        (lambda body: b": just a comment\n\n", "without"),
    ],
    ids=["no-completed", "in-image", "in-json", "empty", "comment-only"],
)
async def test_a_stream_that_ends_early_is_a_retryable_fault(cut, says):
    with pytest.raises(ImageApiError) as caught:
        await read(cut(stream()), Recorder(), [7, 100, 2000])

    assert caught.value.code is ErrorCode.UNAVAILABLE
    assert caught.value.retryable
    assert says in caught.value.message


@pytest.mark.parametrize(
    "body",
    [
        b"x" * (MAX_FIELD_BYTES + 1) + b": 1\n\n",
        b"event: " + b"e" * (MAX_HELD_VALUE_BYTES + 1) + b"\n\n",
        b"id: " + b"7" * (MAX_HELD_VALUE_BYTES + 1) + b"\n\n",
        b"event: image_generation.completed\ndata: {not json}\n\n",
        b"event: image_generation.completed\ndata: [1, 2]\n\n",
        b'event: image_generation.completed\ndata: {"type": "image_generation.completed"}\n\n',
        b'event: image_generation.completed\ndata: {"b64_json": "AAAA", "b64_json": "AAAA"}\n\n',
    ],
    ids=[
        "long-field",
        "long-event",
        "long-id",
        "not-json",
        "not-object",
        "no-image",
        "two-images",
    ],
)
async def test_an_unusable_stream_is_an_invalid_reply(body):
    with pytest.raises(ImageApiError) as caught:
        await read(body, Recorder(), chunked(body, 4))

    assert caught.value.code is ErrorCode.UNAVAILABLE
    assert "unusable reply" in caught.value.message


# ---- once every image asked for is in, the call is done ----------------------------------------

AFTER_COMPLETED = {
    "error": error_event({"code": "server_error", "message": "late trouble"}),
    "cut": event("partial_image", FRAMES[1], partial_image_index=1).encode()[:300],
    "junk": b"\x00\xff" + b"x" * (MAX_FIELD_BYTES + 10) + b"\n\n",
    "bad-json": b"event: image_generation.completed\ndata: {not json\n\n",
    "second-completed": event("completed", os.urandom(50)).encode(),
}


@pytest.mark.parametrize("after", list(AFTER_COMPLETED), ids=list(AFTER_COMPLETED))
@pytest.mark.parametrize("size", [7, 1 << 20])
async def test_whatever_follows_the_last_completed_image_is_not_read(after, size):
    recorder = Recorder()
    body = stream() + AFTER_COMPLETED[after]
    reader = recorder.reader()
    for start in range(0, len(body), size):
        await reader.feed(body[start : start + size])
        if reader.complete:
            break  # what the client does: it stops reading and closes the reply

    assert reader.complete
    images = await reader.finish()

    assert_read_whole(recorder, images)
    assert [o for o, _ in recorder.opened] == [0]  # nothing after it was staged


async def test_the_reader_stops_inside_a_chunk_once_complete():
    recorder = Recorder()
    reader = recorder.reader()

    await reader.feed(stream() + AFTER_COMPLETED["error"] + AFTER_COMPLETED["junk"])

    assert reader.complete
    assert_read_whole(recorder, await reader.finish())


@pytest.mark.parametrize("cut", [1, 2], ids=["no-blank-line", "no-line-end"])
async def test_a_completed_event_that_arrived_whole_counts_without_its_blank_line(cut):
    recorder = Recorder()
    body = stream()[:-cut]  # its data line arrived (maybe without its own line end), no more

    images = await read(body, recorder, [7, 100, 2000])

    assert_read_whole(recorder, images)


async def test_a_second_completed_event_past_the_images_asked_for_is_not_staged():
    recorder = Recorder()
    body = (event("completed", FINAL) + event("completed", os.urandom(64))).encode()
    reader = recorder.reader(images=1)

    await reader.feed(body)

    assert await reader.finish() == [GeneratedImage(streamed=0)]
    assert [(o, bytes(s.data)) for o, s in recorder.opened] == [(0, FINAL)]


# ---- an image whose type comes after it -------------------------------------------------------


def untyped(kind: str, image: bytes, **fields: Any) -> bytes:
    """An event with no `event:` line whose `type` comes after its `b64_json`."""
    payload = {"b64_json": b64(image), "type": f"image_generation.{kind}", **fields}
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


async def test_a_completed_image_before_its_type_goes_to_the_final_sink():
    recorder = Recorder()
    body = untyped("completed", FINAL, revised_prompt="late type")

    images = await read(body, recorder, chunked(body, 5))

    assert images == [GeneratedImage(streamed=0, revised_prompt="late type")]
    assert bytes(recorder.finals[0].data) == FINAL


async def test_a_partial_image_before_its_type_is_staged_provisionally_then_dropped():
    recorder = Recorder()
    body = untyped("partial_image", FRAMES[0], partial_image_index=0) + untyped("completed", FINAL)

    images = await read(body, recorder, chunked(body, 9))

    assert images == [GeneratedImage(streamed=0)]
    # the partial went to the final sink of ordinal 0, which the completed image opened anew
    assert [(o, bytes(s.data)) for o, s in recorder.opened] == [(0, FRAMES[0]), (0, FINAL)]
    assert bytes(recorder.finals[0].data) == FINAL
    assert recorder.frames == []  # never shown: its bytes went where a preview does not


async def test_an_image_before_its_type_that_is_not_base64_fails_only_if_it_was_the_final():
    recorder = Recorder()
    bad = b'data: {"b64_json": "@@@@", "type": "image_generation.partial_image"}\n\n'

    images = await read(bad + untyped("completed", FINAL), recorder, chunked(bad, 3))

    assert images == [GeneratedImage(streamed=0)]
    with pytest.raises(ImageApiError) as caught:
        await read(
            b'data: {"b64_json": "@@@@", "type": "image_generation.completed"}\n\n', Recorder()
        )
    assert "invalid base64" in caught.value.message


# ---- a bad preview frame is dropped, the call goes on ----------------------------------------


def partial_data(data: str) -> bytes:
    return f"event: image_generation.partial_image\ndata: {data}\n\n".encode()


BAD_FRAMES = {
    "no-frame-index": partial_data(json.dumps({"b64_json": b64(FRAMES[0])})),
    "string-index": partial_data(
        json.dumps({"b64_json": b64(FRAMES[0]), "partial_image_index": "0"})
    ),
    "bool-index": partial_data(
        json.dumps({"b64_json": b64(FRAMES[0]), "partial_image_index": True})
    ),
    "negative-index": partial_data(
        json.dumps({"b64_json": b64(FRAMES[0]), "partial_image_index": -1})
    ),
    "invalid-base64": partial_data(
        json.dumps({"b64_json": b64(FRAMES[0])[:40] + "!!" + b64(FRAMES[0])[42:]})[:-1]
        + ', "partial_image_index": 0}'
    ),
    "escaped-quote": partial_data(
        '{"b64_json": "AAAA\\"still \\\\\\" inside", "partial_image_index": 0}'
    ),
    "short-quantum": partial_data('{"b64_json": "AAAAA", "partial_image_index": 0}'),
    "broken-json": partial_data('{"b64_json": "' + b64(FRAMES[0]) + '", "partial_image_index": 0'),
    "not-an-object": partial_data("[1, 2]"),
}


# why each bad frame is dropped, as the log says it
WHY = {
    "no-frame-index": "no usable partial_image_index",
    "string-index": "no usable partial_image_index",
    "bool-index": "no usable partial_image_index",
    "negative-index": "no usable partial_image_index",
    "invalid-base64": "not valid base64",
    "escaped-quote": "not valid base64",  # skipped to its real closing quote: the JSON reads
    "short-quantum": "not valid base64",
    "broken-json": "not a JSON object",
    "not-an-object": "without a JSON object",
}


@pytest.mark.parametrize("bad", list(BAD_FRAMES), ids=list(BAD_FRAMES))
@pytest.mark.parametrize("size", [1, 3, 64, 1 << 20])
async def test_a_bad_preview_frame_is_dropped_and_never_fails_the_call(bad, size, caplog):
    recorder = Recorder()
    body = (
        BAD_FRAMES[bad]
        + event("partial_image", FRAMES[1], partial_image_index=1).encode()
        + event("completed", FINAL).encode()
    )

    images = await read(body, recorder, chunked(body, size))

    assert images == [GeneratedImage(streamed=0)]
    assert bytes(recorder.finals[0].data) == FINAL
    frames = [(s.finished, s.abandoned) for _, s in recorder.frames]
    if bad == "not-an-object":  # no image in it: no preview was opened for it
        assert frames == [([1], 0)]
    else:  # the bad frame is abandoned, never published; the next good one is
        assert frames == [([], 1), ([1], 0)]
    assert bytes(recorder.frames[-1][1].data) == FRAMES[1]
    assert WHY[bad] in caplog.text


async def test_a_final_image_that_is_not_base64_still_fails_the_call():
    body = b'event: image_generation.completed\ndata: {"b64_json": "AA!A"}\n\n'

    with pytest.raises(ImageApiError) as caught:
        await read(body, Recorder())

    assert caught.value.code is ErrorCode.OPERATION_FAILED
    assert "invalid base64" in caught.value.message


# ---- memory ------------------------------------------------------------------------------------


async def test_a_5_mb_data_line_is_never_held():
    final, frame = os.urandom(5 * 1024 * 1024), os.urandom(4 * 1024 * 1024)
    body = (
        event("partial_image", frame, partial_image_index=0) + event("completed", final)
    ).encode()
    assert max(len(line) for line in body.split(b"\n")) > 5 * 1024 * 1024
    recorder = Recorder()
    reader = recorder.reader()
    rng = random.Random(15)
    start = 0
    while start < len(body):  # a transport's chunks: up to 64 KiB, any size
        end = start + rng.randint(1, 64 * 1024)
        await reader.feed(body[start:end])
        start = end

    images = await reader.finish()

    assert images == [GeneratedImage(streamed=0)]
    assert bytes(recorder.finals[0].data) == final
    assert bytes(recorder.frames[0][1].data) == frame
    assert reader.max_held < 4 * 1024  # the JSON around the image, a field name: never the line
    assert recorder.finals[0].largest_write <= 48 * 1024  # decoded as it came: 3/4 of a chunk
    assert recorder.frames[0][1].largest_write <= 48 * 1024


# ---- previews are a courtesy -------------------------------------------------------------------


class BrokenSink:
    def __init__(self, fail_on: str) -> None:
        self.fail_on = fail_on
        self.finished: list[int] = []

    async def write(self, chunk: bytes) -> None:
        if self.fail_on == "write":
            raise OSError("blob storage is down")

    async def finish(self, frame: int) -> None:
        self.finished.append(frame)
        if self.fail_on == "finish":
            raise OSError("blob storage is down")

    async def abandon(self) -> None:
        if self.fail_on == "abandon":
            raise OSError("blob storage is down")


@pytest.mark.parametrize("fail_on", ["open", "write", "finish"])
async def test_a_preview_that_cannot_be_stored_never_fails_the_call(fail_on, caplog):
    recorder = Recorder()
    broken: list[BrokenSink] = []

    async def open_preview(ordinal: int) -> BrokenSink:
        if fail_on == "open":
            raise OSError("blob storage is down")
        broken.append(BrokenSink(fail_on))
        return broken[-1]

    recorder.previews = Previews(2, open_preview)

    images = await read(stream(), recorder, chunked(stream(), 50))

    assert images == [GeneratedImage(streamed=0, revised_prompt='a "b64_json":"x" badger')]
    assert bytes(recorder.finals[0].data) == FINAL
    # a frame whose bytes could not be written is never published; a failed publish is tried once
    expected = {"open": [], "write": [[], []], "finish": [[0], [1]]}[fail_on]
    assert [s.finished for s in broken] == expected
    assert "preview of image 0 dropped" in caplog.text
    assert "blob storage is down" not in caplog.text  # the type only: texts may carry SAS URLs
