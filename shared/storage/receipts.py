"""Receipts: what the image service answered, kept in Blob Storage until the images are stored.

A synchronous generation is paid for when the service answers, but its images are stored only
afterwards (a URL reply is copied, a base64 reply's staged blocks are committed). If the host
dies in between, Durable runs the `generate_images` activity again with the same input, and
without a record of the answer it would buy the images again. So the activity writes a receipt
*before* it stores anything, and a re-run that finds one stores from it instead of calling the
service (`shared/blueprints/activities.py`).

* Name: `{yyyy}/{mm}/{dd}/{job id}/receipts/{first_index}.json`, beside the job's images and
  deterministic from the activity's input, so a re-run finds it with one read. The `receipts/`
  folder cannot collide with an image (`{index}.{ext}`), and the job's result and image routes
  name their blobs explicitly, so a receipt never shows there.
* Content (`Receipt`): for URL replies the service's signed URL(s), revised prompts and the URL's
  expiry (the SAS `se`, when it has one); for base64 replies each image's blob name, content
  type, size, dimensions, writer nonce and block ids, so exactly those staged blocks can be
  committed. No image bytes and no secret beyond the service's own image URL, which is why a
  receipt lives in the private images container, never in Durable history, and is never logged.
* Lifetime: written once the whole reply has arrived, deleted once the images are stored (or the
  activity hands an uncopied URL to `persist_image`, through history as before, or gives up).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.imaging.types import ErrorCode, ImageApiError
from shared.storage import naming

if TYPE_CHECKING:
    from shared.storage.store import ImageStore

log = logging.getLogger(__name__)
VERSION = 1


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class UrlImage(_Part):
    """An image still at the service's (signed, short-lived) URL."""

    index: int = Field(ge=0)
    url: str
    revised_prompt: str | None = None
    expires: datetime | None = None  # None: the URL does not say (Azure's last about an hour)

    def expired(self, now: datetime) -> bool:
        return self.expires is not None and self.expires <= now


class StagedBlocks(_Part):
    """An image whose bytes are all staged, uncommitted, in `blob` by writer `writer`."""

    index: int = Field(ge=0)
    blob: str
    content_type: str
    bytes: int = Field(ge=0)
    width: int | None = None
    height: int | None = None
    revised_prompt: str | None = None
    writer: str
    block_ids: list[str] = Field(min_length=1)


class Receipt(_Part):
    """The service's whole answer to one `generate_images` call, in a storable form."""

    version: int = VERSION
    job_id: str
    first_index: int = Field(ge=0)
    received: datetime
    urls: list[UrlImage] = Field(default_factory=list)
    staged: list[StagedBlocks] = Field(default_factory=list)


def receipt_name(job_id: str, created: datetime, first_index: int) -> str:
    """`{yyyy}/{mm}/{dd}/{job}/receipts/{first_index}.json`: the job's folder, by the same rule
    (and job-id check) as its images."""
    folder = naming.blob_name(job_id, created, first_index, "json").rsplit("/", 1)[0]
    return f"{folder}/receipts/{first_index}.json"


def url_expiry(url: str) -> datetime | None:
    """When a signed URL stops working, from its SAS `se` (Azure's and the emulator's image URLs
    carry one); None if it has none or it does not parse."""
    values = parse_qs(urlsplit(url).query).get("se")
    if not values:
        return None
    try:
        when = datetime.fromisoformat(values[0])
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


async def keep(store: ImageStore, name: str, receipt: Receipt) -> bool:
    """Write the receipt; False (logged without its content) if Blob Storage refused. The images
    are in hand then, so storing them goes on: failing the call would surely buy them again."""
    from azure.core.exceptions import AzureError
    from azure.storage.blob import ContentSettings

    try:
        await store.ensure_container()
        await store.service.get_blob_client(store.container, name).upload_blob(
            receipt.model_dump_json(exclude_none=True).encode(),
            overwrite=True,
            content_settings=ContentSettings(content_type="application/json"),
        )
    except (AzureError, ImageApiError) as exc:
        log.warning("could not keep the receipt of a generation: %s", type(exc).__name__)
        return False
    return True


async def find(store: ImageStore, name: str) -> Receipt | None:
    """The receipt a crashed run left, or None. A receipt that does not parse (another version,
    a torn write) is dropped and the call made again: it can no longer be trusted."""
    from azure.core.exceptions import AzureError, ResourceNotFoundError

    blob = store.service.get_blob_client(store.container, name)
    try:
        data = await (await blob.download_blob()).readall()
    except ResourceNotFoundError:
        return None
    except AzureError as exc:  # not knowing is no reason to buy again: the call is retried
        raise ImageApiError(
            ErrorCode.UNAVAILABLE,
            f"Blob Storage failed reading a generation receipt ({type(exc).__name__}).",
        ) from None
    try:
        receipt = Receipt.model_validate_json(data)
    except ValidationError:
        log.warning("dropping an unreadable generation receipt")
        await discard(store, name)
        return None
    if receipt.version != VERSION:
        log.warning("dropping a generation receipt of version %s", receipt.version)
        await discard(store, name)
        return None
    return receipt


async def discard(store: ImageStore, name: str) -> None:
    """Delete the receipt once it has served; a receipt left behind (storage refused) is only
    read again if the same call re-runs, and then it is still right."""
    from azure.core.exceptions import AzureError, ResourceNotFoundError

    try:
        await store.service.get_blob_client(store.container, name).delete_blob()
    except ResourceNotFoundError:
        pass
    except AzureError as exc:
        log.warning("could not delete a generation receipt: %s", type(exc).__name__)
