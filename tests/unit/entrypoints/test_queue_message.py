"""What a queue message must look like, and which id its job gets."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from shared.blueprints.queue_trigger import PoisonMessage, job_id_for, parse_message
from shared.settings import load_settings

SETTINGS = load_settings(
    {
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "AZURE_OPENAI_ENDPOINT": "http://x",
        "IMAGE_REQUESTS_QUEUE": "image-requests",
    }
)


def parse(data):
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    return parse_message(body, "7c9e6679-7425-40de-944b-e07fc1f90ae7", SETTINGS)


def test_same_body_as_http_with_an_id():
    job_id, (request, validated) = parse({"prompt": "a fox", "model": "dall-e-3", "id": "fox-1"})
    assert job_id == "fox-1"
    assert request.prompt == "a fox"
    assert validated.deployment.name == "dall-e-3"


def test_without_id_the_queue_message_id_names_the_job():
    job_id, _ = parse({"prompt": "a fox"})
    assert job_id == "q-7c9e6679-7425-40de-944b-e07fc1f90ae7"
    assert job_id_for("m1", None) == job_id_for("m1", None)  # redelivery → same job


@pytest.mark.parametrize(
    ("data", "reason", "words"),
    [
        (b"prompt=a fox", "not_json", "not valid JSON"),
        (b"\xff\xfe", "not_utf8", "not UTF-8"),
        (["a fox"], "not_json", "JSON object"),
        ({"model": "dall-e-3"}, "validation_failed", "prompt is required"),
        ({"prompt": "a fox", "size": "999x999"}, "validation_failed", "size '999x999'"),
        ({"prompt": "a fox", "model": "nope"}, "validation_failed", "unknown model"),
        ({"prompt": "a fox", "colour": "red"}, "validation_failed", "unknown field"),
        ({"prompt": "a fox", "id": "has/slash"}, "invalid_id", "id must be"),
        ({"prompt": "a fox", "id": 12}, "invalid_id", "id must be"),
        ({"prompt": "a fox", "id": "füchs-1"}, "invalid_id", "id must be"),
    ],
)
def test_messages_that_can_never_succeed_say_why(data, reason, words):
    with pytest.raises(PoisonMessage) as info:
        parse(data)
    assert info.value.reason == reason
    assert words in info.value.error["message"]


def test_validation_error_names_the_field():
    with pytest.raises(PoisonMessage) as info:
        parse({"prompt": "a fox", "model": "dall-e-2", "style": "vivid"})
    assert info.value.error["field"] == "style"


# ---- every kind of message that can never succeed is named, not retried -------------------

DEEP = 2000  # deeper than json's C recursion allowance in a worker thread


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"prompt": ' + b'{"a": ' * DEEP + b"1" + b"}" * DEEP + b"}",
        b'{"prompt": "a fox", "user": ' + b"[" * DEEP + b"]" * DEEP + b"}",
    ],
    ids=["array", "object-in-prompt", "array-in-user"],
)
def test_deep_nesting_is_poisoned_as_such_not_a_crash(body):
    with pytest.raises(PoisonMessage) as info:
        parse(body)
    assert info.value.reason == "too_deeply_nested"
    assert "nests" in info.value.error["message"]


def test_brackets_inside_strings_are_not_nesting():
    job_id, (request, _) = parse({"prompt": "[[[[" * 50 + "{{{{" * 50, "id": "brackets-1"})
    assert job_id == "brackets-1"
    assert request.prompt.startswith("[[[[")


@pytest.mark.parametrize(
    "body",
    [
        "a fox".encode("utf-16"),  # BOM ff fe, then NULs
        '{"prompt": "café"}'.encode("latin-1"),
        b'{"prompt": "a fox \x80"}',  # a lone continuation byte
    ],
    ids=["utf-16", "latin-1", "stray-continuation"],
)
def test_text_that_is_not_utf8_is_poisoned_naming_the_encoding(body):
    with pytest.raises(PoisonMessage) as info:
        parse(body)
    assert info.value.reason == "not_utf8"
    assert "not UTF-8" in info.value.error["message"]
    assert "offset" in info.value.error["message"]


def test_a_utf8_bom_is_ignored():
    job_id, (request, _) = parse(b"\xef\xbb\xbf" + json.dumps({"prompt": "a fox"}).encode())
    assert request.prompt == "a fox"
    assert job_id.startswith("q-")


def test_json_encoded_twice_is_named():
    with pytest.raises(PoisonMessage) as info:
        parse(json.dumps(json.dumps({"prompt": "a fox"})).encode())
    assert info.value.reason == "not_json"
    assert "encoded twice" in info.value.error["message"]


@pytest.mark.parametrize("digits", [5000, 101])
def test_a_huge_integer_is_a_validation_failure_not_a_parse_error(digits):
    body = b'{"prompt": "a fox", "n": ' + b"7" * digits + b"}"
    with pytest.raises(PoisonMessage) as info:
        parse(body)
    assert info.value.reason == "validation_failed"
    assert "digits" in info.value.error["message"]


@pytest.mark.parametrize(
    "url",
    ["https://exa\u0000mple.com/hook", "https://example.com/a\tb", "https://example.com/\nx/y"],
    ids=["nul", "tab", "newline"],
)
def test_a_callback_url_with_control_characters_is_refused(url):
    with pytest.raises(PoisonMessage) as info:
        parse({"prompt": "a fox", "callback_url": url})
    assert info.value.reason == "validation_failed"
    assert info.value.error["field"] == "callback_url"
    assert "control character" in info.value.error["message"]


def test_duplicate_keys_mean_what_the_http_api_reads_the_last_one():
    body = b'{"prompt": "a fox", "id": "first-1", "id": "second-2"}'
    job_id, _ = parse(body)
    assert job_id == "second-2"


@pytest.mark.parametrize("message_id", ["has/slash", "x" * 200, "ü-id"])
def test_an_odd_queue_message_id_still_gives_a_usable_stable_job_id(message_id):
    from shared.ids import is_job_id

    job_id = job_id_for(message_id, None)
    assert is_job_id(job_id)
    assert job_id == job_id_for(message_id, None)


def test_a_request_that_cannot_become_a_job_input_is_poisoned_not_retried():
    from datetime import UTC, datetime

    from shared.blueprints.queue_trigger import job_input

    _job_id, parsed = parse({"prompt": "a fox"})
    with pytest.raises(PoisonMessage) as info:
        job_input("not a valid id\ud800", parsed, SETTINGS, datetime.now(UTC))
    assert info.value.reason == "validation_failed"
    assert "cannot start a job" in info.value.error["message"]


# ---- the poison envelope fits Azure Storage's 64 KiB (counted on the base64 text) -----------

MAX_STORED = 64 * 1024


def _envelope(body: bytes, reason: str = "validation_failed", message: str = "bad"):
    from datetime import UTC, datetime

    from azure.functions.queue import QueueMessage

    from shared.blueprints.queue_trigger import envelope_text, poison_envelope

    exc = PoisonMessage(reason, "invalid_request", message)  # type: ignore[arg-type]
    msg = QueueMessage(id="m-1", body=body, dequeue_count=1)
    envelope = poison_envelope(exc, msg, "image-requests", datetime.now(UTC))
    text = envelope_text(envelope)
    stored = base64.b64encode(text.encode("utf-8"))
    assert len(stored) <= MAX_STORED
    assert json.loads(base64.b64decode(stored)) == envelope
    return envelope


@pytest.mark.parametrize(
    "text",
    [
        "狐" * 17_000,  # 51 000 bytes of UTF-8, 17 000 characters
        "🦊" * 12_500,  # 4-byte characters
        "x" * 48_000 + "ü" * 600,  # close to the limit, a multi-byte tail
        '"\\\u0001' * 12_000,  # characters JSON escapes to 2 and 6 bytes
    ],
    ids=["cjk", "emoji", "near-limit", "escapes"],
)
def test_a_long_original_is_cut_on_a_character_boundary_with_length_and_hash(text):
    body = text.encode("utf-8")
    envelope = _envelope(body)
    assert envelope["original_truncated"] is True
    assert envelope["original_bytes"] == len(body)
    assert envelope["original_sha256"] == hashlib.sha256(body).hexdigest()
    prefix = envelope["original"]
    assert prefix
    assert text.startswith(prefix)
    assert len(prefix) < len(text)


def test_an_original_that_fits_is_kept_whole_and_not_marked():
    body = ("狐" * 15_000).encode()
    envelope = _envelope(body)
    assert envelope["original"] == body.decode()
    assert "original_truncated" not in envelope


@pytest.mark.parametrize(
    "body",
    [bytes(range(128, 256)) * 384, b"\xff" * 49_152, b"\x00\xc3" * 20_000],
    ids=["high-bytes", "ff", "broken-pairs"],
)
def test_binary_garbage_is_kept_as_base64_and_fits(body):
    envelope = _envelope(body, "not_utf8", "not UTF-8")
    assert "original" not in envelope
    kept = base64.b64decode(envelope["original_base64"])
    assert body.startswith(kept)
    assert kept
    assert envelope["original_truncated"] is True
    assert envelope["original_bytes"] == len(body)


def test_small_binary_garbage_is_kept_whole():
    envelope = _envelope(b"\xff\xfe\x00garbage", "not_utf8", "not UTF-8")
    assert base64.b64decode(envelope["original_base64"]) == b"\xff\xfe\x00garbage"
    assert "original_truncated" not in envelope


def test_an_error_quoting_a_huge_field_name_is_clipped_to_fit():
    key = "k" * 40_000
    body = json.dumps({"prompt": "a fox", key: 1}).encode()
    with pytest.raises(PoisonMessage) as info:
        parse(body)
    from datetime import UTC, datetime

    from azure.functions.queue import QueueMessage

    from shared.blueprints.queue_trigger import envelope_text, poison_envelope

    envelope = poison_envelope(
        info.value, QueueMessage(id="m", body=body, dequeue_count=1), "q", datetime.now(UTC)
    )
    assert len(base64.b64encode(envelope_text(envelope).encode())) <= MAX_STORED
    assert envelope["error"]["message"].startswith("unknown field 'kkk")
    assert len(envelope["error"]["field"]) <= 100
