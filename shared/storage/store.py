"""Blob persistence for generated images (async azure-storage-blob).

Every write goes through `StagedImage` (`open_staged`): base64 replies decoded as they stream
in, `copy_from_url` for URL replies, `save_bytes` for an image already in memory. Each checks the
bytes are an image and makes the blob in one final `commit_block_list`, so a failure anywhere
before it leaves nothing visible in the container; staged but uncommitted blocks are
never listed and the service garbage-collects them. Names are deterministic, writes overwrite, so
an activity that runs twice stores the same blob twice, harmlessly.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urljoin

from shared.imaging.types import ErrorCode, ImageApiError
from shared.storage import naming
from shared.storage.formats import MAGIC_BYTES_NEEDED, ImageFormat, dimensions, sniff
from shared.storage.metadata import encode_metadata
from shared.storage.policy import DownloadPolicy, refused
from shared.storage.records import ImageRecord

# azure-storage-blob, azure-core and httpx are imported where they are used: importing this module
# (the activities do, at the worker's start) must not load them; building an ImageStore does.
if TYPE_CHECKING:
    import httpx
    from azure.core.credentials_async import AsyncTokenCredential
    from azure.core.exceptions import AzureError
    from azure.storage.blob import BlobBlock, UserDelegationKey
    from azure.storage.blob.aio import BlobClient, BlobServiceClient

# Stage this much at a time: memory per image in flight is about twice this (the block being
# filled and the copy being sent), whatever the image's size.
BLOCK_SIZE = 2 * 1024 * 1024
HEAD_BYTES = 256 * 1024  # enough of the file to find JPEG dimensions behind EXIF
READ_CHUNK = 512 * 1024  # ranged reads of an edit's input: the most of it held at once
# An edit's fetched inputs are staged in smaller blocks than the service's images: up to 16
# are fetched by one HTTP request, whose memory is the figure the edits bench watches.
INPUT_BLOCK_SIZE = 1024 * 1024
SAS_CLOCK_SKEW = timedelta(minutes=5)
MAX_SAS_TTL = timedelta(days=7)  # a user delegation key lives at most 7 days
# Content types a blob host may plausibly send for an image; the magic bytes decide anyway.
_ACCEPTED_TYPES = ("image/", "application/octet-stream", "binary/octet-stream")


@dataclass(frozen=True)
class BlobFacts:
    """What an input needs before it is streamed: its size (for a Content-Length stated up
    front and the byte cap), the etag that pins the version read, its content type."""

    size: int
    etag: str
    content_type: str | None


@dataclass(frozen=True)
class PreviewBlob:
    """A job's latest partial image of image `index` (shared/storage/previews.py); `version`
    is a short token of the blob's etag: it changes whenever the blob does (a retried call's
    frame 0 is another blob than the first attempt's frame 0)."""

    index: int
    frame: int
    blob: str
    version: str = ""


# A job's previews folder holds one blob per image that streams (one-image jobs only): a
# listing of this many answers it whole.


class ByteWriter(Protocol):
    """Anything a download can be streamed into (a StagedImage, or a checker in front of one)."""

    async def write(self, chunk: bytes) -> None: ...


def _storage_error(exc: AzureError) -> ImageApiError:
    """Storage faults: transport trouble and 5xx are retryable, the rest is not ours to fix."""
    from azure.core.exceptions import ServiceRequestError, ServiceResponseError

    status = getattr(exc, "status_code", None)
    transient = isinstance(exc, ServiceRequestError | ServiceResponseError) or (
        isinstance(status, int) and (status >= 500 or status in (408, 429))
    )
    return ImageApiError(
        ErrorCode.UNAVAILABLE if transient else ErrorCode.IMAGE_DOWNLOAD_FAILED,
        f"Blob Storage failed ({type(exc).__name__}"
        + (f", HTTP {status}" if status else "")
        + ").",
        status=status if isinstance(status, int) else None,
    )


def _version_token(etag: str | None, last_modified: datetime | None) -> str:
    """A short token that changes whenever a blob does: of its etag (else its last-modified
    time), 12 hex digits of a hash, so a link carries no storage detail."""
    basis = etag or (last_modified.isoformat() if last_modified is not None else "")
    if not basis:
        return ""
    return hashlib.blake2s(basis.encode(), digest_size=6).hexdigest()


