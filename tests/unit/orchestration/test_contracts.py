"""The messages between the image job's orchestrator and its activities: what each side may
send, and that anything else is refused rather than misread."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.orchestration import contracts as c

STORED = {"blob": "2026/03/01/j/0.png", "content_type": "image/png", "bytes": 10, "index": 0}


def test_an_ok_answer_is_read_with_its_activitys_payload():
    raw = c.ok(c.Generated(images=[c.IndexedImage(**STORED)]))
    assert raw == {"outcome": "ok", "value": {"images": [STORED], "sources": []}}
    result = c.read_result(c.Generated, raw)
    assert isinstance(result, c.Ok)
    assert result.value.images[0].blob == STORED["blob"]


def test_retry_and_failed_answers_are_told_apart_by_outcome():
    retry = c.read_result(c.Generated, c.dump(c.Retry(code="unavailable", message="503")))
    failed = c.read_result(c.Generated, c.dump(c.Failed(code="content_filter", message="no")))
    assert isinstance(retry, c.Retry)
    assert retry.retry_after is None
    assert isinstance(failed, c.Failed)
    assert (failed.code, failed.message) == ("content_filter", "no")


@pytest.mark.parametrize(
    "raw",
    [
        {"outcome": "ok", "images": []},  # the payload not under "value"
        {"outcome": "ok", "value": {"images": [], "extra": 1}},  # a field nobody reads
        {"outcome": "maybe", "code": "x", "message": "y"},
        {"code": "x", "message": "y"},
        {"outcome": "retry", "message": "no code"},
        {"outcome": "ok", "value": {"image": STORED}},  # another activity's payload
    ],
)
def test_an_answer_of_another_shape_is_refused(raw):
    with pytest.raises(ValidationError):
        c.read_result(c.Generated, raw)


def test_only_a_429_with_a_hint_counts_as_throttled():
    assert c.Retry(code="throttled", message="429", retry_after=3.0).throttled
    assert not c.Retry(code="throttled", message="429").throttled
    assert not c.Retry(code="unavailable", message="503", retry_after=3.0).throttled


def test_an_indexed_image_becomes_the_record_kept_in_the_output():
    image = c.IndexedImage(**STORED, width=4, height=3, revised_prompt="r")
    record = image.record()
    assert record.model_dump() == {
        "blob": STORED["blob"],
        "content_type": "image/png",
        "bytes": 10,
        "width": 4,
        "height": 3,
        "revised_prompt": "r",
    }


def test_inputs_refuse_unknown_and_missing_fields():
    params = {"prompt": "p", "n": 1}
    base = {"job_id": "j", "model": "m", "created": "2026-03-01T12:00:00+00:00"}
    assert c.GenerateInput(**base, params=params).described == ("p", None)
    with pytest.raises(ValidationError):
        c.GenerateInput.model_validate({**base, "params": params, "prompt": "twice"})
    with pytest.raises(ValidationError):
        c.PollInput.model_validate({**base, "prompt": "p", "operation_url": "u", "n": 1})
    poll = c.PollInput(
        **base, prompt="p", size="256x256", operation_url="u", n=1, elapsed_s=2, running_until_s=1
    )
    assert poll.described == ("p", "256x256")


@pytest.mark.parametrize("field", ["first_index", "index"])
def test_negative_indexes_are_refused(field):
    base = {"job_id": "j", "model": "m", "created": "2026-03-01T12:00:00+00:00"}
    if field == "first_index":
        with pytest.raises(ValidationError):
            c.GenerateInput(**base, params={"prompt": "p"}, first_index=-1)
    else:
        with pytest.raises(ValidationError):
            c.PersistInput(**base, prompt="p", index=-1, first_index=0)


def test_a_persist_input_says_where_the_image_is_and_carries_no_url():
    base = {"job_id": "j", "model": "m", "created": "2026-03-01T12:00:00+00:00", "prompt": "p"}
    from_receipt = c.dump(c.PersistInput(**base, index=1, first_index=1))
    from_operation = c.dump(c.PersistInput(**base, index=1, operation_url="https://r/op"))
    # What goes into history names where the image is, never a URL of the image itself.
    assert from_receipt == {**base, "index": 1, "first_index": 1}
    assert from_operation == {**base, "index": 1, "operation_url": "https://r/op"}
    for where in ({}, {"first_index": 0, "operation_url": "https://r/op"}):
        with pytest.raises(ValidationError):  # exactly one of the receipt or the operation
            c.PersistInput(**base, index=0, **where)
    with pytest.raises(ValidationError):
        c.PersistInput.model_validate({**base, "index": 0, "first_index": 0, "url": "https://x"})
    with pytest.raises(ValidationError):  # a source is an index, never a URL
        c.ImageSource.model_validate({"index": 0, "url": "https://x/y.png?sig=s"})


def test_every_activity_has_an_input_and_an_answer_check():
    assert set(c.ACTIVITIES) == {
        c.GENERATE,
        c.PERSIST,
        c.SUBMIT,
        c.POLL,
        c.DELETE,
        c.DISCARD,
        c.CALLBACK,
        c.RESULTS_QUEUE,
    }
    c.check_answer(c.CALLBACK, {"delivered": True})
    c.check_answer(c.DELETE, c.ok(c.Deleted(deleted=False, code="x")))
    c.check_answer(c.DISCARD, c.ok(c.Discarded(deleted=3)))
    assert c.ok(c.Discarded(deleted=0)) == {"outcome": "ok", "value": {"deleted": 0}}
    with pytest.raises(ValidationError):  # a discard input names the job's folder, nothing else
        c.DiscardInput.model_validate({"job_id": "j", "created": "c", "prefix": "2026/"})
    with pytest.raises(ValidationError):
        c.check_answer(c.CALLBACK, {"delivered": True, "traceback": "..."})
    with pytest.raises(ValidationError):
        c.check_answer(c.SUBMIT, c.ok(c.Deleted(deleted=True)))


def test_history_messages_carry_no_nulls():
    assert c.dump(c.Retry(code="unavailable", message="503")) == {
        "outcome": "retry",
        "code": "unavailable",
        "message": "503",
    }
    assert c.ok(c.Submitted(operation_url="u")) == {
        "outcome": "ok",
        "value": {"operation_url": "u"},
    }
