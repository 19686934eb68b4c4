"""Receipts: what the image service answered, and what became of each image, in Blob Storage.

A synchronous generation is paid for when the service answers, but its images are stored only
afterwards (a URL reply is copied, a base64 reply's staged blocks are committed). If the host
dies in between, Durable runs the activity again with the same input, and without a record of the
answer it would buy the images again. So `generate_images` writes a receipt *before* it stores
anything, and every later run — a re-run of `generate_images`, or `persist_image` storing an
image the first run could not — works from the receipt instead of calling the service
(`shared/blueprints/activities.py`).

* Name: `{yyyy}/{mm}/{dd}/{job id}/receipts/{first_index}.json`, beside the job's images and
  deterministic from the activity's input, so a re-run finds it with one read. The `receipts/`
  folder cannot collide with an image (`{index}.{ext}`), and the job's result and image routes
  name their blobs explicitly, so a receipt never shows there.
* Each image of the answer is in exactly one state:
  - `urls`: still at the service's (signed, short-lived) URL, with its expiry (the SAS `se`);
  - `staged`: a base64 image whose bytes are all staged, uncommitted, with the block ids;
  - `stored`: in its blob — the blob name and facts, as history holds them;
  - `failed`: given up on for good — the error's code and message.
  Only the first two carry anything worth hiding (the service's own signed URL, our block ids),
  which is why a receipt lives in the private images container, never in Durable history, and is
  never logged.
* Lifetime: written once the whole reply has arrived; *rewritten*, never deleted, as its images
  are stored or given up on, so a run that dies after storing, before Durable recorded its
  result, answers again from the receipt without buying or copying anything. Once no image is
  pending a receipt holds no URL and no block id, only a few hundred bytes of records, and stays
  beside the job's images (a lifecycle rule on `*/receipts/` may expire them with the images).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.imaging.types import ErrorCode, ImageApiError
from shared.storage import naming
from shared.storage.records import ImageRecord

if TYPE_CHECKING:
    from shared.storage.store import ImageStore

log = logging.getLogger(__name__)
VERSION = 2
READABLE_VERSIONS = (1, 2)  # version 1 had no `stored`/`failed`: it reads as all pending
_UPDATE_TRIES = 5  # concurrent writers of one receipt: persist_image of several of its images


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


class StoredImage(ImageRecord):
    """An image of the answer that is in its blob: what history holds of it, nothing more."""

    index: int = Field(ge=0)

    def record(self) -> ImageRecord:
        return ImageRecord.model_validate(self.model_dump(exclude={"index"}))


class FailedImage(_Part):
    """An image given up on for good: a re-run answers this error instead of trying again."""

    index: int = Field(ge=0)
    code: str
    message: str


Pending = UrlImage | StagedBlocks
Entry = UrlImage | StagedBlocks | StoredImage | FailedImage


class Receipt(_Part):
    """The service's whole answer to one `generate_images` call, and each image's state."""

    version: int = VERSION
    job_id: str
    first_index: int = Field(ge=0)
    received: datetime
    urls: list[UrlImage] = Field(default_factory=list)
    staged: list[StagedBlocks] = Field(default_factory=list)
    stored: list[StoredImage] = Field(default_factory=list)
    failed: list[FailedImage] = Field(default_factory=list)

    @property
    def pending(self) -> list[Pending]:
        """The images still to store, by index: the only entries holding a URL or block ids."""
        return sorted([*self.urls, *self.staged], key=lambda e: e.index)

    def entry(self, index: int) -> Entry | None:
        """Image `index`'s entry, whatever its state (None: the answer has no such image)."""
        for entries in (self.stored, self.failed, self.urls, self.staged):
            for e in entries:
                if e.index == index:
                    return e
        return None

    def _without(self, index: int) -> dict[str, list[Entry]]:
        return {
            "urls": [u for u in self.urls if u.index != index],
            "staged": [s for s in self.staged if s.index != index],
            "stored": [s for s in self.stored if s.index != index],
            "failed": [f for f in self.failed if f.index != index],
        }

    def with_stored(self, image: StoredImage) -> Receipt:
        """This receipt with `image` stored: its URL or block ids are dropped."""
        parts = self._without(image.index)
        parts["stored"] = sorted([*parts["stored"], image], key=lambda e: e.index)
        return self.model_copy(update=parts)

    def with_failed(self, index: int, code: str, message: str) -> Receipt:
        """This receipt with image `index` given up on: its URL or block ids are dropped. An
        image already stored stays stored (another run of its persist got there first)."""
        if isinstance(self.entry(index), StoredImage):
            return self
        parts = self._without(index)
        failure = FailedImage(index=index, code=code, message=message)
        parts["failed"] = sorted([*parts["failed"], failure], key=lambda e: e.index)
        return self.model_copy(update=parts)

    def all_failed(self, code: str, message: str) -> Receipt:
        """Every pending image given up on: the receipt keeps no URL and no block id."""
        receipt = self
        for entry in self.pending:
            receipt = receipt.with_failed(entry.index, code, message)
        return receipt


