"""Power Automate's HTTP action (async pattern) against the running app, with function keys
enforced as on Azure: the key only on the POST, every poll follows the signed Location to the
final 200 and the image links open; a non-retryable 4xx for a content-filtered prompt; 401
without the key; 403 for a tampered, expired or other job's link."""

from __future__ import annotations

import uuid

import httpx

from tests.e2e.entrypoints.conftest import FILTER_WORD, KEY
from tests.e2e.entrypoints.power_automate import http_action


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
        assert run.polls >= 1  # followed without the key, past Azure's 401
        for shown in body["images"]:
            image = await client.get(shown["url"])
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


async def _started(client: httpx.AsyncClient, base: str, prompt: str) -> httpx.Response:
    r = await client.post(
        f"{base}/api/images", json={"prompt": prompt, "model": "dall-e-3"}, headers=KEY
    )
    assert r.status_code == 202, r.text
    return r


async def test_without_the_key_the_api_is_401_but_a_signed_link_is_not(entry_stack):
    base = entry_stack.base_url
    async with httpx.AsyncClient(timeout=30) as client:
        refused = await client.post(f"{base}/api/images", json={"prompt": "a cat"})
        assert refused.status_code == 401
        assert refused.content == b""
        started = await _started(client, base, f"a wren {uuid.uuid4().hex[:6]}")
        job = started.json()["id"]
        assert (await client.get(f"{base}/api/images/{job}")).status_code == 401
        assert (await client.get(f"{base}/api/images/{job}/0")).status_code == 401
        assert (await client.get(started.headers["Location"])).status_code in (200, 202)
        assert (await client.get(f"{base}/api/images/{job}", headers=KEY)).status_code in (200, 202)
        assert KEY["x-functions-key"] not in started.text + str(started.headers)


async def test_tampered_expired_and_other_jobs_links_are_403_and_tell_nothing(entry_stack):
    from datetime import UTC, datetime, timedelta

    from devstack.host.app_secrets import SECRET_FILE
    from shared.links import LinkSigner, status_link

    base = entry_stack.base_url
    mine_prompt = f"a secret otter {uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(timeout=30) as client:
        mine = await _started(client, base, mine_prompt)
        theirs = await _started(client, base, f"a vole {uuid.uuid4().hex[:6]}")
        link, job = mine.headers["Location"], mine.json()["id"]
        other = theirs.json()["id"]
        query = link.partition("?")[2]
        secret = (entry_stack.stack.host_data_dir / SECRET_FILE).read_text(encoding="ascii")
        signer = LinkSigner(secret=secret.encode(), previous=None, ttl=timedelta(minutes=5))
        expired = status_link(
            f"{base}/api", job, signer.sign(job, datetime.now(UTC) - timedelta(minutes=10))
        )
        cases = {
            "link_invalid": [
                link[:-1] + ("A" if link[-1] != "A" else "B"),
                f"{base}/api/status/{other}?{query}",
                f"{base}/api/status/{other}/images/0?{query}",
            ],
            "link_expired": [expired],
            "link_missing": [f"{base}/api/status/{job}"],
        }
        for code, urls in cases.items():
            for url in urls:
                r = await client.get(url)
                assert r.status_code == 403, (url, r.text)
                assert r.json()["error"]["code"] == code
                assert job not in r.text
                assert other not in r.text
                assert mine_prompt not in r.text
