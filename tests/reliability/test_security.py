"""Secrets never leave, downloads stay on safe hosts, SAS URLs only read and they expire.

* No response body or header, and no line the host printed, carries the Azure OpenAI key, the
  storage account key, Durable's management URLs (which carry the system key in Azure), the
  service's signed source URLs, or the SAS signature of another job.
* No signed URL reaches Durable history, even for a job whose first copy of the image failed and
  was stored by `persist_image` (which reads the URL from the generation's receipt).
* The persist activity, run with production-like settings (no plain-http hosts allowed), refuses
  a receipt's URL that is http, a loopback/private address or a host off the allow-list — before
  connecting anywhere — writes no image, and drops the URL from the receipt.
* A SAS URL from the API reads its image but cannot write or delete it, carries the configured
  lifetime, and a SAS whose lifetime is over is refused.
* With function keys enforced (as on Azure), across starting, following signed links, cancelling
  and listing: no response, header or log line carries the function or master key or the secret
  that signs status links, and no job's answers carry another job's link signature.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from aiohttp import web

from devstack.azurite import ACCOUNT_KEY
from devstack.emulator.images import render

from .conftest import DURABLE_PREFIX, emulator_patch, poll_until_done, post_job

SAS_TTL_MINUTES = 7
_SIG = re.compile(r"sig=([^&\"'\s]+)")


def sig_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["sig"][0]


def forms(secret: str) -> set[str]:
    """A secret as it may appear in text: raw, URL-encoded, JSON-escaped."""
    return {secret, quote(secret, safe=""), secret.replace("/", "\\/")}


def leaks(text: str, secrets: dict[str, str]) -> list[str]:
    return [name for name, value in secrets.items() if any(f in text for f in forms(value))]


class Recorded:
    """Every response the test saw, as text, per job id ('' for requests tied to no job)."""

    def __init__(self) -> None:
        self.by_job: dict[str, list[str]] = {}

    def add(self, job_id: str, response: httpx.Response) -> httpx.Response:
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        self.by_job.setdefault(job_id, []).append(f"{headers}\n\n{response.text}")
        return response


def test_no_secret_in_any_response_header_or_log_line(start_host, emulator):
    emulator_patch(emulator, content_filter_words=["forbidden"], async_retry_after_seconds=1)
    host = start_host(IMAGE_SAS_TTL_MINUTES=str(SAS_TTL_MINUTES))
    seen = Recorded()
    bodies = [
        {"prompt": "secret badger 1", "model": "dall-e-3"},
        {"prompt": "secret badger 2", "model": "dall-e-3", "n": 2},
        {"prompt": "secret badger 3", "model": "gpt-image-1", "output_format": "png"},
        {"prompt": "secret badger 4", "model": "dall-e-2", "size": "256x256"},
        {"prompt": "forbidden badger 5", "model": "dall-e-3"},
    ]
    with httpx.Client(timeout=30) as client:
        jobs = [post_job(client, host.api_url, body) for body in bodies]
        poll_until_done(client, jobs, deadline_s=120)
        for job in jobs:
            assert job.id is not None
            assert job.final is not None
            seen.add(job.id, job.final)
            for i in range(len(job.final.json().get("images", []))):
                redirect = client.get(f"{host.api_url}/images/{job.id}/{i}")
                assert redirect.status_code == 302
                seen.add(job.id, redirect)
        # Refusals and unknowns answer too, and must not leak either.
        for body in ({"prompt": ""}, {"prompt": "x", "model": "nope"}, {"prompt": "x", "n": 99}):
            seen.add("", client.post(f"{host.api_url}/images", json=body))
        seen.add("", client.get(f"{host.api_url}/images/unknown-job"))
        seen.add("", client.get(f"{host.api_url}/images/{jobs[0].id}/7"))
        # Running jobs' 202s: post one more and read its first status.
        emulator_patch(emulator, latency_seconds=5)
        slow = post_job(client, host.api_url, {"prompt": "slow badger", "model": "dall-e-3"})
        assert slow.id is not None
        seen.add(slow.id, client.get(f"{host.api_url}/images/{slow.id}"))

        # Each finished job's own SAS signatures; the service's signed source URLs from history.
        own_sigs: dict[str, set[str]] = {}
        for job in jobs:
            assert job.id is not None
            texts = "\n".join(seen.by_job[job.id])
            own_sigs[job.id] = set(_SIG.findall(texts))
        source_sigs: set[str] = set()
        for job in jobs:
            history = client.get(
                f"{host.base_url}{DURABLE_PREFIX}/instances/{job.id}",
                params={"showHistory": "True", "showHistoryOutput": "True"},
            ).text
            source_sigs |= set(_SIG.findall(history))

    assert any(own_sigs.values()), "no SAS URL was seen: the test saw no images"
    # The generating activity copies the image itself: the service's signed source URLs no
    # longer reach history (only a failed copy retried by persist_image puts one there).
    assert not source_sigs, f"a signed URL reached history: {sorted(source_sigs)}"
    fixed = {"Azure OpenAI key": emulator.api_key, "storage account key": ACCOUNT_KEY}
    for job_id, texts in seen.by_job.items():
        others = {
            f"SAS of job {other}": sig
            for other, sigs in own_sigs.items()
            if other != job_id
            for sig in sigs
        }
        for text in texts:
            assert not leaks(text, fixed | others), (job_id, leaks(text, fixed | others), text)
            assert "/runtime/webhooks/durabletask" not in text, text
            assert "systemKey" not in text, text
            assert "code=" not in text, text

    log = host.log
    assert "POST /api/images" in log, "the host log was not captured"
    everyone = {f"SAS {s}": s for sigs in own_sigs.values() for s in sigs}
    for line in log.splitlines():
        assert not leaks(line, fixed | everyone), (leaks(line, fixed | everyone), line)
        for value in _SIG.findall(line):
            assert value.startswith("REDACTED"), line


def test_no_signed_url_in_history_when_the_first_copy_fails(start_host, emulator):
    # Every download is cut short until the generating activity's copy has failed once; the
    # image is then stored by persist_image, whose input names the receipt, not the URL.
    host = start_host()
    emulator_patch(emulator, truncate_rate=1.0)
    with httpx.Client(timeout=30) as client:
        job = post_job(client, host.api_url, {"prompt": "truncated badger", "model": "dall-e-3"})
        deadline = time.monotonic() + 60
        while emulator.stats()["served"]["truncated_downloads"] < 1:
            assert time.monotonic() < deadline, "the first copy never failed"
            time.sleep(0.05)  # the polling interval of a loop with a deadline
        emulator_patch(emulator, truncate_rate=0.0)
        [job] = poll_until_done(client, [job], deadline_s=120)
        assert job.final is not None
        assert job.final.status_code == 200, job.final.text
        history = client.get(
            f"{host.base_url}{DURABLE_PREFIX}/instances/{job.id}",
            params={"showHistory": "True", "showHistoryOutput": "True"},
        ).text

    assert "persist_image" in history, "the first copy did not fail: nothing was tested"
    assert not _SIG.findall(history), "a signed URL reached history"
    assert "/_emulator/images/" not in history  # nor the service's image URL, unsigned
    assert emulator.stats()["billed"]["images"] == 1


def test_sas_urls_read_but_do_not_write_and_carry_the_configured_lifetime(start_host, emulator):
    host = start_host(IMAGE_SAS_TTL_MINUTES=str(SAS_TTL_MINUTES))
    with httpx.Client(timeout=30) as client:
        job = post_job(client, host.api_url, {"prompt": "read-only badger", "model": "dall-e-3"})
        [job] = poll_until_done(client, [job], deadline_s=60)
        assert job.final is not None
        assert job.final.status_code == 200, job.final.text
        [image] = job.final.json()["images"]
        url = image["url"]
        assert client.get(url).content == render(job.prompt, 1024, 1024, 0, "png")

        overwrite = client.put(
            url, content=b"not an image", headers={"x-ms-blob-type": "BlockBlob"}
        )
        assert overwrite.status_code == 403, overwrite.text
        delete = client.delete(url)
        assert delete.status_code == 403, delete.text
        assert client.get(url).content == render(job.prompt, 1024, 1024, 0, "png")

        query = parse_qs(urlsplit(url).query)
        assert query["sp"] == ["r"]
        expiry = datetime.fromisoformat(query["se"][0].replace("Z", "+00:00"))
        lifetime = expiry - datetime.now(UTC)
        assert (
            timedelta(minutes=SAS_TTL_MINUTES - 1) < lifetime <= timedelta(minutes=SAS_TTL_MINUTES)
        ), lifetime


async def test_an_expired_sas_is_refused(azurite):
    """The store's SAS carries its lifetime in the signature: once over, Azurite says 403."""
    from shared.storage.store import ImageStore

    async with ImageStore.from_connection_string(azurite.connection_string, "sas-expiry") as store:
        png = render("expiring badger", 64, 64)
        await store.save_bytes("expiring.png", png, {})
        url = await store.sas_url("expiring.png", timedelta(seconds=2))
        async with httpx.AsyncClient(timeout=10) as client:
            assert (await client.get(url)).content == png
            deadline = time.monotonic() + 30
            status = 200
            while time.monotonic() < deadline and status == 200:
                status = (await client.get(url)).status_code
                if status == 200:
                    await _pause()
            assert status == 403


