"""The queue side against a real Azurite: poison envelopes, the results queue, the enqueue CLI.

Every message is checked the way the Functions host would read it: raw text that is base64.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import uuid
from pathlib import Path

import azure.durable_functions as df
import pytest
from azure.functions.queue import QueueMessage
from azure.storage.queue import QueueClient

from shared.blueprints.queue_trigger import handle_message
from shared.notify.activities import notify_results_queue
from shared.settings import load_settings, reset_settings_cache

REPO = Path(__file__).resolve().parents[3]


def _raw_messages(conn: str, queue: str) -> list[str]:
    """Message texts exactly as stored (no decode policy)."""
    client = QueueClient.from_connection_string(conn, queue)
    return [m.content for m in client.peek_messages(max_messages=32)]


def _host_reads(text: str) -> dict:
    """What a Functions queue trigger with messageEncoding=base64 would hand the function."""
    return json.loads(base64.b64decode(text, validate=True))


def _unreachable_client() -> df.DurableOrchestrationClient:
    """A durable client whose backend does not exist: any start or status call would fail."""
    binding = {
        "taskHubName": "TestHub",
        "creationUrls": {},
        "managementUrls": {},
        "baseUrl": "http://127.0.0.1:9/runtime/webhooks/durabletask",
        "requiredQueryStringParameters": "",
        "rpcBaseUrl": "http://127.0.0.1:9/durabletask/",
    }
    return df.DurableOrchestrationClient(json.dumps(binding))


@pytest.fixture
def storage_env(azurite, monkeypatch):
    """The app's settings on this process, storage on Azurite (activities read them once)."""
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("IMAGE_REQUESTS_QUEUE", "image-requests")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://img.example.com")
    reset_settings_cache()
    yield azurite.connection_string
    reset_settings_cache()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"a badger wearing a tuxedo", "not_json"),
        (json.dumps({"prompt": "a badger", "size": "1x1"}).encode(), "validation_failed"),
    ],
)
async def test_a_hopeless_message_goes_to_poison_at_once_with_its_reason(storage_env, body, reason):
    queue = f"req-{uuid.uuid4().hex[:12]}"
    settings = load_settings(
        {
            "AzureWebJobsStorage": storage_env,
            "AZURE_OPENAI_ENDPOINT": "http://127.0.0.1:9",
            "IMAGE_REQUESTS_QUEUE": queue,
        }
    )
    msg = QueueMessage(id="m-1", body=body, dequeue_count=1)
    outcome = await handle_message(msg, _unreachable_client(), settings=settings, queue=queue)
    assert outcome.action == "poisoned"
    (text,) = _raw_messages(storage_env, f"{queue}-poison")
    envelope = _host_reads(text)
    assert envelope["reason"] == reason
    assert envelope["error"]["message"]
    assert envelope["original"] == body.decode()
    assert envelope["message_id"] == "m-1"
    assert envelope["dequeue_count"] == 1
    if reason == "validation_failed":
        assert envelope["error"]["field"] == "size"


async def test_results_queue_activity_publishes_a_host_readable_message(storage_env):
    queue = f"res-{uuid.uuid4().hex[:12]}"
    result = {"id": "job-3", "status": "failed", "error": {"code": "content_filter"}}
    outcome = await notify_results_queue(
        {"queue": queue, "job_id": "job-3", "attempt": 1, "result": result}
    )
    assert outcome["delivered"] is True
    (text,) = _raw_messages(storage_env, queue)
    body = _host_reads(text)
    assert body["id"] == "job-3"
    assert body["error"]["code"] == "content_filter"
    assert body["statusQueryGetUri"] == "https://img.example.com/api/images/job-3"


def test_enqueue_cli_sends_base64_the_host_can_read(azurite):
    queue = f"cli-{uuid.uuid4().hex[:12]}"
    request = {"prompt": "a badger wearing a tuxedo", "id": "badger-1"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "devstack.enqueue",
            json.dumps(request),
            "--queue",
            queue,
            "--connection-string",
            azurite.connection_string,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    printed = json.loads(done.stdout)
    assert printed["job_id"] == "badger-1"
    (text,) = _raw_messages(azurite.connection_string, queue)
    assert _host_reads(text) == request


def test_enqueue_cli_refuses_non_json_unless_told(azurite):
    queue = f"cli-{uuid.uuid4().hex[:12]}"
    base = [
        sys.executable,
        "-m",
        "devstack.enqueue",
        "not json",
        "--queue",
        queue,
        "--connection-string",
        azurite.connection_string,
    ]
    refused = subprocess.run(base, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2
    assert "not JSON" in refused.stderr
    subprocess.run([*base, "--no-check"], cwd=REPO, capture_output=True, timeout=60, check=True)
    (text,) = _raw_messages(azurite.connection_string, queue)
    assert base64.b64decode(text) == b"not json"
