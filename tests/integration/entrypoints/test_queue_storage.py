"""The queue side against a real Azurite: poison envelopes, the results queue, the enqueue CLI.

Every message is checked the way the Functions host would read it: raw text that is base64.
"""

from __future__ import annotations

import base64
import hashlib
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
    monkeypatch.setenv("STATUS_LINK_SECRET", "queue-storage-tests-status-link-secret")
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
            "STATUS_LINK_SECRET": "queue-storage-tests-status-link-secret",
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
    assert body["statusQueryGetUri"].startswith("https://img.example.com/api/status/job-3?expires=")


def _enqueue_cli(azurite, queue: str, message: str) -> subprocess.CompletedProcess[str]:
    """`python -m devstack.enqueue MESSAGE` against this Azurite, as a user runs it."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "devstack.enqueue",
            message,
            "--queue",
            queue,
            "--connection-string",
            azurite.connection_string,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_enqueue_cli_sends_base64_the_host_can_read(azurite):
    queue = f"cli-{uuid.uuid4().hex[:12]}"
    request = {"prompt": "a badger wearing a tuxedo", "id": "badger-1"}
    done = _enqueue_cli(azurite, queue, json.dumps(request))
    assert done.returncode == 0, done.stderr
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


# ---- every hopeless message reaches {queue}-poison once, with a reason, within 64 KiB --------

STORED_MAX = 64 * 1024  # Azure Storage's limit, on the stored (base64) text; Azurite enforces it


def _settings_for(conn: str, queue: str):
    return load_settings(
        {
            "AzureWebJobsStorage": conn,
            "AZURE_OPENAI_ENDPOINT": "http://127.0.0.1:9",
            "IMAGE_REQUESTS_QUEUE": queue,
            "STATUS_LINK_SECRET": "queue-storage-tests-status-link-secret",
        }
    )


async def _poison_once(conn: str, body: bytes) -> tuple[dict, str]:
    """Deliver ``body`` once through handle_message; the one poison message (decoded, raw)."""
    queue = f"req-{uuid.uuid4().hex[:12]}"
    msg = QueueMessage(id="m-1", body=body, dequeue_count=1)
    outcome = await handle_message(
        msg, _unreachable_client(), settings=_settings_for(conn, queue), queue=queue
    )
    assert outcome.action == "poisoned"
    texts = _raw_messages(conn, f"{queue}-poison")
    assert len(texts) == 1
    (text,) = texts
    assert len(text.encode("utf-8")) <= STORED_MAX
    envelope = _host_reads(text)
    assert envelope["reason"] == outcome.reason
    assert envelope["error"]["message"]
    assert envelope["dequeue_count"] == 1
    assert envelope["message_id"] == "m-1"
    return envelope, text


@pytest.mark.parametrize(
    ("body", "reason", "words"),
    [
        (b"[" * 50_000 + b"]" * 50_000, "too_deeply_nested", "nests"),
        (
            b'{"prompt": ' + b'{"a":' * 3000 + b"1" + b"}" * 3000 + b"}",
            "too_deeply_nested",
            "nests",
        ),
        ('{"prompt": "café"}'.encode("latin-1"), "not_utf8", "not UTF-8"),
        ('{"prompt": "a fox"}'.encode("utf-16"), "not_utf8", "not UTF-8"),
        (b'{"prompt": "a fox", "n": ' + b"9" * 5000 + b"}", "validation_failed", "digits"),
        (
            json.dumps({"prompt": "a fox", "callback_url": "https://e.com/\u0000x"}).encode(),
            "validation_failed",
            "control character",
        ),
        (json.dumps(json.dumps({"prompt": "a fox"})).encode(), "not_json", "encoded twice"),
    ],
    ids=["deep-array", "deep-object", "latin-1", "utf-16", "huge-int", "url-nul", "twice"],
)
async def test_every_hopeless_message_is_poisoned_once_with_its_reason(
    storage_env, body, reason, words
):
    envelope, _ = await _poison_once(storage_env, body)
    assert envelope["reason"] == reason
    assert words in envelope["error"]["message"]
    if "original" in envelope:
        assert envelope["original"].encode("utf-8") == body[: len(envelope["original"].encode())]
    else:
        assert body.startswith(base64.b64decode(envelope["original_base64"]))


@pytest.mark.parametrize(
    "text",
    ["狐" * 16_200, "🦊" * 12_200, "a" * 47_000 + "é" * 900],
    ids=["cjk", "emoji", "near-limit"],
)
async def test_a_multibyte_original_near_the_limit_is_poisoned_truncated_with_its_hash(
    storage_env, text
):
    """The old envelope cut at 32 000 characters and escaped non-ASCII to 6 bytes: Storage
    refused it, the function failed five times and the host poisoned the message with no reason."""
    body = json.dumps({"prompt": text, "size": "1x1"}).encode()  # \\u escapes: ASCII, long
    raw = json.dumps({"prompt": text, "size": "1x1"}, ensure_ascii=False).encode()
    for original in (body, raw):
        envelope, _ = await _poison_once(storage_env, original)
        assert envelope["reason"] == "validation_failed"
        if envelope.get("original_truncated"):
            assert envelope["original_bytes"] == len(original)
            assert envelope["original_sha256"] == hashlib.sha256(original).hexdigest()
            assert original.decode().startswith(envelope["original"])
        else:
            assert envelope["original"] == original.decode()


@pytest.mark.parametrize(
    "body",
    [b"\xff" * 49_000, bytes(range(128, 256)) * 300, b"\xc3" * 30_000],
    ids=["ff", "high-bytes", "lead-bytes"],
)
async def test_binary_garbage_is_poisoned_within_the_limit_as_base64(storage_env, body):
    envelope, _ = await _poison_once(storage_env, body)
    assert envelope["reason"] == "not_utf8"
    kept = base64.b64decode(envelope["original_base64"])
    assert kept
    assert body.startswith(kept)
    if len(kept) < len(body):
        assert envelope["original_truncated"] is True
        assert envelope["original_bytes"] == len(body)


async def test_a_valid_message_with_durable_down_raises_for_a_retry_and_poisons_nothing(
    storage_env,
):
    queue = f"req-{uuid.uuid4().hex[:12]}"
    msg = QueueMessage(id="m-2", body=json.dumps({"prompt": "a fox"}).encode(), dequeue_count=1)
    with pytest.raises(Exception):  # noqa: B017, PT011 - any transport error: the host retries
        await handle_message(
            msg, _unreachable_client(), settings=_settings_for(storage_env, queue), queue=queue
        )
    from azure.core.exceptions import ResourceNotFoundError

    with pytest.raises(ResourceNotFoundError):  # not even created: nothing was poisoned
        _raw_messages(storage_env, f"{queue}-poison")


def test_enqueue_cli_refuses_a_message_storage_would_refuse(azurite):
    queue = f"cli-{uuid.uuid4().hex[:12]}"
    request = json.dumps({"prompt": "狐" * 17_000}, ensure_ascii=False)  # 51 KB of UTF-8
    done = _enqueue_cli(azurite, queue, request)
    assert done.returncode == 2
    assert "base64" in done.stderr
    assert "65536" in done.stderr
    assert _raw_messages(azurite.connection_string, queue) == []
