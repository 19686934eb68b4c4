"""Power Automate's HTTP action (async pattern) against the running app: it ends on 200 with the
images for a good prompt, and on a non-retryable 4xx for a content-filtered one."""

from __future__ import annotations

import uuid

import httpx

from tests.e2e.entrypoints.conftest import FILTER_WORD
from tests.e2e.entrypoints.power_automate import http_action

KEY = {"x-functions-key": "any-key-the-devstack-ignores"}


async def test_good_prompt_ends_on_200_with_images(entry_stack):
    prompt = f"a lighthouse at dusk {uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(timeout=30) as client:
        run = await http_action(
            client,
            "POST",
            f"{entry_stack.base_url}/api/images",
            json={"prompt": prompt, "model": "dall-e-3", "n": 2},
            headers=KEY,
        )
        assert run.status == 200, run.response.text
        body = run.response.json()
        assert body["status"] == "succeeded"
        assert len(body["images"]) == 2
        # Every 202 carried the pacing Power Automate needs, and the Location was followed.
        assert run.retry_after_seen
        assert all(r > 0 for r in run.retry_after_seen)
        assert all(loc.startswith(entry_stack.base_url) for loc in run.locations)
        assert all("code=" not in loc for loc in run.locations)
        image = await client.get(body["images"][0]["url"])
        assert image.status_code == 200
        assert image.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert entry_stack.billed_for(prompt) == 2


async def test_content_filtered_prompt_fails_the_action_without_retry(entry_stack):
    prompt = f"a picture of {FILTER_WORD} {uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(timeout=30) as client:
        run = await http_action(
            client,
            "POST",
            f"{entry_stack.base_url}/api/images",
            json={"prompt": prompt, "model": "dall-e-3"},
            headers=KEY,
        )
    assert run.failed_for_good, (run.status, run.response.text)
    assert run.response.json()["error"]["code"] == "content_filter"
    assert entry_stack.billed_for(prompt) == 0


async def test_invalid_request_fails_on_the_first_answer(entry_stack):
    async with httpx.AsyncClient(timeout=30) as client:
        run = await http_action(
            client,
            "POST",
            f"{entry_stack.base_url}/api/images",
            json={"prompt": "a cat", "model": "dall-e-3", "size": "256x256"},
            headers=KEY,
        )
    assert run.status == 400
    assert run.polls == 0
    assert run.response.json()["error"]["field"] == "size"