def receipt_name(job_id: str, created: datetime, first_index: int) -> str:
    """`{yyyy}/{mm}/{dd}/{job}/receipts/{first_index}.json`: the job's folder, by the same rule
    (and job-id check) as its images."""
    if first_index < 0:
        raise ValueError("index must be >= 0")
    return f"{naming.job_folder(job_id, created)}/receipts/{first_index}.json"


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


async def keep(store: ImageStore, name: str, receipt: Receipt, *, etag: str | None = None) -> bool:
    """Write the receipt (with `etag`: only over that version); False (logged without its
    content) if Blob Storage refused. The images are in hand then, so storing them goes on:
    failing the call would surely buy them again."""
    from azure.core import MatchConditions
    from azure.core.exceptions import AzureError, ResourceModifiedError
    from azure.storage.blob import ContentSettings

    data = receipt.model_dump_json(exclude_none=True).encode()
    settings = ContentSettings(content_type="application/json")
    try:
        await store.ensure_container()
        blob = store.service.get_blob_client(store.container, name)
        if etag is None:
            await blob.upload_blob(data, overwrite=True, content_settings=settings)
        else:  # the SDK passes an `etag=None` on to the transport: only name it when it is set
            await blob.upload_blob(
                data,
                overwrite=True,
                content_settings=settings,
                etag=etag,
                match_condition=MatchConditions.IfNotModified,
            )
    except ResourceModifiedError:
        raise
    except (AzureError, ImageApiError) as exc:
        log.warning("could not keep the receipt of a generation: %s", type(exc).__name__)
        return False
    return True


async def _read(store: ImageStore, name: str) -> tuple[Receipt, str | None] | None:
    from azure.core.exceptions import AzureError, ResourceNotFoundError

    blob = store.service.get_blob_client(store.container, name)
    try:
        download = await blob.download_blob()
        data = await download.readall()
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
    if receipt.version not in READABLE_VERSIONS:
        log.warning("dropping a generation receipt of version %s", receipt.version)
        await discard(store, name)
        return None
    return receipt, download.properties.etag


async def find(store: ImageStore, name: str) -> Receipt | None:
    """The receipt an earlier run left, or None. A receipt that does not parse (an unknown
    version, a torn write) is dropped and the call made again: it can no longer be trusted."""
    found = await _read(store, name)
    return None if found is None else found[0]


async def update(
    store: ImageStore, name: str, change: Callable[[Receipt], Receipt]
) -> Receipt | None:
    """Apply `change` to the stored receipt and write it back only over the version it read, so
    two `persist_image` runs for images of one receipt cannot undo each other's change (which
    would leave a stored image's URL behind). None if there is no receipt, or the write was
    refused (logged): the change was then not made."""
    from azure.core.exceptions import ResourceModifiedError

    for _ in range(_UPDATE_TRIES):
        found = await _read(store, name)
        if found is None:
            return None
        receipt, etag = found
        changed = change(receipt)
        try:
            kept = await keep(store, name, changed, etag=etag)
        except ResourceModifiedError:
            continue  # another writer came first: apply the change to its version
        return changed if kept else None
    log.warning("could not update a generation receipt: it kept changing")
    return None


async def discard(store: ImageStore, name: str) -> None:
    """Delete a receipt that can no longer be trusted (it does not parse)."""
    from azure.core.exceptions import AzureError, ResourceNotFoundError

    try:
        await store.service.get_blob_client(store.container, name).delete_blob()
    except ResourceNotFoundError:
        pass
    except AzureError as exc:
        log.warning("could not delete a generation receipt: %s", type(exc).__name__)
