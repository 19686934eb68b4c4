"""What a queue message must look like, and which id its job gets."""

from __future__ import annotations

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
        (b"\xff\xfe", "not_json", "not valid JSON"),
        (["a fox"], "not_json", "JSON object"),
        ({"model": "dall-e-3"}, "validation_failed", "prompt is required"),
        ({"prompt": "a fox", "size": "999x999"}, "validation_failed", "size '999x999'"),
        ({"prompt": "a fox", "model": "nope"}, "validation_failed", "unknown model"),
        ({"prompt": "a fox", "colour": "red"}, "validation_failed", "unknown field"),
        ({"prompt": "a fox", "id": "has/slash"}, "invalid_id", "id must be"),
        ({"prompt": "a fox", "id": 12}, "invalid_id", "id must be"),
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
