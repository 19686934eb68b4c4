"""Clients pointed at the session's emulator; its faults switched on per test via its config."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from devstack.azurite import AzuriteEndpoints
from shared.imaging import Auth, Deployment, Family, Flavour
from shared.storage.store import ImageStore

API_VERSIONS = {
    Flavour.AZURE_DALLE2_ASYNC: "2023-06-01-preview",
    Flavour.AZURE_DEPLOYMENT: "2025-04-01-preview",
    Flavour.AZURE_V1: None,
    Flavour.OPENAI: None,
}
FAMILY = {"dall-e-2": Family.DALLE2, "dall-e-3": Family.DALLE3, "gpt-image-1": Family.GPT_IMAGE}


@pytest.fixture
def deployment(emulator) -> Callable[..., Deployment]:
    """`deployment(flavour, model)`: a Deployment on the emulator (its deployments are named
    after their models)."""

    def make(flavour: Flavour, model: str, **overrides: Any) -> Deployment:
        fields: dict[str, Any] = {
            "name": model,
            "deployment": model,
            "family": FAMILY[model],
            "flavour": flavour,
            "endpoint": emulator.base_url,
            "api_version": API_VERSIONS[flavour],
        }
        fields.update(overrides)
        return Deployment(**fields)

    return make


@pytest.fixture
def auth(emulator) -> Auth:
    return Auth.from_key(emulator.api_key)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def configure(emulator, http) -> Callable[..., Awaitable[dict[str, Any]]]:
    """Patch the emulator's runtime config; the `emulator` fixture resets it after the test."""

    async def patch(**values: Any) -> dict[str, Any]:
        r = await http.put(f"{emulator.base_url}/_emulator/config", json=values)
        assert r.status_code == 200, r.text
        return r.json()

    return patch


@pytest.fixture
async def store(azurite: AzuriteEndpoints) -> AsyncIterator[ImageStore]:
    s = ImageStore.from_connection_string(
        azurite.connection_string, f"gen-{uuid.uuid4().hex[:12]}", block_size=64 * 1024
    )
    async with s:
        yield s
