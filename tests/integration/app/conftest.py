"""The app's activities against the real emulator (over a socket) and Azurite.

`app_env` points the app's settings at the session's emulator and Azurite, with a fresh images
container per test, every model flavour configured, and the process Runtime rebuilt so that the
pooled HTTP client and the blob client follow the new settings.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from azure.storage.blob.aio import BlobServiceClient

from devstack import launch
from devstack.azurite import AzuriteEndpoints
from shared.blueprints import activities
from shared.blueprints.deps import close_runtime
from shared.models import JobInput
from shared.orchestration import contracts
from shared.settings import get_settings, reset_settings_cache
from shared.storage import decode_metadata
from tests.conftest import EmulatorHandle
from tests.unit.app.engine import Engine, Run

ACTIVITIES: dict[str, Callable[[dict[str, Any]], Any]] = {
    contracts.GENERATE: activities.generate_images,
    contracts.PERSIST: activities.persist_image,
    contracts.SUBMIT: activities.submit_operation,
    contracts.POLL: activities.poll_operation,
    contracts.DELETE: activities.delete_operation,
    contracts.DISCARD: activities.discard_job_blobs,
}

MODELS = {
    "dall-e-2": {"deployment": "dall-e-2", "family": "dall-e-2", "flavour": "azure-dalle2-async"},
    "dall-e-3": {"deployment": "dall-e-3", "family": "dall-e-3", "flavour": "azure-deployment"},
    "gpt-image-1": {
        "deployment": "gpt-image-1",
        "family": "gpt-image",
        "flavour": "azure-deployment",
    },
    "gpt-image-1-mini-v1": {
        "deployment": "gpt-image-1-mini",
        "family": "gpt-image",
        "flavour": "azure-v1",
    },
    "dall-e-3-openai": {"deployment": "dall-e-3", "family": "dall-e-3", "flavour": "openai"},
}


@dataclass
class Blob:
    data: bytes
    content_type: str
    metadata: dict[str, str]


@dataclass
class AppEnv:
    container: str
    emulator: EmulatorHandle
    service: BlobServiceClient

    async def blob(self, name: str) -> Blob:
        client = self.service.get_blob_client(self.container, name)
        download = await client.download_blob()
        data = await download.readall()
        props = await client.get_blob_properties()
        return Blob(data, props.content_settings.content_type, decode_metadata(props.metadata))

    async def blob_names(self) -> list[str]:
        container = self.service.get_container_client(self.container)
        if not await container.exists():
            return []
        return [b.name async for b in container.list_blobs()]

    def configure_emulator(self, **patch: Any) -> None:
        self.emulator.configure(**patch)

    def emulator_stats(self) -> dict[str, Any]:
        return self.emulator.stats()

    async def replay(self, job: JobInput, **kwargs: Any) -> Run:
        """The real orchestrator (replayed by the SDK, timers instant) calling the real
        activities on this loop. The engine runs in a thread, as the host's would."""
        loop = asyncio.get_running_loop()

        def respond(name: str, payload: dict[str, Any]) -> dict[str, Any]:
            future = asyncio.run_coroutine_threadsafe(ACTIVITIES[name](payload), loop)
            return future.result(timeout=120)

        return await asyncio.to_thread(Engine(job, respond, **kwargs).run)


@pytest.fixture
async def app_env(
    azurite: AzuriteEndpoints, emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[AppEnv]:
    container = f"it-{uuid.uuid4().hex[:12]}"
    env = launch.app_env(
        azurite.connection_string,
        emulator.base_url,
        emulator.api_key,
        base={},  # only the settings, set on this process below
        IMAGES_CONTAINER=container,
        OPENAI_API_KEY=emulator.api_key,
        OPENAI_BASE_URL=emulator.base_url,
        IMAGE_MODELS=json.dumps(MODELS),
        IMAGE_DEFAULT_MODEL="dall-e-3",
        STATUS_LINK_SECRET="integration-tests-status-link-secret",
    )
    for key in ("IMAGES_STORAGE_CONNECTION", "IMAGES_STORAGE_ACCOUNT_URL"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    await close_runtime()
    reset_settings_cache()
    get_settings()
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    try:
        yield AppEnv(container=container, emulator=emulator, service=service)
    finally:
        await close_runtime()
        reset_settings_cache()
        await service.close()
