"""An edit job through the real Durable replay: the inputs travel by blob name only (to the
generating or submitting activity), and the result names them; plus the pure rules under it."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest
from PIL import Image

from shared.imaging.types import Family, Flavour
from shared.models import EditJob
from shared.storage import naming
from shared.storage.formats import png_has_alpha
from shared.storage.records import InputRecord
from tests.unit.app.fakes import generated, polled, submitted

SHA = "ab" * 32


def record(field: str, blob: str) -> InputRecord:
    return InputRecord(
        field=field,
        blob=blob,
        content_type="image/png",
        bytes=10,
        width=4,
        height=4,
        sha256=SHA,
        source="upload",
    )


INPUTS = [
    record("images[0]", "2026/03/01/job1/inputs/b/0.png"),
    record("images[1]", "2026/03/01/job1/inputs/b/1.png"),
    record("mask", "2026/03/01/job1/inputs/b/mask.png"),
]


def edit_job(make_job, family=Family.GPT_IMAGE, flavour=Flavour.AZURE_DEPLOYMENT, inputs=INPUTS):
    base = (
        make_job(Family.DALLE2, Flavour.AZURE_DALLE2_ASYNC)
        if flavour is Flavour.BFL
        else (make_job(family, flavour))
    )
    deployment = base.deployment.model_copy(update={"family": family, "flavour": flavour})
    edit = EditJob(inputs=inputs, digest="d")
    return base.model_copy(update={"edit": edit, "deployment": deployment})


def test_edit_job_blobs_are_the_images_in_order_then_the_mask():
    blobs = EditJob(inputs=INPUTS, digest="d").blobs()
    assert blobs.images == (INPUTS[0].blob, INPUTS[1].blob)
    assert blobs.mask == INPUTS[2].blob
    assert EditJob(inputs=INPUTS[:1], digest="d").blobs().mask is None


def test_a_sync_edit_sends_the_blob_names_and_its_result_names_the_inputs(replay, make_job):
    run = replay(edit_job(make_job), generated_ok)
    assert run.names() == ["generate_images"]
    assert run.calls[0].input["edit"] == {
        "images": [INPUTS[0].blob, INPUTS[1].blob],
        "mask": INPUTS[2].blob,
    }
    assert run.output["status"] == "succeeded"
    assert [i["field"] for i in run.output["inputs"]] == ["images[0]", "images[1]", "mask"]
    assert "iVBORw0KGgo" not in json.dumps(run.history)  # no image bytes in history


def test_a_bfl_edit_submits_the_blob_names(replay, make_job):
    job = edit_job(make_job, Family.FLUX_2_PRO, Flavour.BFL, inputs=INPUTS[:2])
    assert job.deployment.flavour is Flavour.BFL

    def respond(name, payload):
        if name == "submit_operation":
            return submitted()
        return polled(payload, "succeeded")

    run = replay(job, respond)
    submit = run.calls[0].input
    assert run.names()[0] == "submit_operation"
    assert submit["edit"] == {"images": [INPUTS[0].blob, INPUTS[1].blob]}
    assert run.output["status"] == "succeeded"


def test_a_generation_carries_no_edit_field(replay, make_job):
    run = replay(make_job(Family.GPT_IMAGE, Flavour.AZURE_DEPLOYMENT), generated_ok)
    assert "edit" not in run.calls[0].input
    assert "inputs" not in run.output


def generated_ok(name, payload):
    assert name == "generate_images"
    return generated(payload)


CREATED = datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_input_names_live_in_the_requests_own_folder():
    assert naming.job_folder("job1", CREATED) == "2026/03/01/job1"
    assert naming.input_blob_name("job1", CREATED, "3f9a", 2, ".JPG") == (
        "2026/03/01/job1/inputs/3f9a/2.jpg"
    )
    assert naming.input_blob_name("job1", CREATED, "3f9a", None, "png") == (
        "2026/03/01/job1/inputs/3f9a/mask.png"
    )


@pytest.mark.parametrize(
    ("job", "batch", "index", "ext"),
    [
        ("job/1", "b", 0, "png"),
        ("job1", "../x", 0, "png"),
        ("job1", "", 0, "png"),
        ("job1", "B", 0, "png"),
        ("job1", "b", -1, "png"),
        ("job1", "b", 0, "p/ng"),
    ],
)
def test_an_unusable_part_of_an_input_name_is_refused(job, batch, index, ext):
    with pytest.raises(ValueError, match=r"bad|index|job id"):
        naming.input_blob_name(job, CREATED, batch, index, ext)


def png(mode: str, **options: object) -> bytes:
    out = io.BytesIO()
    Image.new(mode, (4, 4)).save(out, "PNG", **options)
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "alpha"),
    [
        (png("RGBA"), True),
        (png("LA"), True),
        (png("RGB"), False),
        (png("L"), False),
        (png("P"), False),
        (png("RGB", transparency=(0, 0, 0)), True),
        (png("P", transparency=0), True),
        (b"\xff\xd8\xff\xe0" + bytes(40), False),  # a JPEG
        (png("RGBA")[:20], False),  # too short to hold IHDR's colour type
    ],
)
def test_a_mask_needs_a_png_that_can_be_transparent(data, alpha):
    assert png_has_alpha(data) is alpha


def test_a_trns_after_the_image_data_does_not_count():
    data = png("RGB")
    idat = data.index(b"IDAT") - 4
    trns = b"\x00\x00\x00\x06tRNS" + bytes(6) + b"\x00\x00\x00\x00"
    assert png_has_alpha(data[:-12] + trns + data[-12:]) is False
    assert png_has_alpha(data[:idat] + trns + data[idat:]) is True
