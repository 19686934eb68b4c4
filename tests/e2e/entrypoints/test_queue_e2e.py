"""Jobs started from the requests queue, through the real host's queue listener."""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import uuid
from typing import Any

import httpx
import pytest
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from tests.e2e.entrypoints.conftest import KEY, REPO_ROOT

QUEUE_FUNCTION = "image_requests_queue"


def _sender(entry_stack) -> QueueClient:
    """How the docs tell users to send: the v12 SDK with TextBase64EncodePolicy."""
    client = QueueClient.from_connection_string(
        entry_stack.connection_string,
        entry_stack.requests_queue,
        message_encode_policy=TextBase64EncodePolicy(),
    )
    return client


async def _job_result(base_url: str, job_id: str, *, within_s: float = 60) -> httpx.Response:
    """GET the job until it is no longer 202 (or unknown because not started yet)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    async with httpx.AsyncClient(timeout=30) as client:
        while True:
            response = await client.get(f"{base_url}/api/images/{job_id}", headers=KEY)
            if response.status_code not in (202, 404):
                return response
            if loop.time() > deadline:
                raise AssertionError(f"job {job_id} still {response.status_code}: {response.text}")
            await asyncio.sleep(0.2)


async def _poison_envelopes(
    entry_stack, want: int, *, within_s: float = 30
) -> list[dict[str, Any]]:
    client = QueueClient.from_connection_string(
        entry_stack.connection_string, f"{entry_stack.requests_queue}-poison"
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while True:
        try:
            texts = [m.content for m in client.peek_messages(max_messages=32)]
        except Exception as exc:
            if "QueueNotFound" not in str(exc):
                raise
            texts = []
        if len(texts) >= want:
            return [json.loads(base64.b64decode(t)) for t in texts]
        if loop.time() > deadline:
            raise AssertionError(f"{len(texts)} poison messages, wanted {want}")
        await asyncio.sleep(0.2)


async def _queue_drained(entry_stack, *, within_s: float = 30) -> None:
    """Until the requests queue holds nothing, invisible (in-flight) messages included."""
    client = QueueClient.from_connection_string(
        entry_stack.connection_string, entry_stack.requests_queue
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while client.get_queue_properties().approximate_message_count:
        if loop.time() > deadline:
            raise AssertionError("the requests queue was not drained")
        await asyncio.sleep(0.2)


async def test_a_queue_message_starts_a_job_whose_images_are_stored(entry_stack, hooks):
    hooks.require(QUEUE_FUNCTION)
    prompt = f"a red kite over hills {uuid.uuid4().hex[:6]}"
    job_id = f"kite-{uuid.uuid4().hex[:8]}"
    _sender(entry_stack).send_message(json.dumps({"prompt": prompt, "id": job_id, "n": 1}))
    response = await _job_result(entry_stack.base_url, job_id)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == job_id
    assert body["prompt"] == prompt
    (image,) = body["images"]
    async with httpx.AsyncClient(timeout=30) as client:
        stored = await client.get(image["url"])
    assert stored.status_code == 200
    assert stored.content[:8] == b"\x89PNG\r\n\x1a\n"


async def test_the_same_message_delivered_twice_bills_one_generation(entry_stack, hooks):
    hooks.require(QUEUE_FUNCTION)
    prompt = f"a heron in the rain {uuid.uuid4().hex[:6]}"
    message = json.dumps({"prompt": prompt, "id": f"heron-{uuid.uuid4().hex[:8]}"})
    job_id = json.loads(message)["id"]
    sender = _sender(entry_stack)
    sender.send_message(message)
    await _job_result(entry_stack.base_url, job_id)
    sender.send_message(message)  # the redelivery
    await _queue_drained(entry_stack)
    response = await _job_result(entry_stack.base_url, job_id)
    assert response.status_code == 200
    assert entry_stack.billed_for(prompt) == 1


async def test_a_malformed_message_lands_in_poison_with_its_reason(entry_stack, hooks):
    hooks.require(QUEUE_FUNCTION)
    marker = uuid.uuid4().hex
    sender = _sender(entry_stack)
    sender.send_message(f"make me a picture of a badger {marker}")
    sender.send_message(json.dumps({"prompt": f"a badger {marker}", "n": 99}))
    envelopes = await _poison_envelopes(entry_stack, 2)
    mine = {e["reason"]: e for e in envelopes if marker in e["original"]}
    assert set(mine) == {"not_json", "validation_failed"}
    assert mine["validation_failed"]["error"]["field"] == "n"
    # Poisoned on the first delivery, not after the host's five retries.
    assert {e["dequeue_count"] for e in mine.values()} == {1}
    await _queue_drained(entry_stack)


@pytest.mark.parametrize("model", ["dall-e-2"])
async def test_queue_jobs_work_for_the_async_flavour_too(entry_stack, hooks, model):
    hooks.require(QUEUE_FUNCTION)
    job_id = f"d2-{uuid.uuid4().hex[:8]}"
    _sender(entry_stack).send_message(
        json.dumps({"prompt": "a small boat", "model": model, "size": "256x256", "id": job_id})
    )
    response = await _job_result(entry_stack.base_url, job_id)
    assert response.status_code == 200, response.text
    assert response.json()["model"] == model


async def test_the_documented_one_liner_starts_a_job_named_after_the_message(entry_stack, hooks):
    hooks.require(QUEUE_FUNCTION)
    prompt = f"a snail on a leaf {uuid.uuid4().hex[:6]}"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "devstack.enqueue",
        json.dumps({"prompt": prompt}),
        "--queue",
        entry_stack.requests_queue,
        "--connection-string",
        entry_stack.connection_string,
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    stdout, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0
    job_id = json.loads(stdout)["job_id"]
    assert job_id.startswith("q-")  # no id in the message: the queue message id names the job
    response = await _job_result(entry_stack.base_url, job_id)
    assert response.status_code == 200, response.text
    assert response.json()["prompt"] == prompt


# ---- every hopeless message lands in {queue}-poison once, with a reason, within 64 KiB -------

STORED_MAX = 64 * 1024  # Azure Storage's per-message limit, counted on the stored base64 text


def _raw_sender(entry_stack) -> QueueClient:
    """A sender that puts text on the queue as is: we base64 the bytes ourselves."""
    return QueueClient.from_connection_string(
        entry_stack.connection_string, entry_stack.requests_queue
    )


def _kept_original(envelope: dict[str, Any]) -> bytes:
    if "original" in envelope:
        return str(envelope["original"]).encode("utf-8")
    return base64.b64decode(envelope.get("original_base64", ""))


async def _mine(entry_stack, marker: bytes, *, within_s: float = 30) -> list[tuple[str, dict]]:
    """Poison messages (raw text, decoded envelope) whose kept original holds ``marker``."""
    client = QueueClient.from_connection_string(
        entry_stack.connection_string, f"{entry_stack.requests_queue}-poison"
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while True:
        found: list[tuple[str, dict]] = []
        try:
            texts = [m.content for m in client.peek_messages(max_messages=32)]
        except Exception as exc:
            if "QueueNotFound" not in str(exc):
                raise
            texts = []
        for text in texts:
            try:
                envelope = json.loads(base64.b64decode(text, validate=True))
            except ValueError:
                continue  # another test's raw copy
            if isinstance(envelope, dict) and marker in _kept_original(envelope):
                found.append((text, envelope))
        if found:
            return found
        if loop.time() > deadline:
            raise AssertionError("no poison message with a reason for this message")
        await asyncio.sleep(0.2)


def _cases(marker: str) -> dict[str, tuple[bytes, str]]:
    m = marker.encode()
    return {
        "deep-nesting": (
            b'{"prompt": "' + m + b'", "user": ' + b"[" * 5000 + b"]" * 5000 + b"}",
            "too_deeply_nested",
        ),
        "multibyte-near-limit": (
            json.dumps(
                {"prompt": marker + "狐" * 16_300, "model": "dall-e-2"}, ensure_ascii=False
            ).encode(),
            "validation_failed",
        ),
        "binary-garbage": (b"\xff\xfe" + m + b"\xff" * 48_000, "not_utf8"),
        "latin-1": (b'{"prompt": "caf\xe9 ' + m + b'"}', "not_utf8"),
        "huge-number": (
            b'{"prompt": "' + m + b'", "n": ' + b"9" * 6000 + b"}",
            "validation_failed",
        ),
        "callback-nul": (
            json.dumps({"prompt": marker, "callback_url": "https://e.com/\u0000"}).encode(),
            "validation_failed",
        ),
    }


@pytest.mark.parametrize("case", list(_cases("x")))
async def test_a_hopeless_message_is_poisoned_at_once_with_a_reason_within_the_limit(
    entry_stack, hooks, case
):
    hooks.require(QUEUE_FUNCTION)
    marker = uuid.uuid4().hex
    body, reason = _cases(marker)[case]
    stored = base64.b64encode(body).decode()
    assert len(stored) <= STORED_MAX  # a message Azure Storage itself would accept
    _raw_sender(entry_stack).send_message(stored)
    found = await _mine(entry_stack, marker.encode())
    assert len(found) == 1
    ((text, envelope),) = found
    assert len(text.encode("utf-8")) <= STORED_MAX
    assert envelope["reason"] == reason
    assert envelope["error"]["message"]
    assert envelope["dequeue_count"] == 1  # the first delivery, not the host's fifth
    kept = _kept_original(envelope)
    assert body.startswith(kept)
    if len(kept) < len(body):
        assert envelope["original_truncated"] is True
        assert envelope["original_bytes"] == len(body)
    await _queue_drained(entry_stack)