async def _pause() -> None:
    await asyncio.sleep(0.25)  # the poll interval of a loop with a deadline


# ---- the persist step under production-like settings --------------------------------------


@pytest.fixture
async def image_server() -> Any:
    """A real local server with a valid PNG, counting every request it gets."""
    hits: list[str] = []
    png = render("bait badger", 64, 64)

    async def serve(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(body=png, content_type="image/png")

    app = web.Application()
    app.router.add_get("/{tail:.*}", serve)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
    yield port, hits
    await runner.cleanup()


@pytest.fixture
def production_settings(azurite, monkeypatch) -> Iterator[None]:
    """The app's settings as in Azure: real-looking endpoint, no plain-http image hosts."""
    from shared.settings import reset_settings_cache

    for name in ("IMAGE_SOURCE_ALLOW_HTTP_HOSTS", "IMAGE_SOURCE_ALLOWED_HOSTS", "IMAGE_MODELS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://myresource.openai.azure.com")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "not-used-here")
    monkeypatch.setenv("IMAGES_CONTAINER", "prod-policy")
    monkeypatch.setenv("IMAGE_REQUESTS_QUEUE", "image-requests")
    reset_settings_cache()
    yield
    reset_settings_cache()


async def test_persist_refuses_unsafe_sources_in_production(production_settings, image_server):
    from shared.blueprints.activities import persist_image
    from shared.blueprints.deps import close_runtime, runtime
    from shared.storage import receipts

    port, hits = image_server
    unsafe = [
        f"http://127.0.0.1:{port}/img.png",  # plain http
        f"https://127.0.0.1:{port}/img.png",  # loopback
        f"http://localhost:{port}/img.png",
        "https://10.1.2.3/img.png",  # private
        "https://169.254.169.254/metadata/img.png",  # link-local (instance metadata)
        "https://[::1]/img.png",
        "https://images.example.com/img.png",  # not on the allow-list
        "https://account.blob.core.windows.net.attacker.example/img.png",
        "ftp://account.blob.core.windows.net/img.png",
        "https://user:pw@account.blob.core.windows.net/img.png",
    ]
    created = datetime.now(UTC)
    try:
        for i, url in enumerate(unsafe):
            # the URL as a generation's receipt holds it: persist_image reads it from there
            name = receipts.receipt_name(f"unsafe-{i}", created, 0)
            receipt = receipts.Receipt(
                job_id=f"unsafe-{i}",
                first_index=0,
                received=created,
                urls=[receipts.UrlImage(index=0, url=url)],
            )
            assert await receipts.keep(runtime().store, name, receipt)
            result = await persist_image(
                {
                    "job_id": f"unsafe-{i}",
                    "model": "dall-e-3",
                    "created": created.isoformat(),
                    "prompt": "bait",
                    "index": 0,
                    "first_index": 0,
                }
            )
            assert result["outcome"] == "error", (url, result)
            assert result["code"] == "image_download_failed", (url, result)
            assert "sig=" not in str(result)
            kept = await receipts.find(runtime().store, name)
            assert kept is not None
            assert kept.urls == [], "a refused URL was left in the receipt"
        assert hits == [], "the persist step connected to a refused source"
        container = runtime().store.service.get_container_client("prod-policy")
        assert [b.name async for b in container.list_blobs() if "/receipts/" not in b.name] == []
    finally:
        await close_runtime()


