"""Streamed `images/edits` (multipart on every route, JSON on OpenAI's): `image_edit.*` events
whose frames are blurred versions of the same edit the unstreamed call answers."""

from __future__ import annotations

import pytest

from tests.integration.emulator.streams import (
    COMPLETED_FIELDS,
    PARTIAL_FIELDS,
    EditRoute,
    difference,
    events_of,
    image_of,
    partials,
    post_edit,
)
from tests.integration.emulator.support import (
    Emu,
    b64,
    b64_image,
    edit_chunk,
    sha256,
    solid_image,
)

ROUTES: tuple[EditRoute, ...] = ("deployment", "azure-v1", "openai")
RED = (220, 20, 20)
PARTIAL = "image_edit.partial_image"
COMPLETED = "image_edit.completed"


@pytest.mark.parametrize("route", ROUTES)
def test_streamed_edit_sends_partials_then_the_edit(emu: Emu, route: EditRoute) -> None:
    source = solid_image(RED, (300, 200))
    fields = {"prompt": "streamed edit", "quality": "medium"}

    plain = post_edit(emu, route, "gpt-image-1", fields, source)
    r = post_edit(
        emu, route, "gpt-image-1", {**fields, "stream": "true", "partial_images": "2"}, source
    )
    events = events_of(r)

    assert [name for name, _ in events] == [PARTIAL, PARTIAL, COMPLETED]
    assert [data["partial_image_index"] for _, data in events[:2]] == [0, 1]
    assert [set(data) for _, data in events] == [PARTIAL_FIELDS, PARTIAL_FIELDS, COMPLETED_FIELDS]
    completed = events[2][1]
    assert (completed["size"], completed["quality"]) == ("1536x1024", "medium")
    assert b64_image(completed) == b64_image(plain.json()["data"][0])
    assert completed["usage"] == plain.json()["usage"]
    assert edit_chunk(b64_image(completed))["input_sha256"] == [sha256(source)]
    final = image_of(completed)
    frames = [image_of(data) for _, data in events[:2]]
    assert all(frame.size == (1536, 1024) for frame in frames)
    assert all(difference(frame, final) > 0 for frame in frames)
    billed = emu.stats()["billed"]
    assert (billed["generations"], billed["edits"]) == (2, 2)
    assert [(p["prompt"], p["frame"]) for p in partials(emu)] == [
        ("streamed edit", 0),
        ("streamed edit", 1),
    ]


def test_streamed_json_edit_on_openai(emu: Emu) -> None:
    body = {
        "model": "gpt-image-1.5",
        "prompt": "json stream",
        "images": [{"image_url": f"data:image/png;base64,{b64(solid_image(RED))}"}],
        "output_format": "jpeg",
        "stream": True,
        "partial_images": 1,
    }

    r = emu.http.post(
        "/v1/images/edits", json=body, headers={"Authorization": f"Bearer {emu.api_key}"}
    )
    events = events_of(r)

    assert [name for name, _ in events] == [PARTIAL, COMPLETED]
    assert [image_of(data).format for _, data in events] == ["JPEG", "JPEG"]


def test_stream_false_in_a_form_is_an_ordinary_edit(emu: Emu) -> None:
    r = post_edit(
        emu,
        "openai",
        "gpt-image-1",
        {"prompt": "p", "stream": "false", "partial_images": "2"},
        solid_image(RED),
    )

    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"stream": "true", "partial_images": "4"}, "partial_images"),
        ({"stream": "true", "partial_images": "two"}, "partial_images"),
        ({"stream": "maybe"}, "stream"),
    ],
)
@pytest.mark.parametrize("route", ROUTES)
def test_bad_stream_fields_of_an_edit_are_a_400(
    emu: Emu, route: EditRoute, fields: dict[str, str], param: str
) -> None:
    r = post_edit(emu, route, "gpt-image-1", {"prompt": "p", **fields}, solid_image(RED))

    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param
    assert emu.stats()["billed"]["generations"] == 0


def test_kontext_edits_do_not_stream(emu: Emu) -> None:
    r = post_edit(
        emu, "azure-v1", "FLUX.1-Kontext-pro", {"prompt": "p", "stream": "true"}, solid_image(RED)
    )

    assert r.status_code == 400
    assert r.json()["error"]["param"] == "stream"
