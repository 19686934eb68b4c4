"""Cancel and list against the running app, function keys enforced as on Azure.

Cancel while the (slow) emulator generates: the job ends `canceled`, the generation already sent
is the only one billed, nothing of the job stays in Blob Storage, the status route answers a
final 422 and a repeated DELETE the same 202; a finished job answers 409 and keeps its images.
The list pages newest first over more than one page, each job with a signed link that opens.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from azure.storage.blob.aio import BlobServiceClient

from tests.e2e.entrypoints.conftest import KEY

LATENCY_S = 6


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as c:
        yield c


@pytest.fixture
async def slow_emulator(entry_stack) -> AsyncIterator[None]:
    async with httpx.AsyncClient(timeout=10) as c:
        r = await c.put(
            f"{entry_stack.emulator_url}/_emulator/config", json={"latency_seconds": LATENCY_S}
        )
        r.raise_for_status()
        yield
        (await c.post(f"{entry_stack.emulator_url}/_emulator/reset")).raise_for_status()


async def _start(client: httpx.AsyncClient, base: str, body: dict) -> httpx.Response:
    r = await client.post(f"{base}/api/images", json=body, headers=KEY)
    assert r.status_code == 202, r.text
    return r


async def _until(client: httpx.AsyncClient, url: str, done, within_s: float = 60) -> httpx.Response:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while True:
        r = await client.get(url)
        if done(r):
            return r
        assert loop.time() < deadline, f"{url}: still {r.status_code} {r.text}"
        await asyncio.sleep(0.2)


def _stage(r: httpx.Response) -> str | None:
    return (r.json().get("progress") or {}).get("stage") if r.status_code == 202 else None


async def _blobs_of(entry_stack, job_id: str) -> list[str]:
    async with BlobServiceClient.from_connection_string(entry_stack.connection_string) as svc:
        found = []
        async for container in svc.list_containers():
            box = svc.get_container_client(container.name)
            found += [b.name async for b in box.list_blobs() if job_id in b.name]
        return found


async def test_cancel_while_generating_stores_nothing_and_bills_the_one_call(
    entry_stack, slow_emulator, client
):
    base = entry_stack.base_url
    prompt = f"a slow snail {uuid.uuid4().hex[:6]}"
    started = await _start(client, base, {"prompt": prompt, "model": "gpt-image-1"})
    job, link = started.json()["id"], started.headers["Location"]
    await _until(client, link, lambda r: _stage(r) == "generating")

    first = await client.delete(f"{base}/api/images/{job}", headers=KEY)
    assert first.status_code == 202, first.text
    assert first.json()["status"] == "canceling"
    assert "location" not in first.headers  # an HTTP action ends here, it does not poll
    again = await client.delete(f"{base}/api/images/{job}", headers=KEY)
    assert again.status_code == 202
    assert again.json()["status"] == "canceling"

    final = await _until(client, link, lambda r: r.status_code != 202, within_s=LATENCY_S + 60)
    assert final.status_code == 422, final.text
    assert final.json()["error"]["code"] == "job_canceled"
    assert entry_stack.billed_for(prompt) == 1  # the call already sent; no other
    assert await _blobs_of(entry_stack, job) == []
    repeated = await client.delete(f"{base}/api/images/{job}", headers=KEY)
    assert repeated.status_code == 202
    assert repeated.json()["status"] == "canceled"
    assert (await client.get(f"{base}/api/images/{job}/0", headers=KEY)).status_code == 422


async def test_a_finished_job_cannot_be_canceled_and_keeps_its_images(entry_stack, client):
    base = entry_stack.base_url
    started = await _start(client, base, {"prompt": f"a quick fox {uuid.uuid4().hex[:6]}"})
    job, link = started.json()["id"], started.headers["Location"]
    done = await _until(client, link, lambda r: r.status_code != 202)
    assert done.status_code == 200, done.text

    refused = await client.delete(f"{base}/api/images/{job}", headers=KEY)

    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "job_finished"
    assert (await client.get(link)).status_code == 200
    image = await client.get(done.json()["images"][0]["url"])
    assert image.status_code == 200
    # Its blobs are still there, and _blobs_of sees them (so its [] for a canceled job counts).
    assert await _blobs_of(entry_stack, job) != []


async def test_cancel_needs_the_key_and_an_unknown_job_is_404(entry_stack, client):
    base = entry_stack.base_url
    unknown = uuid.uuid4().hex
    assert (await client.delete(f"{base}/api/images/{unknown}")).status_code == 401
    missing = await client.delete(f"{base}/api/images/{unknown}", headers=KEY)
    assert missing.status_code == 404
    assert missing.json()["error"]["field"] == "id"


async def test_the_list_pages_newest_first_with_links_that_open(entry_stack, client):
    base = entry_stack.base_url
    tag = uuid.uuid4().hex[:6]
    ids = []
    for i in range(5):
        r = await _start(client, base, {"prompt": f"list test {tag} {i}"})
        ids.append(r.json()["id"])
    for job in ids:
        await _until(
            client,
            f"{base}/api/images/{job}?code={KEY['x-functions-key']}",
            lambda r: r.status_code != 202,
        )

    assert (await client.get(f"{base}/api/images")).status_code == 401
    seen: list[dict] = []
    url: str | None = f"{base}/api/images?top=2&status=succeeded"
    pages = 0
    while url is not None and pages < 50:
        r = await client.get(url, headers=KEY)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["value"]) <= 2
        seen += body["value"]
        url = body.get("nextLink")
        pages += 1
        if all(job in {s["id"] for s in seen} for job in ids):
            break
    ours = [s for s in seen if s["id"] in ids]
    assert sorted(s["id"] for s in ours) == sorted(ids)  # each once
    # newest first: by created second, then id (the order the pages promise)
    assert ours == sorted(ours, key=lambda s: (s["created"][:19], s["id"]), reverse=True)
    assert len(seen) == len({s["id"] for s in seen})
    assert pages >= 3
    for summary in ours:
        assert summary["status"] == "succeeded"
        assert summary["prompt"].startswith(f"list test {tag}")
        assert summary["images"] == 1
        opened = await client.get(summary["statusQueryGetUri"])
        assert opened.status_code == 200
        assert opened.json()["id"] == summary["id"]
    assert KEY["x-functions-key"] not in str(seen)


async def test_a_bad_list_parameter_is_a_400_naming_it(entry_stack, client):
    base = entry_stack.base_url
    for params, field in (
        ({"top": "0"}, "top"),
        ({"top": "51"}, "top"),
        ({"status": "done"}, "status"),
        ({"continuationToken": "not-ours"}, "continuationToken"),
    ):
        r = await client.get(f"{base}/api/images", params=params, headers=KEY)
        assert r.status_code == 400, (params, r.text)
        assert r.json()["error"]["field"] == field
