"""An edit's inputs: fetched, checked and staged under the job's folder before the job starts.

`stage_inputs` takes every input of a request (an upload or inline base64 already in memory, a
URL under the download policy, a blob of the images container, an image of an earlier job) and
streams each into a `StagedImage` at `{folder}/inputs/{batch}/{i}.{ext}` (`.../mask.png`),
checking as the bytes arrive: the format by magic bytes, the byte cap, decodable dimensions and
pixel count, and for the mask a PNG with alpha, the first image's size. Nothing is committed
until every input has passed, so a refused request leaves nothing readable in Blob Storage
(staged blocks are never listed, and the service drops them); only then is each committed, and
the job starts with their blob names alone. A failure is an `InputProblem` naming the field.

`open_sources` is the other end: the generating activity's view of the staged inputs, as
`InputFile`s that stream from Blob Storage in ranged reads, so a 20 MB reference image is never
held whole on its way to the service.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from shared.imaging.types import EditInputs, EditSources, ErrorCode, ImageApiError
from shared.storage import naming
from shared.storage.formats import FORMATS, PNG, ImageFormat, png_has_alpha
from shared.storage.records import InputRecord
from shared.storage.store import BLOCK_SIZE, INPUT_BLOCK_SIZE, StagedImage

if TYPE_CHECKING:
    import httpx

    from shared.edit_requests import InputRef
    from shared.storage.policy import DownloadPolicy
    from shared.storage.store import ImageStore

# An earlier job's image, by (job id, index): its blob name, or an InputProblem.
FindJobImage = Callable[[str, int, str], Awaitable[str]]


class InputProblem(Exception):
    """An input that cannot be used: `field` names it (`images[1]`, `mask`, `images[0].job`);
    `retryable` when the cause is passing (Blob Storage or the image host unavailable)."""

    def __init__(self, field: str, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.retryable = retryable


@dataclass(frozen=True)
class InputLimits:
    """What the chosen model takes (shared.models capabilities, on its platform)."""

    model: str
    formats: tuple[str, ...]
    max_bytes: int
    max_pixels: int | None
    mask_max_bytes: int


class _Checked:
    """In front of a StagedImage: counts and hashes the bytes as they pass."""

    def __init__(self, staged: StagedImage) -> None:
        self.staged = staged
        self.sha256 = hashlib.sha256()

    async def write(self, chunk: bytes) -> None:
        self.sha256.update(chunk)
        await self.staged.write(chunk)


@dataclass
class _Staged:
    """One input that passed every check, its bytes staged (not committed) under its name."""

    ref: InputRef
    staged: StagedImage
    sha256: str
    width: int
    height: int
    source_ref: str | None


def _quoted(blob: str) -> str:
    """A blob name as an error quotes it: cut short, and not at all when it looks like it
    carries a query string or parameters (a SAS URL pasted into the wrong field)."""
    if any(ch in blob for ch in "?=&"):
        return '(that name: a blob name has no query string; send a URL as {"url": ...})'
    return repr(blob) if len(blob) <= 80 else f"{blob[:80]!r}..."


def _shown_url(url: str) -> str:
    """A source URL as a result names it: no query or fragment (a SAS signature lives there)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


