"""`stream: true` on the GPT image models: partial frames as real images, then the final one.

Raw SSE over httpx on every route that serves gpt-image (Azure deployment, Azure v1, OpenAI),
so the framing itself is checked, not only what a lenient client makes of it.
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import httpx
import pytest
from aiohttp.test_utils import TestServer

from devstack.emulator import EmulatorConfig, create_app, streaming
from devstack.emulator.images import render
from tests.integration.emulator.gpt_image_routes import ROUTES, RouteName, invalid, post
from tests.integration.emulator.streams import (
    COMPLETED_FIELDS,
    PARTIAL_FIELDS,
    difference,
    events_of,
    image_of,
    partials,
)
from tests.integration.emulator.support import AZURE_VERSION, GPT_IMAGE_VERSION, Emu, b64_image

PARTIAL = "image_generation.partial_image"
COMPLETED = "image_generation.completed"


@pytest.mark.parametrize("route", ROUTES)
def test_stream_sends_partials_then_the_final_image(emu: Emu, route: RouteName) -> None:
    body = {"prompt": "stream fox", "quality": "low", "stream": True, "partial_images": 2}

    r = post(emu, route, "gpt-image-1", body)
    events = events_of(r)

    assert r.headers["apim-request-id"]
    assert [name for name, _ in events] == [PARTIAL, PARTIAL, COMPLETED]
    assert [data["partial_image_index"] for _, data in events[:2]] == [0, 1]
    assert all(set(data) == PARTIAL_FIELDS for _, data in events[:2])
    completed = events[2][1]
    assert set(completed) == COMPLETED_FIELDS
    for _, data in events:
        assert (data["size"], data["quality"], data["output_format"]) == ("1024x1024", "low", "png")
        assert data["background"] == "auto"
        assert isinstance(data["created_at"], int)
    assert completed["usage"]["total_tokens"] > 0
    assert b64_image(completed) == render("stream fox", 1024, 1024, 0, "png", False)
    final = image_of(completed)
    frames = [image_of(data) for _, data in events[:2]]
    assert all(frame.format == "PNG" and frame.size == (1024, 1024) for frame in frames)
    assert all(difference(frame, final) > 0 for frame in frames)
    assert difference(frames[1], final) < difference(frames[0], final)  # sharper each frame


@pytest.mark.parametrize("route", ROUTES)
def test_streamed_final_image_is_the_unstreamed_answer(emu: Emu, route: RouteName) -> None:
    body = {"prompt": "same otter", "size": "1536x1024"}

    plain = post(emu, route, "gpt-image-1.5", body)
    streamed = events_of(post(emu, route, "gpt-image-1.5", {**body, "stream": True}))

    assert plain.status_code == 200
    [(name, completed)] = streamed  # partial_images defaults to 0: the final image only
    assert name == COMPLETED
    assert completed["b64_json"] == plain.json()["data"][0]["b64_json"]
    assert completed["usage"] == plain.json()["usage"]
    assert image_of(completed).size == (1536, 1024)
    assert emu.stats()["billed"]["by_prompt"]["same otter"] == {"generations": 2, "images": 2}


def test_frames_keep_format_size_and_transparency(emu: Emu) -> None:
    body = {
        "prompt": "glass",
        "size": "1024x1536",
        "output_format": "webp",
        "background": "transparent",
        "stream": True,
        "partial_images": 3,
    }

    events = events_of(post(emu, "openai", "gpt-image-1", body))

    assert [data.get("partial_image_index") for _, data in events] == [0, 1, 2, None]
    for _, data in events:
        image = image_of(data)
        assert (image.format, image.size, image.mode) == ("WEBP", (1024, 1536), "RGBA")
        assert image.getchannel("A").getextrema()[0] == 0  # the background stays transparent
        assert data["background"] == "transparent"


def test_jpeg_frames_on_azure(emu: Emu) -> None:
    body = {"prompt": "jpeg kite", "output_format": "jpeg", "stream": True, "partial_images": 1}

    events = events_of(post(emu, "deployment", "gpt-image-2", body))

    assert [image_of(data).format for _, data in events] == ["JPEG", "JPEG"]
    assert events[1][1]["output_format"] == "jpeg"


def test_several_images_stream_one_after_another(emu: Emu) -> None:
    emu.configure(latency_seconds=0.3)
    body = {"prompt": "pair of owls", "n": 2, "stream": True, "partial_images": 1}

    events = events_of(post(emu, "deployment", "gpt-image-1", body))

    assert [name for name, _ in events] == [PARTIAL, COMPLETED, PARTIAL, COMPLETED]
    assert [b64_image(events[1][1]), b64_image(events[3][1])] == [
        render("pair of owls", 1024, 1024, i) for i in range(2)
    ]
    recorded = partials(emu)
    assert [(p["prompt"], p["image"], p["frame"]) for p in recorded] == [
        ("pair of owls", 0, 0),
        ("pair of owls", 1, 0),
    ]
    assert recorded[0]["emitted_at"] < recorded[1]["emitted_at"]
    billed = emu.stats()["billed"]
    assert (billed["generations"], billed["images"]) == (1, 2)


def test_partials_are_recorded_in_order_and_reset_clears_them(emu: Emu) -> None:
    emu.configure(latency_seconds=0.3)
    body = {"prompt": "slow heron", "stream": True, "partial_images": 3}

    events_of(post(emu, "azure-v1", "gpt-image-1-mini", body))
    recorded = partials(emu)

    assert [(p["prompt"], p["image"], p["frame"]) for p in recorded] == [
        ("slow heron", 0, k) for k in range(3)
    ]
    times = [p["emitted_at"] for p in recorded]
    assert times == sorted(times)
    assert len(set(times)) == 3
    assert emu.http.post("/_emulator/reset").status_code == 200
    assert partials(emu) == []


def test_stream_events_arrive_as_they_are_sent(emu: Emu) -> None:
    """The answer is a real stream: the first frame is readable before the final image. Frames
    at 2 s and 4 s, the image at 6 s: seconds for the client to look, even on a loaded box."""
    emu.configure(latency_seconds=6.0)
    body = {"prompt": "progressive", "stream": True, "partial_images": 2}
    seen: list[str] = []
    recorded_at_first_frame: list[dict[str, Any]] = []

    with emu.http.stream(
        "POST",
        "/openai/deployments/gpt-image-1/images/generations",
        params={"api-version": GPT_IMAGE_VERSION},
        json=body,
    ) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("event: "):
                seen.append(line[len("event: ") :])
                if len(seen) == 1:
                    recorded_at_first_frame = partials(emu)

    assert seen == [PARTIAL, PARTIAL, COMPLETED]
    assert [p["frame"] for p in recorded_at_first_frame] == [0]  # frame 1 was not sent yet


def test_stream_false_and_partials_without_stream_answer_as_before(emu: Emu) -> None:
    for extra in ({"stream": False}, {"partial_images": 2}, {"stream": False, "partial_images": 3}):
        r = post(emu, "openai", "gpt-image-1", {"prompt": "plain", **extra})

        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/json")
        assert b64_image(r.json()["data"][0]) == render("plain", 1024, 1024)
    assert partials(emu) == []


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"partial_images": 4}, "partial_images"),
        ({"partial_images": -1}, "partial_images"),
        ({"partial_images": "2"}, "partial_images"),
        ({"partial_images": True}, "partial_images"),
        ({"stream": "yes"}, "stream"),
        ({"stream": 1}, "stream"),
    ],
)
@pytest.mark.parametrize("route", ROUTES)
def test_bad_stream_parameters_are_a_400_naming_them(
    emu: Emu, route: RouteName, extra: dict[str, Any], field: str
) -> None:
    r = post(emu, route, "gpt-image-1", {"prompt": "p", "stream": True, **extra})

    assert r.status_code == 400, r.text
    assert r.json()["error"]["message"] == invalid(field)
    assert emu.stats()["billed"]["generations"] == 0


@pytest.mark.parametrize("model", ["dall-e-3", "dall-e-2"])
def test_stream_on_a_model_that_cannot_stream_is_refused(emu: Emu, model: str) -> None:
    r = emu.generate(model, {"prompt": "p", "stream": True}, AZURE_VERSION)

    assert r.status_code == 400
    assert r.json()["error"] == {
        "code": "invalidPayload",
        "message": invalid(
            "stream",
            f"stream is not supported by {model}: only GPT image models (gpt-image-1, "
            "gpt-image-1-mini, gpt-image-1.5, gpt-image-2) stream partial images.",
        ),
    }


def test_stream_on_dalle3_via_openai_names_the_param(emu: Emu) -> None:
    r = post(emu, "openai", "dall-e-3", {"prompt": "p", "stream": True, "partial_images": 1})

    assert r.status_code == 400
    assert r.json()["error"]["param"] == "stream"


def test_stream_false_on_dalle3_is_an_ordinary_request(emu: Emu) -> None:
    r = emu.generate("dall-e-3", {"prompt": "p", "stream": False}, AZURE_VERSION)
    assert r.status_code == 200, r.text


def test_stream_on_flux_is_refused_naming_it(emu: Emu) -> None:
    r = emu.generate("FLUX-1.1-pro", {"prompt": "p", "stream": True}, "preview")

    assert r.status_code == 400
    assert r.json()["error"]["param"] == "stream"


def test_refusals_come_before_the_stream(emu: Emu) -> None:
    emu.configure(content_filter_words=["forbidden"], rpm_per_deployment={"gpt-image-1": 2})
    body = {"stream": True, "partial_images": 2}

    filtered = post(emu, "deployment", "gpt-image-1", {"prompt": "forbidden", **body})  # quota 1
    ok = post(emu, "deployment", "gpt-image-1", {"prompt": "fine", **body})
    throttled = post(emu, "deployment", "gpt-image-1", {"prompt": "fine", **body})
    unauthorized = emu.http.post(
        "/openai/v1/images/generations",
        json={"model": "gpt-image-1", "prompt": "fine", **body},
        headers={"api-key": "wrong"},
    )

    assert filtered.status_code == 400
    assert filtered.headers["content-type"].startswith("application/json")
    assert len(events_of(ok)) == 3
    assert throttled.status_code == 429
    assert unauthorized.status_code == 401
    assert emu.stats()["billed"]["generations"] == 1
    assert [p["prompt"] for p in partials(emu)] == ["fine", "fine"]


def test_an_injected_drop_can_cut_a_stream_mid_way(emu: Emu) -> None:
    """`drop_rate` drops some requests before answering and cuts some streams after half their
    events; a cut stream was accepted, so it is billed, as a client hang-up is."""
    emu.configure(seed=11, drop_rate=0.5)
    body = {"prompt": "fragile", "stream": True, "partial_images": 2}
    cut: list[list[str]] = []
    for _ in range(40):
        lines: list[str] = []
        try:
            with emu.http.stream(
                "POST",
                "/openai/deployments/gpt-image-1/images/generations",
                params={"api-version": GPT_IMAGE_VERSION},
                json=body,
            ) as r:
                for line in r.iter_lines():
                    lines.append(line)
        except httpx.RemoteProtocolError:
            if lines:
                cut.append([line for line in lines if line.startswith("event: ")])
        if cut:
            break

    assert cut == [[f"event: {PARTIAL}"]]
    served = emu.stats()["served"]
    assert served["dropped_connections"] >= 1
    assert [p["frame"] for p in partials(emu)][-1:] == [0]


def _stream_once(emu: Emu, body: dict[str, Any]) -> tuple[bool, list[str]]:
    """One streamed request: (whether its answer began, the event lines read before the
    connection closed or the stream ended)."""
    began, events = False, []
    try:
        with emu.http.stream(
            "POST",
            "/openai/deployments/gpt-image-1/images/generations",
            params={"api-version": GPT_IMAGE_VERSION},
            json=body,
        ) as r:
            began = True
            for line in r.iter_lines():
                if line.startswith("event: "):
                    events.append(line)
    except httpx.TransportError:
        pass
    return began, events


def test_a_stream_breaks_at_the_drop_rate_with_one_draw_either_before_or_mid_way(emu: Emu) -> None:
    """One drop draw per stream: below half the rate it is dropped before answering, in the
    other half cut mid-way; so `drop_rate` of the streams break, not 1 - (1 - rate)^2."""
    seed, rate, requests = 2026, 0.5, 40
    emu.configure(seed=seed, drop_rate=rate)
    draws = random.Random(seed)
    expected = [draws.random() for _ in range(requests)]  # the emulator's only draws here
    body = {"prompt": "fragile heron", "stream": True, "partial_images": 2}

    outcomes = [_stream_once(emu, body) for _ in range(requests)]

    for draw, (began, events) in zip(expected, outcomes, strict=True):
        if draw < rate / 2:
            assert (began, events) == (False, [])  # dropped before any answer
        elif draw < rate:
            assert began
            assert events == [f"event: {PARTIAL}"]  # cut after half its events
        else:
            assert began
            assert events == [f"event: {PARTIAL}", f"event: {PARTIAL}", f"event: {COMPLETED}"]
    broken = sum(draw < rate for draw in expected)
    assert 0 < sum(d < rate / 2 for d in expected) < broken  # both kinds were drawn
    assert emu.stats()["served"]["dropped_connections"] == broken


def test_stream_cut_after_events_cuts_every_stream_there(emu: Emu) -> None:
    emu.configure(stream_cut_after_events=2)
    body = {"prompt": "always cut", "stream": True, "partial_images": 3}

    outcomes = [_stream_once(emu, body) for _ in range(3)]

    assert outcomes == [(True, [f"event: {PARTIAL}", f"event: {PARTIAL}"])] * 3
    assert [p["frame"] for p in partials(emu)] == [0, 1] * 3
    assert emu.stats()["billed"]["generations"] == 3  # accepted, so billed, as a hang-up is
    emu.configure(stream_cut_after_events=None)
    assert _stream_once(emu, body)[1][-1] == f"event: {COMPLETED}"


async def test_a_stream_that_fails_mid_way_is_cut_not_followed_by_a_500(monkeypatch) -> None:
    """Once a stream's status and first events are out, an error is a broken connection: a
    fresh 500 answer written into the stream would be garbage a client might half-read."""
    real = streaming.degrade

    def failing(final: bytes, fmt: str, frame: int, compression: int | None = None) -> bytes:
        if frame == 1:
            raise RuntimeError("render failed")
        return real(final, fmt, frame, compression)

    monkeypatch.setattr(streaming, "degrade", failing)
    server = TestServer(create_app(EmulatorConfig(api_keys=["in-process"])))
    await server.start_server()
    body = json.dumps({"prompt": "breaks", "stream": True, "partial_images": 2}).encode()
    head = (
        f"POST /openai/deployments/gpt-image-1/images/generations?api-version="
        f"{GPT_IMAGE_VERSION} HTTP/1.1\r\nHost: emulator\r\napi-key: in-process\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    try:  # a raw socket: what went over the wire, not what a client made of it
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(head + body)
        await writer.drain()
        received = await asyncio.wait_for(reader.read(-1), 30)  # to the connection's close
        writer.close()
    finally:
        await server.close()
    assert received.startswith(b"HTTP/1.1 200 ")
    assert received.count(b"HTTP/1.1 ") == 1  # no second answer inside the stream
    assert b"InternalServerError" not in received
    assert received.count(b"event: ") == 1  # frame 0 went out, then the connection closed
    assert not received.endswith(b"0\r\n\r\n")  # no clean end: the client sees the break
