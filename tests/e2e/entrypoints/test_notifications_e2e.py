"""Completion notifications from the running app: a loopback callback receiver gets the result
exactly once, a refusing receiver does not fail the job, and the results queue gets a copy."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid

import httpx
from azure.storage.queue import QueueClient

from tests.e2e.entrypoints.conftest import KEY
from tests.e2e.entrypoints.test_queue_e2e import _job_result, _sender


async def _start(entry_stack, body: dict) -> str:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(f"{entry_stack.base_url}/api/images", json=body, headers=KEY)
    assert response.status_code == 202, response.text
    return response.json()["id"]


async def test_callback_receives_the_result_once(entry_stack, hooks, callback_server):
    hooks.require("notify_callback", callbacks=True)
    prompt = f"an owl on a fence {uuid.uuid4().hex[:6]}"
    job_id = await _start(
        entry_stack, {"prompt": prompt, "model": "dall-e-3", "callback_url": callback_server.url}
    )
    response = await _job_result(entry_stack.base_url, job_id)
    assert response.status_code == 200, response.text
    status = response.json()
    assert status["notification"]["status"] == "delivered"
    assert status["notification"]["callback"]["attempts"] == 1
    assert "RECEIVER-SECRET" not in response.text  # the receiver's signature stays private
    (got,) = callback_server.received  # the job is finished: no second POST is coming
    assert got.body["id"] == job_id
    assert got.body["status"] == "succeeded"
    assert got.body["prompt"] == prompt
    # The receiver gets the app's signed links, no storage SAS: they open without a key.
    link = got.body["images"][0]["url"]
    assert link.startswith(f"{entry_stack.base_url}/api/status/{job_id}/images/0?expires=")
    assert "sv=" not in json.dumps(got.body)  # a storage SAS's version parameter
    async with httpx.AsyncClient(timeout=30, follow_redirects=True) as client:
        image = await client.get(link)
        status = await client.get(got.body["statusQueryGetUri"])
    assert image.status_code == 200
    assert image.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert status.status_code == 200
    assert status.json()["id"] == job_id


async def test_queue_job_with_callback_reports_a_failed_job(entry_stack, hooks, callback_server):
    hooks.require("image_requests_queue", "notify_callback", callbacks=True)
    from tests.e2e.entrypoints.conftest import FILTER_WORD

    job_id = f"filtered-{uuid.uuid4().hex[:8]}"
    _sender(entry_stack).send_message(
        json.dumps(
            {
                "id": job_id,
                "prompt": f"{FILTER_WORD} in a bowl",
                "callback_url": callback_server.url,
            }
        )
    )
    (got,) = await callback_server.wait_for(1)
    assert got.body["id"] == job_id
    assert got.body["status"] == "failed"
    assert got.body["error"]["code"] == "content_filter"
    # The status route's 422 says the callback got it, beside the job's error.
    response = await _job_result(entry_stack.base_url, job_id)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "content_filter"
    assert response.json()["notification"]["callback"]["status"] == "delivered"


async def test_a_refusing_receiver_does_not_fail_the_job(entry_stack, hooks, callback_server):
    hooks.require("notify_callback", callbacks=True)
    callback_server.statuses = [400]
    job_id = await _start(
        entry_stack, {"prompt": "a quiet pond", "callback_url": callback_server.url}
    )
    response = await _job_result(entry_stack.base_url, job_id)
    assert response.status_code == 200
    callback = response.json()["notification"]["callback"]
    assert callback["status"] == "failed"
    assert callback["reason"] == "callback answered HTTP 400"
    assert len(callback_server.received) == 1  # a 400 is final: not retried


async def test_plain_http_callback_to_an_unlisted_host_is_a_400(entry_stack, hooks):
    hooks.require("notify_callback", callbacks=True)
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            f"{entry_stack.base_url}/api/images",
            json={"prompt": "a cat", "callback_url": "http://example.com/hook"},
            headers=KEY,
        )
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "callback_url"


async def test_results_queue_gets_the_result(entry_stack, hooks):
    hooks.require("notify_results_queue", callbacks=True)
    job_id = await _start(entry_stack, {"prompt": f"a pine cone {uuid.uuid4().hex[:6]}"})
    await _job_result(entry_stack.base_url, job_id)
    client = QueueClient.from_connection_string(
        entry_stack.connection_string, entry_stack.results_queue
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while True:
        bodies = [
            json.loads(base64.b64decode(m.content)) for m in client.peek_messages(max_messages=32)
        ]
        if any(b["id"] == job_id for b in bodies):
            break
        assert loop.time() < deadline, "result never reached the results queue"
        await asyncio.sleep(0.2)
    (mine,) = [b for b in bodies if b["id"] == job_id]
    assert mine["status"] == "succeeded"