@dataclass(frozen=True)
class _Stager:
    """Stages one request's inputs one after another (so at most one is in flight), under the
    request's own `batch` folder, each checked as its bytes arrive."""

    store: ImageStore
    job_id: str
    created: datetime
    batch: str
    limits: InputLimits
    http: httpx.AsyncClient
    policy: DownloadPolicy
    find_job_image: FindJobImage

    def _name_for(self, ref: InputRef, position: int | None) -> Callable[[ImageFormat], str]:
        allowed = ("png",) if position is None else self.limits.formats

        def name_for(fmt: ImageFormat) -> str:
            if fmt.name not in allowed:
                if position is None:
                    what = "a mask must be a PNG"
                else:
                    what = f"{self.limits.model} takes {', '.join(allowed)}"
                raise InputProblem(ref.field, f"{ref.field} is a {fmt.name} image; {what}")
            return naming.input_blob_name(self.job_id, self.created, self.batch, position, fmt.ext)

        return name_for

    async def stage(self, ref: InputRef, position: int | None) -> _Staged:
        cap = self.limits.mask_max_bytes if position is None else self.limits.max_bytes
        block = min(self.store.block_size, INPUT_BLOCK_SIZE)
        staged = StagedImage(self.store, self._name_for(ref, position), cap, block_size=block)
        checked = _Checked(staged)
        source_ref: str | None = None
        try:
            if ref.data is not None:
                self._check_bytes(ref, len(ref.data), cap)
                for start in range(0, len(ref.data), BLOCK_SIZE):
                    await checked.write(ref.data[start : start + BLOCK_SIZE])
            elif ref.url is not None:
                source_ref = _shown_url(ref.url)
                await self.store.stage_from_url(ref.url, checked, self.http, self.policy)
            else:
                blob = ref.blob
                if ref.kind == "job":
                    assert ref.job is not None
                    blob = await self.find_job_image(ref.job, ref.index, ref.field)
                    source_ref = f"{ref.job}/{ref.index}"
                else:
                    source_ref = blob
                assert blob is not None
                await self._stage_blob(ref, blob, checked, cap)
            fmt = staged.identify()
            if ref.data is None:
                # Fetched, not in the body: stage what is left of it now, so an input under one
                # block is not held in memory while the others are fetched.
                await staged.seal()
        except InputProblem:
            raise
        except ImageApiError as exc:
            if staged.total > cap:
                self._check_bytes(ref, staged.total, cap)
            where = f"{ref.field}.url" if ref.url is not None else ref.field
            raise InputProblem(where, f"{where}: {exc.message}", retryable=exc.retryable) from None
        width, height = staged.dimensions()
        if width is None or height is None:
            raise InputProblem(
                ref.field, f"{ref.field} is a {fmt.name} file whose size cannot be read"
            )
        pixels = width * height
        if self.limits.max_pixels is not None and pixels > self.limits.max_pixels:
            raise InputProblem(
                ref.field,
                f"{ref.field} has {pixels:,} pixels; {self.limits.model} takes at most "
                f"{self.limits.max_pixels:,}",
            )
        if position is None and not png_has_alpha(staged.head):
            raise InputProblem(
                ref.field,
                "mask has no alpha channel: the edit applies where the mask is transparent, "
                "so it must be a PNG with alpha",
            )
        return _Staged(ref, staged, checked.sha256.hexdigest(), width, height, source_ref)

    def _check_bytes(self, ref: InputRef, size: int, cap: int) -> None:
        if size > cap:
            whose = "a mask" if ref.field == "mask" else f"{self.limits.model}'s inputs"
            raise InputProblem(
                ref.field, f"{ref.field} is {size:,} bytes; {whose} must be at most {cap:,}"
            )

    async def _stage_blob(self, ref: InputRef, blob: str, checked: _Checked, cap: int) -> None:
        field = f"{ref.field}.blob" if ref.kind == "blob" else ref.field
        problem = blob_name_problem(blob)
        if problem is not None:
            raise InputProblem(field, f"{field} {problem}")
        try:
            facts = await self.store.blob_facts(blob)
        except ImageApiError as exc:
            raise InputProblem(field, f"{field}: {exc.message}", retryable=exc.retryable) from None
        if facts is None:
            raise InputProblem(
                field, f"{field}: no blob named {_quoted(blob)} in the images container"
            )
        self._check_bytes(ref, facts.size, cap)
        async for chunk in self.store.blob_chunks(blob, facts.size, facts.etag):
            await checked.write(chunk)


_IMAGE_EXTENSIONS = ("png", "jpg", "jpeg", "webp")


def blob_name_problem(blob: str) -> str | None:
    """Why a `{"blob"}` reference may not be read (None: it may). Only image names, in folders
    of plain segments: no receipt (`receipts/` holds the service's signed URLs), no `.`/`..` or
    empty segment, no backslash (Azure reads it as `/`), no leading slash."""
    segments = blob.split("/")
    if "\\" in blob or any(seg in ("", ".", "..") for seg in segments):
        return "must be a blob name of plain folders (no '', '.', '..' or '\\' in it)"
    if "receipts" in segments[:-1]:
        return "names a receipt, not an image"
    if "." not in segments[-1] or segments[-1].rsplit(".", 1)[-1].lower() not in _IMAGE_EXTENSIONS:
        return f"must name an image blob ({', '.join('.' + e for e in _IMAGE_EXTENSIONS)})"
    return None


