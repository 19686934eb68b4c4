"""Injected faults: the image service throttles (30 % random 429s), fails (10 % 5xx), drops
connections, serves slow and truncated downloads and filters prompts, and Blob Storage goes away
for 10 s mid-run.

What a user must see: every job ends (none hangs past the deadline), succeeded or failed with a
code that says why; content-filtered prompts fail as ``content_filter`` and transient faults are
absorbed; and nothing half-written is ever visible in the container — every stored blob is
byte for byte what the emulator draws (its pure ``render`` function) for that job's prompt.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.storage.blob import BlobServiceClient

from devstack.azurite import Azurite, AzuriteEndpoints
from devstack.emulator.images import render

from .conftest import Job, emulator_patch, emulator_stats, poll_until_done, post_job

CONTAINER = "images"
OUTAGE_S = 10.0
FILTER_WORD = "forbidden-badger"
# Model → (request body extras, rendered width, height).
MODELS: dict[str, tuple[dict[str, Any], int, int]] = {
    "dall-e-3": ({}, 1024, 1024),  # URL reply: the download sees slow and truncated bodies
    "gpt-image-1": ({"output_format": "png"}, 1024, 1024),  # base64 reply
    "dall-e-2": ({"size": "256x256"}, 256, 256),  # async operation, polled
}
EXT_FORMAT = {"png": "png", "jpg": "jpeg", "webp": "webp"}
TRANSIENT = {"unavailable", "throttled", "deadline_exceeded", "image_download_failed"}


class RestartableAzurite:
    """Azurite persisted to disk, so it can be stopped and started again on the same ports."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.server = Azurite(data_dir)
        self.endpoints: AzuriteEndpoints = self.server.start()

    def stop(self) -> None:
        self.server.stop()  # SIGTERM: Azurite flushes what it has

    def start(self) -> None:
        e = self.endpoints
        self.server = Azurite(
            self.data_dir, blob_port=e.blob_port, queue_port=e.queue_port, table_port=e.table_port
        )
        self.server.start()


@pytest.fixture
def own_azurite(tmp_path: Path) -> Iterator[RestartableAzurite]:
    azurite = RestartableAzurite(tmp_path / "azurite")
    try:
        yield azurite
    finally:
        azurite.stop()


def stored_blobs(connection_string: str) -> dict[str, bytes]:
    """The stored images (not the generations' receipts beside them, in `receipts/`)."""
    service = BlobServiceClient.from_connection_string(connection_string)
    container = service.get_container_client(CONTAINER)
    if not container.exists():
        return {}
    return {
        blob.name: container.download_blob(blob.name).readall()
        for blob in container.list_blobs()
        if "/receipts/" not in blob.name
    }


def expected_blob(jobs_by_id: dict[str, Job], name: str) -> bytes:
    """What the emulator draws for the job and image index a blob name stands for."""
    *_, job_id, leaf = name.split("/")
    index, ext = leaf.split(".")
    job = jobs_by_id[job_id]
    _, width, height = MODELS[job.body["model"]]
    # One image per job here, so the emulator's own index is 0 for every flavour.
    assert index == "0", name
    return render(job.prompt, width, height, 0, EXT_FORMAT[ext])


