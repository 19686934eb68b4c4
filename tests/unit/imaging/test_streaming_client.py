"""What a client asks for and how it reads the reply when a job wants previews.

httpx.MockTransport stands in for the service: these tests check the request's bytes and the
choice of reader by the reply's Content-Type, which is pure plumbing. The real stream (emulator
timing, real frames) is exercised against the emulator in tests/integration.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from werkzeug.wrappers import Request

from shared.imaging import Auth, Deployment, ErrorCode, Family, Flavour, GenerationParams
from shared.imaging.factory import client_for
from shared.imaging.types import EditSources, GeneratedImage, ImageApiError, Previews
from tests.unit.imaging.sse_events import FINAL, FRAMES, Recorder, stream

SECRET = "0123456789abcdef0123456789abcdef"
PARAMS = GenerationParams(prompt="a badger")


def deployment(
    family: Family, flavour: Flavour, api_version: str = "2025-04-01-preview"
) -> Deployment:
    return Deployment(
        name="d",
        deployment="dep",
        family=family,
        flavour=flavour,
        endpoint="https://res.openai.azure.com",
        api_version=api_version,
    )


class Service:
    """Records each request and answers with `reply(request)`."""

    def __init__(self, reply: Callable[[httpx.Request], httpx.Response]) -> None:
        self.reply = reply
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return self.reply(request)

    @property
    def body(self) -> dict:
        return json.loads(self.requests[-1].content)

    def form(self) -> dict[str, str]:
        request = self.requests[-1]
        parsed = Request.from_values(
            input_stream=io.BytesIO(request.content),
            content_type=request.headers["content-type"],
            content_length=len(request.content),
            method="POST",
        )
        return parsed.form.to_dict()


async def pieces(body: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def event_stream(request: httpx.Request) -> httpx.Response:
    body = stream()
    return httpx.Response(
        200,
        headers={"content-type": "text/event-stream; charset=utf-8"},
        content=pieces(body, 1000),
    )


def json_reply(request: httpx.Request) -> httpx.Response:
    data = [{"b64_json": base64.b64encode(FINAL).decode(), "revised_prompt": "rev"}]
    return httpx.Response(200, json={"created": 1, "data": data})


def url_reply(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"created": 1, "data": [{"url": "https://blob/x.png"}]})


async def run(
    service: Service,
    family: Family = Family.GPT_IMAGE_1_5,
    flavour: Flavour = Flavour.AZURE_DEPLOYMENT,
    *,
    recorder: Recorder | None = None,
    sources: EditSources | None = None,
    api_version: str = "2025-04-01-preview",
) -> list[GeneratedImage]:
    recorder = recorder or Recorder()
    async with httpx.AsyncClient(transport=httpx.MockTransport(service)) as http:
        dep = deployment(family, flavour, api_version)
        client = client_for(dep, http, Auth.from_key(SECRET))
        return await client.generate_streamed(
            PARAMS, recorder.open_sink, sources, previews=recorder.previews
        )


class Input:
    filename, content_type = "image-0.png", "image/png"

    def __init__(self, data: bytes) -> None:
        self.data, self.size = data, len(data)

    async def chunks(self) -> AsyncIterator[bytes]:
        yield self.data


@pytest.mark.parametrize("flavour", [Flavour.AZURE_DEPLOYMENT, Flavour.AZURE_V1, Flavour.OPENAI])
async def test_a_streaming_model_asks_for_partial_images_and_reads_the_event_stream(flavour):
    service, recorder = Service(event_stream), Recorder(partial_images=2)

    images = await run(service, Family.GPT_IMAGE_1_5, flavour, recorder=recorder)

    assert service.body["stream"] is True
    assert service.body["partial_images"] == 2
    assert service.requests[0].headers["accept"] == "text/event-stream"
    assert images == [GeneratedImage(streamed=0, revised_prompt='a "b64_json":"x" badger')]
    assert bytes(recorder.finals[0].data) == FINAL
    assert [(o, bytes(s.data), s.finished) for o, s in recorder.frames] == [
        (0, FRAMES[0], [0]),
        (0, FRAMES[1], [1]),
    ]


async def test_an_edit_asks_for_the_stream_in_its_form_fields():
    service, recorder = Service(event_stream), Recorder(partial_images=3)
    sources = EditSources(images=[Input(os.urandom(100))])

    images = await run(service, Family.GPT_IMAGE_2, recorder=recorder, sources=sources)

    assert service.requests[0].url.path.endswith("/images/edits")
    fields = service.form()
    assert fields["stream"] == "true"
    assert fields["partial_images"] == "3"
    assert images[0].streamed == 0
    assert len(recorder.frames) == 2


async def test_without_previews_the_body_asks_for_no_stream_and_no_preview_is_opened():
    service, recorder = Service(json_reply), Recorder(previews=False)

    images = await run(service, recorder=recorder)

    assert "stream" not in service.body
    assert "partial_images" not in service.body
    assert service.requests[0].headers["accept"] == "application/json"
    assert images == [GeneratedImage(streamed=0, revised_prompt="rev")]
    assert recorder.frames == []


async def test_an_edit_without_previews_has_no_stream_fields():
    service = Service(json_reply)
    sources = EditSources(images=[Input(os.urandom(100))])

    await run(service, recorder=Recorder(previews=False), sources=sources)

    assert "stream" not in service.form()
    assert "partial_images" not in service.form()


@pytest.mark.parametrize(
    ("family", "flavour", "reply"),
    [
        (Family.DALLE3, Flavour.AZURE_DEPLOYMENT, url_reply),
        (Family.FLUX_1_1_PRO, Flavour.AZURE_DEPLOYMENT, url_reply),
        (Family.FLUX_2_PRO, Flavour.BFL_FOUNDRY, json_reply),
    ],
)
async def test_a_model_that_cannot_stream_ignores_previews(family, flavour, reply):
    service, recorder = Service(reply), Recorder()

    images = await run(service, family, flavour, recorder=recorder)

    assert "stream" not in service.body
    assert "partial_images" not in service.body
    assert service.requests[0].headers["accept"] == "application/json"
    assert len(images) == 1
    assert recorder.frames == []


@pytest.mark.parametrize("api_version", ["2024-10-21", "2025-03-01-preview"])
async def test_the_deployment_route_streams_only_from_2025_04_01_preview(api_version):
    service, recorder = Service(json_reply), Recorder()

    await run(service, recorder=recorder, api_version=api_version)

    assert "stream" not in service.body
    assert recorder.frames == []


async def test_a_json_reply_to_a_stream_request_is_read_as_before():
    service, recorder = Service(json_reply), Recorder()

    images = await run(service, recorder=recorder)

    assert service.body["stream"] is True  # asked, but the service answered JSON
    assert images == [GeneratedImage(streamed=0, revised_prompt="rev")]
    assert bytes(recorder.finals[0].data) == FINAL
    assert recorder.frames == []


async def test_an_error_event_fails_the_call_like_the_refusal_would():
    def reply(request: httpx.Request) -> httpx.Response:
        err = {"code": "content_policy_violation", "message": "Rejected by the safety system."}
        body = b"event: error\ndata: " + json.dumps({"error": err}).encode() + b"\n\n"
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    with pytest.raises(ImageApiError) as caught:
        await run(Service(reply))

    assert caught.value.code is ErrorCode.CONTENT_FILTER


async def test_a_cut_event_stream_is_retryable():
    def reply(request: httpx.Request) -> httpx.Response:
        body = stream()[:-300]
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    with pytest.raises(ImageApiError) as caught:
        await run(Service(reply))

    assert caught.value.code is ErrorCode.UNAVAILABLE
    assert caught.value.retryable


async def test_a_refused_stream_request_classifies_as_any_refusal():
    def reply(request: httpx.Request) -> httpx.Response:
        err = {"code": "content_policy_violation", "message": "Rejected."}
        return httpx.Response(400, json={"error": err})

    with pytest.raises(ImageApiError) as caught:
        await run(Service(reply))

    assert caught.value.code is ErrorCode.CONTENT_FILTER
    assert caught.value.status == 400


async def test_partial_images_outside_the_documented_range_are_a_programming_error():
    recorder = Recorder()
    recorder.previews = Previews(4, recorder.open_preview)

    with pytest.raises(ValueError, match="partial_images"):
        await run(Service(event_stream), recorder=recorder)


# ---- the call is done once its image is in ----------------------------------------------------


class Reply:
    """An event stream that sends `body`, then does `then`: raises, hangs or sends more; it
    records whether the client asked for anything after the body and whether it closed the
    reply."""

    def __init__(self, body: bytes, then: str) -> None:
        self.body, self.then = body, then
        self.pulled_after = False
        self.response: httpx.Response | None = None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.body), 1000):
            yield self.body[start : start + 1000]
        self.pulled_after = True
        if self.then == "error-event":
            err = {"code": "server_error", "message": "late"}
            yield b"event: error\ndata: " + json.dumps({"error": err}).encode() + b"\n\n"
        elif self.then == "junk":
            yield b"\x00" * 5000 + b"\n\n"
        elif self.then == "cut":
            raise httpx.RemoteProtocolError("peer closed connection")
        elif self.then == "timeout":
            raise httpx.ReadTimeout("timed out")
        elif self.then == "hang":
            await asyncio.Event().wait()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        headers = {"content-type": "text/event-stream"}
        self.response = httpx.Response(200, headers=headers, content=self)
        return self.response

    @property
    def closed(self) -> bool:
        return self.response is not None and self.response.is_closed


@pytest.mark.parametrize("then", ["error-event", "junk", "cut", "timeout", "hang"])
async def test_nothing_after_the_last_completed_event_fails_the_paid_call(then):
    reply = Reply(stream(), then)
    recorder = Recorder()

    images = await asyncio.wait_for(run(Service(reply), recorder=recorder), 10)

    assert images == [GeneratedImage(streamed=0, revised_prompt='a "b64_json":"x" badger')]
    assert bytes(recorder.finals[0].data) == FINAL
    assert not reply.pulled_after  # the reply was closed as soon as the image was in
    assert reply.closed


@pytest.mark.parametrize(("then", "logged"), [("cut", True), ("timeout", True), ("end", False)])
async def test_a_last_completed_event_without_its_blank_line_counts(then, logged, caplog):
    reply = Reply(stream()[:-1], then)  # the blank line never comes

    images = await run(Service(reply))

    assert images[0].streamed == 0
    # a broken connection after the image is logged; a clean end is not a fault
    assert ("broke after its last image" in caplog.text) is logged


@pytest.mark.parametrize("then", ["cut", "timeout"])
async def test_a_stream_that_breaks_before_its_image_is_retryable(then):
    body = stream()
    reply = Reply(body[: body.index(b"event: image_generation.completed") + 200], then)

    with pytest.raises(ImageApiError) as caught:
        await run(Service(reply))

    assert caught.value.code is ErrorCode.UNAVAILABLE
    assert caught.value.retryable