def _block_id(writer: str, index: int) -> str:
    """Block ids name their writer: Durable may run one activity twice at once (a redelivered
    task), and two writers staging the same ids into one blob could commit a mix of both images.
    Every block id of a blob must have the same length, across attempts too: 32 + 1 + 8 chars."""
    return base64.b64encode(f"{writer}-{index:08d}".encode()).decode()


class ImageStore:
    """Images in one container. Build with `from_connection_string` or `from_account_url`."""

    def __init__(
        self, service: BlobServiceClient, container: str, *, block_size: int = BLOCK_SIZE
    ) -> None:
        self.service = service
        self.container = container
        self.block_size = block_size
        self._container_ready = False
        self._ready_lock: asyncio.Lock | None = None
        self._delegation_key: UserDelegationKey | None = None
        self._delegation_expiry: datetime | None = None

    @classmethod
    def from_connection_string(
        cls, connection_string: str, container: str, *, block_size: int = BLOCK_SIZE
    ) -> ImageStore:
        """`UseDevelopmentStorage=true` or a full connection string (AccountName/AccountKey)."""
        from azure.storage.blob.aio import BlobServiceClient

        return cls(
            BlobServiceClient.from_connection_string(connection_string),
            container,
            block_size=block_size,
        )

    @classmethod
    def from_account_url(
        cls,
        account_url: str,
        credential: AsyncTokenCredential,
        container: str,
        *,
        block_size: int = BLOCK_SIZE,
    ) -> ImageStore:
        """Managed identity: `https://{account}.blob.core.windows.net` + a TokenCredential."""
        from azure.storage.blob.aio import BlobServiceClient

        return cls(
            BlobServiceClient(account_url, credential=credential), container, block_size=block_size
        )

    def __repr__(self) -> str:
        return f"ImageStore({self.service.url.split('?')[0]!r}, container={self.container!r})"

    async def close(self) -> None:
        await self.service.close()

    async def __aenter__(self) -> ImageStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ------------------------------------------------------------------ naming
    blob_name = staticmethod(naming.blob_name)

    # ------------------------------------------------------------------ container
    async def ensure_container(self) -> None:
        """Create the container once per store if it does not exist."""
        from azure.core.exceptions import AzureError, ResourceExistsError

        if self._container_ready:
            return
        if self._ready_lock is None:
            self._ready_lock = asyncio.Lock()
        async with self._ready_lock:
            if self._container_ready:
                return
            try:
                await self.service.get_container_client(self.container).create_container()
            except ResourceExistsError:
                pass
            except AzureError as exc:
                raise _storage_error(exc) from None
            self._container_ready = True

    def _blob(self, blob_name: str) -> BlobClient:
        return self.service.get_blob_client(self.container, blob_name)

    # ------------------------------------------------------------------ writes
    async def save_bytes(
        self, blob_name: str, data: bytes, metadata: Mapping[str, str | None]
    ) -> ImageRecord:
        """Store an image already in memory (tools and tests; the app streams): the same staged,
        checked, commit-at-the-end path as every other write."""
        staged = await self.open_staged(lambda _fmt: blob_name, max(len(data), 1))
        await staged.write(data)
        return await staged.commit(metadata)

    async def copy_from_url(
        self,
        url: str,
        blob_name: str,
        metadata: Mapping[str, str | None],
        http: httpx.AsyncClient,
        policy: DownloadPolicy,
    ) -> ImageRecord:
        """Stream an image from a (signed, short-lived) URL into a blob, block by block."""
        staged = await self.open_staged(lambda _fmt: blob_name, policy.max_bytes)
        await self.stage_from_url(url, staged, http, policy)
        return await staged.commit(metadata)

    async def stage_from_url(
        self,
        url: str,
        staged: ByteWriter,
        http: httpx.AsyncClient,
        policy: DownloadPolicy,
    ) -> None:
        """Stream the image at `url` into `staged` (nothing committed), under the download
        policy: allow-listed host, redirects within its origin, size cap, image content type,
        no truncation. Raises ImageApiError."""
        import httpx
        from azure.core.exceptions import AzureError

        policy.check(url)
        try:
            async with _open_source(http, url, policy) as response:
                declared = _content_length(response)
                if declared is not None and declared > policy.max_bytes:
                    raise refused(f"The image is larger than {policy.max_bytes} bytes.")
                content_type = (
                    response.headers.get("content-type", "").split(";")[0].strip().lower()
                )
                if content_type and not content_type.startswith(_ACCEPTED_TYPES):
                    raise refused(f"The image URL returned {content_type}, not an image.")
                received = 0
                async for chunk in response.aiter_bytes():
                    received += len(chunk)
                    await staged.write(chunk)
                if declared is not None and received != declared:
                    raise ImageApiError(
                        ErrorCode.UNAVAILABLE,
                        f"The image download was truncated ({received} of {declared} bytes).",
                    )
        except httpx.HTTPError as exc:
            raise ImageApiError(
                ErrorCode.UNAVAILABLE,
                f"Downloading the image failed ({type(exc).__name__}).",
            ) from None
        except AzureError as exc:
            raise _storage_error(exc) from None

    async def blob_facts(self, blob_name: str) -> BlobFacts | None:
        """Size, etag and content type of a committed blob; None when there is none."""
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            props = await self._blob(blob_name).get_blob_properties()
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise _storage_error(exc) from None
        content_type = props.content_settings.content_type if props.content_settings else None
        return BlobFacts(size=int(props.size), etag=str(props.etag), content_type=content_type)

    async def blob_chunks(
        self, blob_name: str, total: int, etag: str, *, chunk_size: int = READ_CHUNK
    ) -> AsyncIterator[bytes]:
        """The `total` bytes of a blob (as `blob_facts` found it) in ranged reads of
        `chunk_size`, so at most one chunk is held (the SDK's own download reads 32 MB in its
        first request). Pinned to `etag`: a blob overwritten midway fails (a Blob Storage error)
        instead of mixing two versions."""
        from azure.core import MatchConditions
        from azure.core.exceptions import AzureError

        blob = self._blob(blob_name)
        offset = 0
        try:
            while offset < total:
                length = min(chunk_size, total - offset)
                downloader = await blob.download_blob(
                    offset=offset,
                    length=length,
                    etag=etag,
                    match_condition=MatchConditions.IfNotModified,
                )
                chunk = await downloader.readall()
                if not chunk:
                    break
                offset += len(chunk)
                yield chunk
        except AzureError as exc:
            raise _storage_error(exc) from None

    async def save_marker(self, blob_name: str, text: str) -> None:
        """A small non-image blob (the cancel marker), overwritten if there: not through the
        image path, which checks magic bytes. ImageApiError when Blob Storage refuses."""
        from azure.core.exceptions import AzureError

        await self.ensure_container()
        try:
            await self._blob(blob_name).upload_blob(text.encode(), overwrite=True)
        except AzureError as exc:
            raise _storage_error(exc) from None

    async def delete_quietly(self, blob_names: list[str]) -> int:
        """Best effort: remove blobs this request committed before it failed (or a canceled
        job's). Answers how many are gone now: deleted, or already missing."""
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        gone = 0
        for name in blob_names:
            try:
                await self._blob(name).delete_blob()
            except ResourceNotFoundError:
                gone += 1
            except AzureError:
                continue
            else:
                gone += 1
        return gone

    async def delete_prefix(self, prefix: str, *, limit: int) -> tuple[int, bool]:
        """Delete up to `limit` committed blobs whose names start with `prefix` (a folder: it
        must end in "/", so one job's folder never matches another's), quietly
        (`delete_quietly`). Answers (how many are gone, whether blobs may be left: more than
        `limit` were listed, or some could not be deleted). A listing that fails raises
        ImageApiError (unavailable); a missing container holds nothing to delete. Staged,
        uncommitted blocks are not listed: the service drops them on its own."""
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        if not prefix.endswith("/") or prefix == "/":
            raise ValueError(f"delete_prefix needs a folder prefix ending in '/': {prefix!r}")
        if limit < 1:
            raise ValueError("limit must be >= 1")
        container = self.service.get_container_client(self.container)
        names: list[str] = []
        try:
            pages = container.list_blobs(name_starts_with=prefix, results_per_page=limit + 1)
            async for blob in pages:
                names.append(blob.name)
                if len(names) > limit:
                    break
        except ResourceNotFoundError:
            return 0, False
        except AzureError as exc:
            raise _storage_error(exc) from None
        batch = names[:limit]
        gone = await self.delete_quietly(batch)
        return gone, len(names) > limit or gone < len(batch)

    async def list_previews(self, prefix: str) -> list[PreviewBlob]:
        """The partial images under `prefix` (naming.previews_prefix), by index, in one listing
        with their metadata (`frame`); a blob that does not name an index or a frame is left
        out. A missing container holds none; a listing that fails raises ImageApiError."""
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        from shared.storage.metadata import decode_metadata

        container = self.service.get_container_client(self.container)
        found: list[PreviewBlob] = []
        try:
            pages = container.list_blobs(
                name_starts_with=prefix, include=["metadata"], results_per_page=naming.PREVIEWS_MAX
            )
            async for blob in pages:
                stem = blob.name.removeprefix(prefix).split(".")[0]
                frame = decode_metadata(blob.metadata or {}).get(naming.PREVIEW_FRAME_KEY, "")
                if stem.isascii() and stem.isdigit() and frame.isascii() and frame.isdigit():
                    found.append(
                        PreviewBlob(
                            index=int(stem),
                            frame=int(frame),
                            blob=blob.name,
                            version=_version_token(blob.etag, blob.last_modified),
                        )
                    )
                if len(found) >= naming.PREVIEWS_MAX:
                    break
        except ResourceNotFoundError:
            return []
        except AzureError as exc:
            raise _storage_error(exc) from None
        return sorted(found, key=lambda p: p.index)

    async def commit_blocks(
        self,
        blob_name: str,
        block_ids: list[str],
        content_type: str,
        metadata: Mapping[str, str | None],
    ) -> None:
        """Commit blocks another writer staged (maybe in a process that has since died), named
        by a receipt (shared/storage/receipts.py). The ids are sent as "latest", so a blob whose
        commit already went through commits the same bytes again, harmlessly; ids the service
        no longer holds (uncommitted blocks are dropped after about a week) are a terminal
        `image_download_failed`: the bytes are gone, and buying them again is not ours to do."""
        from azure.core.exceptions import AzureError, HttpResponseError
        from azure.storage.blob import BlobBlock, ContentSettings

        await self.ensure_container()
        try:
            await self._blob(blob_name).commit_block_list(
                [BlobBlock(block_id=block_id) for block_id in block_ids],
                content_settings=ContentSettings(content_type=content_type),
                metadata=encode_metadata(metadata),
            )
        except HttpResponseError as exc:
            code = getattr(exc, "error_code", None)
            code = getattr(code, "value", code)  # a StorageErrorCode (a str enum) or a str
            if code in ("InvalidBlockList", "InvalidBlockId", "BlobNotFound"):
                raise ImageApiError(
                    ErrorCode.IMAGE_DOWNLOAD_FAILED,
                    "The generated image's staged blocks are no longer in Blob Storage "
                    "(uncommitted blocks are dropped after about a week); it was not "
                    "generated again.",
                    status=exc.status_code,
                ) from None
            raise _storage_error(exc) from None
        except AzureError as exc:
            raise _storage_error(exc) from None

    async def open_staged(
        self, name_for: Callable[[ImageFormat], str], max_bytes: int
    ) -> StagedImage:
        """A writer for one image whose blob name depends on its format (known from its first
        bytes). Nothing is readable until `commit`."""
        await self.ensure_container()
        return StagedImage(self, name_for, max_bytes)

    # ------------------------------------------------------------------ reads
    async def sas_url(
        self,
        blob_name: str,
        ttl: timedelta,
        *,
        content_disposition: str | None = None,
        cache_control: str | None = None,
    ) -> str:
        """A read-only URL for one blob, valid for `ttl` (at most 7 days): account-key SAS with a
        key, user-delegation SAS with a token credential. `content_disposition`: the
        Content-Disposition the blob is answered with through this URL (`rscd`: a download);
        `cache_control` its Cache-Control (`rscc`: `no-store` for a preview, which changes)."""
        if ttl <= timedelta(0) or ttl > MAX_SAS_TTL:
            raise ValueError("ttl must be between 0 and 7 days")
        from azure.storage.blob import BlobSasPermissions, generate_blob_sas

        now = datetime.now(UTC)
        start, expiry = now - SAS_CLOCK_SKEW, now + ttl
        blob = self._blob(blob_name)
        credential: Any = self.service.credential
        account_key = getattr(credential, "account_key", None)
        account_name = self.service.account_name or getattr(credential, "account_name", None)
        if account_name is None:
            raise ValueError("cannot tell the storage account name from this client")
        permission = BlobSasPermissions(read=True)
        if account_key:
            token = generate_blob_sas(
                account_name,
                self.container,
                blob_name,
                account_key=account_key,
                permission=permission,
                expiry=expiry,
                start=start,
                content_disposition=content_disposition,
                cache_control=cache_control,
            )
        else:
            key = await self._user_delegation_key(expiry)
            token = generate_blob_sas(
                account_name,
                self.container,
                blob_name,
                user_delegation_key=key,
                permission=permission,
                expiry=expiry,
                start=start,
                content_disposition=content_disposition,
                cache_control=cache_control,
            )
        return f"{blob.url}?{token}"

    async def _user_delegation_key(self, needed_until: datetime) -> UserDelegationKey:
        """One delegation key serves many SAS URLs: cached while it outlives the SAS."""
        from azure.core.exceptions import AzureError

        if (
            self._delegation_key is not None
            and self._delegation_expiry is not None
            and self._delegation_expiry >= needed_until
        ):
            return self._delegation_key
        now = datetime.now(UTC)
        expiry = now + MAX_SAS_TTL - timedelta(minutes=1)
        try:
            key = await self.service.get_user_delegation_key(now - SAS_CLOCK_SKEW, expiry)
        except AzureError as exc:
            raise _storage_error(exc) from None
        self._delegation_key, self._delegation_expiry = key, expiry
        return key