def run_faulty_batch(
    start_host: Any, emulator: Any, azurite: RestartableAzurite, jobs_n: int, rpm: int | None
) -> None:
    faults: dict[str, Any] = {
        "seed": 20261126,
        "latency_seconds": 0.2,
        "latency_jitter_seconds": 0.5,
        "error_rate_429": 0.3,  # the mix: 30 % throttled, 10 % server errors
        "error_429_retry_after_seconds": 1,
        "error_rate_500": 0.05,
        "error_rate_503": 0.05,
        # Drops and 5xx carry no Retry-After: the app backs off exponentially on them, counting
        # the 429 attempts too, so a higher drop rate mostly buys long waits, not coverage.
        "drop_rate": 0.05,
        "truncate_rate": 0.2,
        "download_bytes_per_second": 200_000,
        "content_filter_words": [FILTER_WORD],
        "async_retry_after_seconds": 1,
    }
    if rpm is not None:  # a real quota on top of the random 429s
        faults["rpm_per_deployment"] = {"dall-e-3": rpm, "gpt-image-1": rpm}
    emulator_patch(emulator, **faults)
    host = start_host(
        storage=azurite.endpoints.connection_string,
        IMAGE_JOB_DEADLINE_SECONDS="240",
        IMAGE_MAX_ATTEMPTS="8",
    )
    names = list(MODELS)
    with httpx.Client(timeout=30) as client:
        jobs: list[Job] = []
        for i in range(jobs_n):
            model = names[i % len(names)]
            word = FILTER_WORD if i % 4 == 3 else "badger"  # every model meets the filter
            body = {"prompt": f"fault {word} {i}", "model": model, "n": 1, **MODELS[model][0]}
            jobs.append(post_job(client, host.api_url, body))

        outage: dict[str, float] = {}

        def storage_outage() -> None:
            """Stop Azurite once a few jobs are done; start it again after OUTAGE_S."""
            done = sum(j.done for j in jobs)
            if "stopped" not in outage and done >= 2:
                outage["stopped"] = time.monotonic()
                outage["pending"] = jobs_n - done
                azurite.stop()
            elif (
                "stopped" in outage
                and "started" not in outage
                and time.monotonic() - outage["stopped"] >= OUTAGE_S
            ):
                azurite.start()
                outage["started"] = time.monotonic()

        poll_until_done(client, jobs, deadline_s=300, between=storage_outage)
        if "stopped" in outage and "started" not in outage:
            azurite.start()
        assert outage.get("pending", 0) > 0, "the outage came after every job had finished"

    outcomes: dict[str, str] = {}
    for job in jobs:
        assert job.final is not None
        assert job.id is not None
        body = job.final.json()
        if FILTER_WORD in job.prompt:
            assert job.final.status_code == 422, f"{job.prompt}: {body}"
            assert body["error"]["code"] == "content_filter", body
            outcomes[job.id] = "filtered"
            continue
        if job.final.status_code == 422:
            # A transient fault that outlasted every attempt: allowed, but it must say so.
            assert body["error"]["code"] in TRANSIENT, body
            assert body["error"]["message"], body
            outcomes[job.id] = "failed"
            continue
        assert job.final.status_code == 200, f"{job.prompt}: {job.final.text}"
        assert len(body["images"]) == 1
        outcomes[job.id] = "succeeded"

    stats = emulator_stats(emulator)["served"]
    # The faults really happened (truncation is random: not required).
    assert stats["injected_429"] > 0, stats
    assert stats["server_errors_5xx"] + stats["dropped_connections"] > 0, stats
    assert stats["truncated_downloads"] + stats["throttled_downloads"] > 0, stats
    assert stats["prompts_filtered"] + stats["images_filtered"] > 0, stats

    # Nothing half-written: every blob in the container is exactly the emulator's image, and
    # every succeeded job's image is there.
    by_id = {j.id: j for j in jobs if j.id}
    blobs = stored_blobs(azurite.endpoints.connection_string)
    for name, data in blobs.items():
        assert data == expected_blob(by_id, name), f"{name}: stored bytes differ from the image"
    stored_jobs = {name.split("/")[-2] for name in blobs}
    succeeded = {i for i, o in outcomes.items() if o == "succeeded"}
    assert succeeded <= stored_jobs
    assert not stored_jobs & {i for i, o in outcomes.items() if o == "filtered"}
    # Transient faults are retried, not passed on: nearly every job gets its image.
    assert len(succeeded) >= 0.9 * sum(o != "filtered" for o in outcomes.values()), outcomes


def test_faults_and_a_storage_outage_end_every_job_cleanly(start_host, emulator, own_azurite):
    run_faulty_batch(start_host, emulator, own_azurite, jobs_n=18, rpm=None)


@pytest.mark.soak
def test_faults_outage_and_quota_on_a_larger_batch(start_host, emulator, own_azurite):
    run_faulty_batch(start_host, emulator, own_azurite, jobs_n=90, rpm=12)
