"""A fresh container per test in the session's Azurite, plus a source container to download from."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from azure.storage.blob import BlobSasPermissions, ContentSettings, generate_blob_sas
from azure.storage.blob.aio import BlobServiceClient

from devstack.azurite import ACCOUNT_KEY, ACCOUNT_NAME, AzuriteEndpoints
from shared.storage.store import ImageStore


@pytest.fixture
async def store(azurite: AzuriteEndpoints) -> AsyncIterator[ImageStore]:
    # Small blocks so that a test image of a few hundred KB is staged as many blocks.
    s = ImageStore.from_connection_string(
        azurite.connection_string, f"images-{uuid.uuid4().hex[:12]}", block_size=64 * 1024
    )
    async with s:
        yield s


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


class SourceBlobs:
    """Files served by Azurite with SAS URLs: stand-ins for the service's signed image URLs."""

    def __init__(self, service: BlobServiceClient, container: str) -> None:
        self.service = service
        self.container = container

    async def put(
        self,
        data: bytes,
        content_type: str = "image/png",
        *,
        expires_in: timedelta = timedelta(hours=1),
    ) -> str:
        name = f"{uuid.uuid4().hex}.bin"
        await self.service.get_blob_client(self.container, name).upload_blob(
            data, content_settings=ContentSettings(content_type=content_type)
        )
        now = datetime.now(UTC)
        sas = generate_blob_sas(
            ACCOUNT_NAME,
            self.container,
            name,
            account_key=ACCOUNT_KEY,
            permission=BlobSasPermissions(read=True),
            start=now - timedelta(hours=2),
            expiry=now + expires_in,
        )
        return f"{self.service.url.rstrip('/')}/{self.container}/{name}?{sas}"


@pytest.fixture
async def sources(azurite: AzuriteEndpoints) -> AsyncIterator[SourceBlobs]:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = f"src-{uuid.uuid4().hex[:12]}"
    async with service:
        await service.create_container(container)
        yield SourceBlobs(service, container)