class StagedImage:
    """One image written block by block as its bytes arrive; it becomes a blob only on `commit`,
    so a download or reply that breaks off midway leaves nothing readable behind (the service
    drops uncommitted blocks by itself). Memory stays bounded by the store's block size."""

    def __init__(
        self,
        store: ImageStore,
        name_for: Callable[[ImageFormat], str],
        max_bytes: int,
        *,
        block_size: int | None = None,
    ) -> None:
        self.store = store
        self.max_bytes = max_bytes
        self.block_size = block_size or store.block_size
        self.total = 0
        self.fmt: ImageFormat | None = None
        self.blob_name: str | None = None
        self._name_for = name_for
        self._blob: BlobClient | None = None
        self._head = bytearray()
        self._pending = bytearray()
        self._blocks: list[BlobBlock] = []
        self._writer = uuid.uuid4().hex  # activities may be random; see _block_id

    @property
    def writer(self) -> str:
        """The nonce in this writer's block ids (see `_block_id`): a receipt names it."""
        return self._writer

    async def seal(self) -> list[str]:
        """Stage every byte received so far, commit nothing, and answer the block ids in order:
        with them a receipt lets another process commit exactly this image after a crash
        (`ImageStore.commit_blocks`). `commit` still works afterwards. Only once the whole image
        has arrived."""
        if self.fmt is None:
            self._identify()
        if self._pending:
            await self._flush()
        return [block.id for block in self._blocks]

    def dimensions(self) -> tuple[int | None, int | None]:
        """(width, height) from the image's header, once its head has arrived."""
        return dimensions(bytes(self._head)) or (None, None)

    @property
    def head(self) -> bytes:
        """The first bytes of the image (up to HEAD_BYTES): its header, for checks."""
        return bytes(self._head)

    def identify(self) -> ImageFormat:
        """The format, from the bytes so far (raises for anything but PNG, JPEG or WEBP): for
        an image shorter than the magic bytes, which `write` has not identified yet."""
        if self.fmt is None:
            self._identify()
        assert self.fmt is not None
        return self.fmt

    def _identify(self) -> None:
        fmt = sniff(bytes(self._head[:MAGIC_BYTES_NEEDED]))
        if fmt is None:
            raise refused("The image data is not a PNG, JPEG or WEBP image.")
        self.fmt = fmt
        self.blob_name = self._name_for(fmt)
        if self._blob is None:
            self._blob = self.store._blob(self.blob_name)

    async def write(self, chunk: bytes) -> None:
        if not chunk:
            return
        self.total += len(chunk)
        if self.total > self.max_bytes:
            raise refused(f"The image is larger than {self.max_bytes} bytes.")
        if len(self._head) < HEAD_BYTES:
            self._head += chunk[: HEAD_BYTES - len(self._head)]
        if self.fmt is None and len(self._head) >= MAGIC_BYTES_NEEDED:
            self._identify()
        self._pending += chunk
        if self.fmt is not None and len(self._pending) >= self.block_size:
            await self._flush()

    async def _flush(self) -> None:
        from azure.core.exceptions import AzureError
        from azure.storage.blob import BlobBlock

        assert self._blob is not None
        block_id = _block_id(self._writer, len(self._blocks))
        data = bytes(self._pending)
        self._pending = bytearray()
        try:
            await self._blob.stage_block(block_id, data, length=len(data))
        except AzureError as exc:
            raise _storage_error(exc) from None
        self._blocks.append(BlobBlock(block_id=block_id))

    async def commit(self, metadata: Mapping[str, str | None]) -> ImageRecord:
        """Make the blob: only call once every byte has arrived and been checked."""
        from azure.core.exceptions import AzureError
        from azure.storage.blob import ContentSettings

        if self.fmt is None:
            self._identify()
        assert self._blob is not None
        assert self.fmt is not None
        assert self.blob_name is not None
        content = ContentSettings(content_type=self.fmt.content_type)
        try:
            if not self._blocks:
                # The whole image is in the one pending block (most are under BLOCK_SIZE): one
                # Put Blob instead of a Put Block and a Put Block List. Just as atomic — the
                # blob appears only once every byte is in — at half the storage round trips.
                await self._blob.upload_blob(
                    bytes(self._pending),
                    overwrite=True,
                    content_settings=content,
                    metadata=encode_metadata(metadata),
                )
                self._pending = bytearray()
            else:
                if self._pending:
                    await self._flush()
                await self._blob.commit_block_list(
                    self._blocks, content_settings=content, metadata=encode_metadata(metadata)
                )
        except AzureError as exc:
            raise _storage_error(exc) from None
        width, height = dimensions(bytes(self._head)) or (None, None)
        return ImageRecord(
            blob=self.blob_name,
            content_type=self.fmt.content_type,
            bytes=self.total,
            width=width,
            height=height,
            revised_prompt=metadata.get("revised_prompt"),
        )