FUNCTION_KEY = "security-test-function-key-7f3a"
MASTER_KEY = "security-test-master-key-91c2"


def test_keys_and_other_jobs_links_never_leak_across_links_cancel_and_list(start_host, emulator):
    from devstack.host.app_secrets import SECRET_FILE

    host = start_host(DEVSTACK_FUNCTION_KEY=FUNCTION_KEY, DEVSTACK_MASTER_KEY=MASTER_KEY)
    key = {"x-functions-key": FUNCTION_KEY}
    seen = Recorded()
    with httpx.Client(timeout=30) as client:
        started = {}
        for prompt in ("linked badger 1", "linked badger 2"):
            r = client.post(f"{host.api_url}/images", json={"prompt": prompt}, headers=key)
            assert r.status_code == 202, r.text
            started[r.json()["id"]] = seen.add(r.json()["id"], r)
        emulator_patch(emulator, latency_seconds=3)
        slow = client.post(
            f"{host.api_url}/images",
            json={"prompt": "canceled badger"},
            params={"code": MASTER_KEY},
        )
        assert slow.status_code == 202, slow.text
        slow_id = slow.json()["id"]
        started[slow_id] = seen.add(slow_id, slow)
        canceled = client.delete(f"{host.api_url}/images/{slow_id}", headers=key)
        assert canceled.status_code == 202, canceled.text
        seen.add(slow_id, canceled)
        seen.add(slow_id, client.delete(f"{host.api_url}/images/{slow_id}", headers=key))
        for job_id, first in started.items():
            link = first.headers["Location"]
            deadline = time.monotonic() + 60
            while (r := seen.add(job_id, client.get(link))).status_code == 202:
                assert time.monotonic() < deadline, r.text
                time.sleep(0.2)
            query = link.partition("?")[2]
            seen.add(job_id, client.get(f"{host.api_url}/status/{job_id}/images/0?{query}"))
            seen.add(job_id, client.get(f"{host.api_url}/images/{job_id}", headers=key))
            seen.add(job_id, client.delete(f"{host.api_url}/images/{job_id}", headers=key))
        # Not tied to one job: the list (it links every job), refusals, unknowns.
        url: str | None = f"{host.api_url}/images?top=1"
        while url is not None:
            page = seen.add("", client.get(url, headers=key))
            assert page.status_code == 200, page.text
            url = page.json().get("nextLink")
        seen.add("", client.get(f"{host.api_url}/images"))
        seen.add("", client.get(f"{host.api_url}/status/{slow_id}"))
        seen.add("", client.get(f"{host.api_url}/images?top=0", headers=key))

    secret = (host.data_dir / SECRET_FILE).read_text(encoding="ascii")
    fixed = {
        "function key": FUNCTION_KEY,
        "master key": MASTER_KEY,
        "status-link secret": secret,
        "Azure OpenAI key": emulator.api_key,
        "storage account key": ACCOUNT_KEY,
    }
    link_sigs = {job_id: {sig_of(r.headers["Location"])} for job_id, r in started.items()}
    assert slow_id in seen.by_job
    assert len(link_sigs) == 3
    for job_id, texts in seen.by_job.items():
        others = {
            f"link of job {other}": sig
            for other, sigs in link_sigs.items()
            if other not in (job_id, "")
            for sig in sigs
        }
        forbidden = fixed if job_id == "" else fixed | others
        for text in texts:
            assert not leaks(text, forbidden), (job_id, leaks(text, forbidden), text)
            assert "code=" not in text, text
    everyone = {f"link {s}": s for sigs in link_sigs.values() for s in sigs}
    log = host.log
    assert "DELETE /api/images" in log, "the host log was not captured"
    # The signed links were followed and logged (their lines are among those checked below).
    for job_id in started:
        assert f"GET /api/status/{job_id} -> " in log, f"{job_id}'s link is not in the log"
    for line in log.splitlines():
        assert not leaks(line, fixed | everyone), (leaks(line, fixed | everyone), line)
        for value in _SIG.findall(line):
            assert value.startswith("REDACTED"), line