async def stage_inputs(
    store: ImageStore,
    job_id: str,
    created: datetime,
    batch: str,
    images: Sequence[InputRef],
    mask: InputRef | None,
    limits: InputLimits,
    *,
    http: httpx.AsyncClient,
    policy: DownloadPolicy,
    find_job_image: FindJobImage,
) -> list[InputRecord]:
    """Fetch, check and commit every input (images in order, then the mask) under
    `{folder}/inputs/{batch}/`; their records. Raises InputProblem with nothing committed; a
    commit that fails midway removes the inputs already committed (best effort) before it
    raises."""
    try:
        await store.ensure_container()
    except ImageApiError as exc:
        raise InputProblem("images", f"Blob Storage: {exc.message}", retryable=True) from None
    stager = _Stager(store, job_id, created, batch, limits, http, policy, find_job_image)
    staged = [await stager.stage(ref, i) for i, ref in enumerate(images)]
    if mask is not None:
        masked = await stager.stage(mask, None)
        first = staged[0]
        if (masked.width, masked.height) != (first.width, first.height):
            raise InputProblem(
                "mask",
                f"mask is {masked.width}x{masked.height}; it must be the size of images[0] "
                f"({first.width}x{first.height})",
            )
        staged.append(masked)
    records: list[InputRecord] = []
    item = staged[0]
    try:
        for item in staged:
            metadata = {"job_id": job_id, "role": "edit-input", "field": item.ref.field}
            stored = await item.staged.commit(metadata)
            records.append(
                InputRecord(
                    field=item.ref.field,
                    blob=stored.blob,
                    content_type=stored.content_type,
                    bytes=stored.bytes,
                    width=item.width,
                    height=item.height,
                    sha256=item.sha256,
                    source=item.ref.kind,
                    ref=item.source_ref,
                )
            )
    except BaseException as exc:  # a Blob fault, or the route's time limit cancelling us
        current = [item.staged.blob_name] if item.staged.blob_name else []
        await store.delete_quietly([r.blob for r in records] + current)
        if isinstance(exc, ImageApiError):
            raise InputProblem(
                item.ref.field, f"storing {item.ref.field} failed: {exc.message}", retryable=True
            ) from None
        raise
    return records


@dataclass(frozen=True)
class BlobInput:
    """A staged input as an `InputFile`: streamed from its blob, pinned to the version sized."""

    store: ImageStore
    blob: str
    filename: str
    content_type: str
    size: int
    etag: str

    def chunks(self) -> AsyncIterator[bytes]:
        return self.store.blob_chunks(self.blob, self.size, self.etag)


_CONTENT_TYPES = {fmt.ext: fmt.content_type for fmt in FORMATS.values()}


async def _blob_input(store: ImageStore, blob: str, stem: str) -> BlobInput:
    facts = await store.blob_facts(blob)
    if facts is None:  # staged and committed before the job started: removed since
        raise ImageApiError(
            ErrorCode.INVALID_REQUEST,
            f"The edit's input {stem} is no longer in Blob Storage (it was deleted after the job "
            "started); nothing was generated.",
        )
    ext = blob.rsplit(".", 1)[-1].lower()
    content_type = facts.content_type or _CONTENT_TYPES.get(ext, PNG.content_type)
    return BlobInput(store, blob, f"{stem}.{ext}", content_type, facts.size, facts.etag)


async def open_sources(store: ImageStore, edit: EditInputs) -> EditSources:
    """The staged inputs of an edit as the client streams them (one properties read each)."""
    images = [await _blob_input(store, blob, f"image-{i}") for i, blob in enumerate(edit.images)]
    mask = await _blob_input(store, edit.mask, "mask") if edit.mask is not None else None
    return EditSources(images=list(images), mask=mask)