def _content_length(response: httpx.Response) -> int | None:
    raw = response.headers.get("content-length")
    if raw is None or response.headers.get("content-encoding"):
        return None
    try:
        return int(raw)
    except ValueError:
        return None


@asynccontextmanager
async def _open_source(
    http: httpx.AsyncClient, url: str, policy: DownloadPolicy
) -> AsyncIterator[httpx.Response]:
    """GET the source URL, following redirects only within its origin and the policy.

    The client never follows a redirect itself: each hop's target is the Location joined to the
    URL as written (urllib, which keeps every character, so the policy judges the raw target and
    not a form httpx has already escaped) and must pass `DownloadPolicy.check_redirect` against
    the FIRST URL, so a chain cannot walk step by step to another scheme, host or port."""
    first = url
    for _ in range(policy.max_redirects + 1):
        request = http.build_request("GET", url, timeout=policy.timeout)
        response = await http.send(request, stream=True, follow_redirects=False)
        try:
            if response.has_redirect_location:
                url = policy.check_redirect(first, urljoin(url, response.headers["location"]))
                continue
            if response.status_code != 200:
                raise _source_status_error(response.status_code)
            yield response
            return
        finally:
            await response.aclose()
    raise refused("The image URL redirected too many times.")


def _source_status_error(status: int) -> ImageApiError:
    if status in (408, 429) or status >= 500:
        return ImageApiError(
            ErrorCode.UNAVAILABLE, f"The image host is unavailable (HTTP {status}).", status=status
        )
    if status in (401, 403, 404, 410):
        reason = "The image URL has expired or was refused"
    else:
        reason = "The image URL could not be downloaded"
    return ImageApiError(
        ErrorCode.IMAGE_DOWNLOAD_FAILED, f"{reason} (HTTP {status}).", status=status
    )
