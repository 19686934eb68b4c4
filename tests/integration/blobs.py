"""Reading what a test stored, straight through the Blob SDK (the app itself never reads an
image back: it hands out SAS links)."""

from __future__ import annotations

from shared.storage.store import ImageStore


async def read_blob(store: ImageStore, name: str) -> tuple[bytes, dict[str, str], str | None]:
    """Bytes, raw metadata and content type of a stored blob."""
    downloader = await store.service.get_blob_client(store.container, name).download_blob()
    data = await downloader.readall()
    props = downloader.properties
    return data, dict(props.metadata or {}), props.content_settings.content_type


async def blob_exists(store: ImageStore, name: str) -> bool:
    return bool(await store.service.get_blob_client(store.container, name).exists())
