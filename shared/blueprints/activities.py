"""The activities of the image job: the only code that talks to the image API and Blob Storage.

Each validates its input with its contract model (shared/orchestration/contracts.py) and answers
`Ok` / `Retry` / `Failed` as JSON. An image-API failure is *returned*, never raised, and never
slept on, so the orchestrator decides, on a durable timer, whether and when to try again. Images
are written to Blob Storage here (base64 ones decoded as the reply streams in, URL ones copied),
and only the blob's name and facts go back to history.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import azure.durable_functions as df

from shared.blueprints.registration import activity
from shared.orchestration.names import DELETE, DISCARD, GENERATE, PERSIST, POLL, SUBMIT

if TYPE_CHECKING:
    from shared.blueprints.deps import Runtime
    from shared.imaging.types import Deployment, EditInputs, EditSources, ImageApiError, Previews
    from shared.orchestration import contracts as c
    from shared.orchestration.polling import DurationEstimate
    from shared.storage.formats import ImageFormat
    from shared.storage.previews import PreviewWriter
    from shared.storage.receipts import Receipt, StagedBlocks, StoredImage, UrlImage
    from shared.storage.store import StagedImage

# The contracts (pydantic), settings, runtime and storage are imported inside the functions, on
# the first call: function_app.py imports this module on every cold start, only to register the
# activities by name.

Json = dict[str, Any]
log = logging.getLogger(__name__)
bp = df.Blueprint()

# How long DALL-E 2 operations of each deployment took, learnt from polls; process memory only
# (activities may keep state, the orchestrator may not). See `DurationEstimate`.
_durations: dict[str, DurationEstimate] = {}


def _duration(deployment: str) -> DurationEstimate:
    estimate = _durations.get(deployment)
    if estimate is None:
        from shared.orchestration.polling import DurationEstimate

        estimate = _durations[deployment] = DurationEstimate()
    return estimate


def _runtime() -> Runtime:
    from shared.blueprints.deps import runtime

    return runtime()


def _failure(exc: ImageApiError) -> Json:
    from shared.orchestration import contracts as c

    if exc.retryable:
        retry = c.Retry(code=exc.code.value, message=exc.message, retry_after=exc.retry_after_s)
        return c.dump(retry)
    return c.dump(c.Failed(code=exc.code.value, message=exc.message))


def _crash(name: str, exc: Exception) -> Json:
    """An unexpected exception, logged with its frames and a redacted message (messages may hold
    signed URLs); the result carries the type only."""
    from pydantic import ValidationError

    from shared.imaging.errors import safe_message
    from shared.orchestration import contracts as c
    from shared.settings import SettingsError

    if isinstance(exc, SettingsError):
        return c.dump(c.Failed(code="configuration_error", message=str(exc)))
    if isinstance(exc, ValidationError):  # the orchestrator sent what this activity cannot read
        log.error("activity %s got an invalid input: %s", name, safe_message(str(exc)))
        return c.dump(c.Failed(code="internal_error", message=f"{name} got an invalid input"))
    _log_unexpected(name, exc)
    return c.dump(c.Failed(code="internal_error", message=_unexpected(name, exc)))


def _unexpected(name: str, exc: Exception) -> str:
    """The message of an unexpected failure: the type only (texts may hold signed URLs)."""
    return f"{name} failed unexpectedly ({type(exc).__name__})"


def _log_unexpected(name: str, exc: Exception) -> None:
    """Log an unexpected exception with its frames and a redacted message."""
    from shared.imaging.errors import safe_message

    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error(
        "activity %s failed unexpectedly: %s: %s\n%s",
        name,
        type(exc).__name__,
        safe_message(str(exc)),
        frames,
    )


def _metadata(
    job: c.GenerateInput | c.PersistInput | c.PollInput, revised_prompt: str | None
) -> dict[str, str | None]:
    prompt, size = job.described
    return {
        "job_id": job.job_id,
        "model": job.model,
        "prompt": prompt,
        "revised_prompt": revised_prompt,
        "size": size,
    }


def _indexed(stored: Any, index: int) -> c.IndexedImage:
    from shared.orchestration import contracts as c

    return c.IndexedImage(**stored.model_dump(), index=index)


def _deployment(model: str) -> Deployment:
    """The deployment an activity talks to: named by `model` and resolved from this worker's
    settings, so history does not repeat it."""
    from shared.settings import SettingsError

    try:
        return _runtime().settings.deployment(model)
    except KeyError:
        raise SettingsError("IMAGE_MODELS", f"model {model!r} is not configured") from None


async def _store_url(
    job: c.GenerateInput | c.PersistInput | c.PollInput, image: UrlImage
) -> c.IndexedImage:
    """Copy one image from the service's URL. A URL already past its expiry fails at once with
    `image_download_failed`: buying the image again is the caller's decision, not a retry's."""
    from shared.imaging.types import ErrorCode, ImageApiError

    if image.expired(datetime.now(UTC)):
        raise ImageApiError(
            ErrorCode.IMAGE_DOWNLOAD_FAILED,
            f"The image service's URL of image {image.index} expired before the image could be "
            "copied; it was not generated again.",
        )
    rt = _runtime()
    created = datetime.fromisoformat(job.created)
    name = rt.store.blob_name(job.job_id, created, image.index, "png")
    meta = _metadata(job, image.revised_prompt)
    try:
        stored = await rt.store.copy_from_url(image.url, name, meta, rt.http, rt.policy)
    except ImageApiError as exc:
        raise _explain_expired_sample(job.model, image.index, exc) from None
    return _indexed(stored, image.index)


def _explain_expired_sample(model: str, index: int, exc: ImageApiError) -> ImageApiError:
    """A BFL sample whose download is refused has expired (BFL signs it for 10 minutes after
    the task is ready): say so, instead of a bare "refused", so the caller knows why asking
    again is the cure. Any other failure, or another flavour's, is unchanged."""
    from shared.imaging.bfl_api import SAMPLE_TTL_NOTE
    from shared.imaging.types import ErrorCode, Flavour, ImageApiError

    refused = exc.code is ErrorCode.IMAGE_DOWNLOAD_FAILED and exc.status in (401, 403, 404, 410)
    deployment = _runtime().settings.image_models.get(model) if refused else None
    if deployment is None or deployment.flavour is not Flavour.BFL:
        return exc
    return ImageApiError(
        ErrorCode.IMAGE_DOWNLOAD_FAILED,
        f"Black Forest Labs' sample of image {index} expired before it could be copied "
        f"(HTTP {exc.status}; {SAMPLE_TTL_NOTE}); it was not generated again.",
        status=exc.status,
    )


async def _commit(job: c.GenerateInput | c.PersistInput, part: StagedBlocks) -> c.IndexedImage:
    """Commit exactly the staged blocks a receipt names (maybe staged by a process that died)."""
    from shared.orchestration import contracts as c

    meta = _metadata(job, part.revised_prompt)
    await _runtime().store.commit_blocks(part.blob, part.block_ids, part.content_type, meta)
    return c.IndexedImage(
        blob=part.blob,
        content_type=part.content_type,
        bytes=part.bytes,
        width=part.width,
        height=part.height,
        revised_prompt=part.revised_prompt,
        index=part.index,
    )


async def _store_pending(
    job: c.GenerateInput | c.PersistInput, entry: UrlImage | StagedBlocks
) -> c.IndexedImage:
    """Store one image a receipt holds: copy its URL or commit its blocks."""
    from shared.storage.receipts import UrlImage

    if isinstance(entry, UrlImage):
        return await _store_url(job, entry)
    return await _commit(job, entry)


async def _store_sources(
    job: c.PollInput, images: list[UrlImage], *, terminal_fails: bool = False
) -> c.Generated:
    """DALL-E 2 / BFL: copy a succeeded operation's images at once, in parallel: the stored
    records, and the indexes of those still to copy. A copy that fails is left to
    `persist_image`, which polls the operation again for a fresh URL, so a flaky download never
    costs a second generation (and no URL goes back through history).

    `terminal_fails`: a terminal failure is raised instead. BFL answers every poll with the same
    sample URL, so once its download is refused (expired) no re-poll can cure it."""
    from shared.imaging.types import ImageApiError
    from shared.orchestration import contracts as c

    if not images:
        return c.Generated()
    results = await asyncio.gather(*(_store_url(job, i) for i in images), return_exceptions=True)
    stored: list[c.IndexedImage] = []
    left: list[c.ImageSource] = []
    for image, result in zip(images, results, strict=True):
        if isinstance(result, c.IndexedImage):
            stored.append(result)
        elif isinstance(result, Exception):
            if not isinstance(result, ImageApiError):
                log.warning("storing an image failed: %s", type(result).__name__)
            elif terminal_fails and not result.retryable:
                raise result
            left.append(c.ImageSource(index=image.index))
        else:  # a BaseException such as cancellation
            raise result
    return c.Generated(images=stored, sources=left)


def _stored(image: c.IndexedImage) -> StoredImage:
    from shared.storage.receipts import StoredImage

    return StoredImage.model_validate(image.model_dump())


def _answer(receipt: Receipt, *, previews_left: bool = False) -> Json:
    """What a generation answers, from its receipt alone: the first image given up on fails the
    call; otherwise the stored images, and the pending ones by index for `persist_image`."""
    from shared.orchestration import contracts as c

    if receipt.failed:
        failure = receipt.failed[0]
        return c.dump(c.Failed(code=failure.code, message=failure.message))
    images = [_indexed(s.record(), s.index) for s in receipt.stored]
    left = [c.ImageSource(index=e.index) for e in receipt.pending]
    return c.ok(
        c.Generated(images=images, sources=left, previews_left=True if previews_left else None)
    )


def _canceled_answer() -> Json:
    from shared.orchestration import contracts as c
    from shared.orchestration.calls import JOB_CANCELED

    failed = c.Failed(code=JOB_CANCELED, message="the job was canceled: the service was not called")
    return c.dump(failed)


async def _canceled(job_id: str, created: str) -> bool:
    """Whether `DELETE /api/images/{id}` has marked the job canceled: checked by the billed
    activities before they call the service. The orchestrator sees the cancel event only when
    it is delivered, which can be in the same batch as the answer or timer that schedules the
    next billed call (already emitted by then); the marker closes that gap. A store that cannot
    answer is no reason to fail a job that may not be canceled: the call goes ahead."""
    from shared.imaging.types import ImageApiError
    from shared.storage.naming import cancel_marker_name

    try:
        name = cancel_marker_name(job_id, datetime.fromisoformat(created))
        return await _runtime().store.blob_facts(name) is not None
    except (ImageApiError, ValueError) as exc:
        log.warning("job %s: cancel marker not readable (%s)", job_id, type(exc).__name__)
        return False


async def _buy(job: c.GenerateInput) -> Receipt:
    """Call the service once: base64 images are decoded into staged blocks as the reply streams
    in and sealed (every block staged, nothing committed) once it has all arrived; URL images are
    kept as URLs. The answer, as a receipt to keep before anything is stored."""
    from shared.storage import receipts

    rt = _runtime()
    params = job.params
    created = datetime.fromisoformat(job.created)
    staged: dict[int, StagedImage] = {}

    async def open_sink(ordinal: int) -> StagedImage:
        def name_for(fmt: ImageFormat) -> str:
            return rt.store.blob_name(job.job_id, created, job.first_index + ordinal, fmt.ext)

        staged[ordinal] = await rt.store.open_staged(name_for, rt.policy.max_bytes)
        return staged[ordinal]

    sources = await _sources(job.edit)
    client = rt.client(_deployment(job.model))
    if job.partial_images > 0:
        previews = _previews(job, created)
        images = await client.generate_streamed(params, open_sink, sources, previews=previews)
    else:
        images = await client.generate_streamed(params, open_sink, sources)
    urls: list[receipts.UrlImage] = []
    blocks: list[receipts.StagedBlocks] = []
    for offset, image in enumerate(images[: params.n]):
        if image.streamed is not None:
            if image.streamed >= params.n:
                continue
            sink = staged[image.streamed]
            block_ids = await sink.seal()
            width, height = sink.dimensions()
            assert sink.blob_name is not None  # sealed: identified, so named
            assert sink.fmt is not None
            blocks.append(
                receipts.StagedBlocks(
                    index=job.first_index + image.streamed,
                    blob=sink.blob_name,
                    content_type=sink.fmt.content_type,
                    bytes=sink.total,
                    width=width,
                    height=height,
                    revised_prompt=image.revised_prompt,
                    writer=sink.writer,
                    block_ids=block_ids,
                )
            )
        elif image.url:
            urls.append(
                receipts.UrlImage(
                    index=job.first_index + offset,
                    url=image.url,
                    revised_prompt=image.revised_prompt,
                    expires=receipts.url_expiry(image.url),
                )
            )
    return receipts.Receipt(
        job_id=job.job_id,
        first_index=job.first_index,
        received=datetime.now(UTC),
        urls=urls,
        staged=blocks,
    )


def _previews(job: c.GenerateInput, created: datetime) -> Previews:
    """Where a streaming call's partial images go: one preview blob per image of the job,
    overwritten by each newer frame (shared/storage/previews.py: a failing write is logged and
    dropped, never fails the call). One writer per image for the whole call, so a writer that
    failed stays failed (it is not opened again for the next frame), and one storage-time
    budget for all of them, so slow storage cannot stall the billed stream frame after frame."""
    from shared.imaging.types import Previews
    from shared.storage import naming
    from shared.storage.previews import PreviewBudget, PreviewWriter

    rt = _runtime()
    budget = PreviewBudget()
    writers: dict[int, PreviewWriter] = {}

    async def open_preview(ordinal: int) -> PreviewWriter:
        writer = writers.get(ordinal)
        if writer is not None:
            return writer
        index = job.first_index + ordinal

        def name_for(fmt: ImageFormat) -> str:
            return naming.preview_blob_name(job.job_id, created, index, fmt.ext)

        label = f"job {job.job_id} image {index}"
        writer = await PreviewWriter.open(
            rt.store, name_for, rt.policy.max_bytes, label=label, budget=budget
        )
        writers[ordinal] = writer
        return writer

    return Previews(partial_images=job.partial_images, open=open_preview)


# One call of a streaming job has one image (multi-image jobs do not stream), and a re-run's
# predecessor left at most as many: one listing deletes them all.
PREVIEWS_DELETE_TIMEOUT_S = 10.0


async def _drop_previews(job: c.GenerateInput | c.PersistInput) -> bool:
    """Delete the job's preview blobs, best effort: once its image is stored they are stale
    (and after a failed call, useless). A job that does not stream has none: no call. False:
    some may be left (the orchestrator deletes them before the job ends)."""
    if not job.partial_images:
        return True
    from shared.storage import naming

    try:
        prefix = naming.previews_prefix(job.job_id, datetime.fromisoformat(job.created))
        # bounded: during a storage outage the SDK's retries take minutes, and the billed
        # call's answer must not wait on a clean-up (the next attempt or the discard redoes it)
        await asyncio.wait_for(
            _runtime().store.delete_prefix(prefix, limit=naming.PREVIEWS_MAX),
            PREVIEWS_DELETE_TIMEOUT_S,
        )
    except Exception as exc:  # a stale preview is no reason to fail the job
        log.warning("job %s: previews not deleted (%s)", job.job_id, type(exc).__name__)
        return False
    return True


async def _drop_preview_of(job: c.PersistInput, entry: UrlImage | StagedBlocks) -> None:
    """`persist_image` stored (or gave up on) a streamed image the generation could not store:
    delete the job's previews, best effort; a job that does not stream (`partial_images`
    absent, as in every history from before previews) has none: no call."""
    from shared.storage.receipts import StagedBlocks

    if isinstance(entry, StagedBlocks):  # a URL image was never streamed
        await _drop_previews(job)


async def _sources(edit: EditInputs | None) -> EditSources | None:
    """An edit's staged inputs, to be streamed from Blob Storage into the request."""
    if edit is None:
        return None
    from shared.storage.inputs import open_sources

    return await open_sources(_runtime().store, edit)


async def _store_answer(job: c.GenerateInput, receipt: Receipt) -> Receipt:
    """Store every pending image of the receipt (fresh, or left by a crashed run), in parallel,
    and answer the receipt as it is then. An image whose storing failed retryably stays pending,
    for `persist_image` (so its retries never generate again); a terminal failure (an expired
    URL, staged blocks that are gone, not an image) or an unexpected one gives up on the whole
    call, and every image still pending with it: the job fails, so nothing would ever use the
    URLs or block ids, and the receipt must not keep them."""
    from shared.imaging.types import ImageApiError
    from shared.orchestration import contracts as c

    pending = receipt.pending
    results = await asyncio.gather(
        *(_store_pending(job, entry) for entry in pending), return_exceptions=True
    )
    failure: tuple[str, str] | None = None
    for result in results:
        if isinstance(result, c.IndexedImage):
            receipt = receipt.with_stored(_stored(result))
        elif isinstance(result, ImageApiError):
            if not result.retryable and failure is None:
                failure = (result.code.value, result.message)
        elif isinstance(result, Exception):
            _log_unexpected(GENERATE, result)
            failure = failure or ("internal_error", _unexpected(GENERATE, result))
        else:  # a BaseException such as cancellation: the receipt stays as it was, for a re-run
            raise result
    return receipt if failure is None else receipt.all_failed(*failure)


@activity(bp, GENERATE)
async def generate_images(payload: Json) -> Json:
    """Generate and store: base64 images are decoded into Blob Storage as the reply streams in,
    URL images are copied at once; an image whose storing failed retryably goes back, by index
    only, for `persist_image`. Input `GenerateInput`, payload `Generated`.

    The service's answer is kept as a receipt (shared/storage/receipts.py) before anything is
    stored, and rewritten — never deleted — once it has been: the stored images' records, the
    pending ones' URL or blocks, the ones given up on. A run that finds one (its predecessor
    died after the service answered, even after storing, before Durable recorded its result)
    stores the pending images from it, or just answers from it, never calling the service: a
    crash after the answer never buys the images twice."""
    from shared.imaging.types import ImageApiError
    from shared.orchestration import contracts as c
    from shared.storage import receipts

    try:
        job = c.GenerateInput.model_validate(payload)
        rt = _runtime()
        name = receipts.receipt_name(
            job.job_id, datetime.fromisoformat(job.created), job.first_index
        )
        receipt = await receipts.find(rt.store, name)
        if receipt is None:
            if await _canceled(job.job_id, job.created):
                return _canceled_answer()
            try:
                receipt = await _buy(job)
            except Exception:
                await _drop_previews(job)  # the call failed: its previews show nothing to come
                raise
            await receipts.keep(rt.store, name, receipt)
        elif not receipt.pending:
            log.info("generate_images: answering job %s from its receipt", job.job_id)
            # a predecessor may have died before deleting them
            return _answer(receipt, previews_left=not await _drop_previews(job))
        else:
            log.info("generate_images: storing job %s from its receipt, not generating", job.job_id)
        try:
            receipt = await _store_answer(job, receipt)
        except Exception as exc:  # never leave the URL / block ids behind a call that ends here
            given_up = receipt.all_failed("internal_error", _unexpected(GENERATE, exc))
            await receipts.keep(rt.store, name, given_up)
            await _drop_previews(job)
            raise
        previews_left = False
        if not receipt.pending:  # stored (or given up on): the previews have had their day
            previews_left = not await _drop_previews(job)
        if not await receipts.keep(rt.store, name, receipt) and receipt.pending:
            # The images still to store are known only here: without the receipt persist_image
            # could not find them. A retry stores them from the first receipt, if it was kept.
            retry = c.Retry(code="unavailable", message="Blob Storage refused the receipt.")
            return c.dump(retry)
        return _answer(receipt, previews_left=previews_left)
    except ImageApiError as exc:
        return _failure(exc)
    except Exception as exc:
        return _crash(GENERATE, exc)


async def _from_operation(job: c.PersistInput, operation_url: str) -> UrlImage:
    """DALL-E 2: poll the operation once for a fresh URL of image `job.index` (re-polling is
    free: the operation was billed at submit)."""
    from shared.imaging.types import ErrorCode, ImageApiError, OperationStatus
    from shared.storage.receipts import UrlImage, url_expiry

    state = await _runtime().client(_deployment(job.model)).get_operation(operation_url)
    images = state.images if state.status is OperationStatus.SUCCEEDED else []
    image = images[job.index] if job.index < len(images) else None
    if image is None or not image.url:
        raise ImageApiError(
            ErrorCode.OPERATION_FAILED,
            f"The image operation is {state.status.value}: image {job.index} can no longer be "
            "fetched from it.",
        )
    return UrlImage(
        index=job.index,
        url=image.url,
        revised_prompt=image.revised_prompt,
        expires=url_expiry(image.url),
    )


async def _persist_from_receipt(job: c.PersistInput, first_index: int) -> Json:
    """Store image `job.index` from the receipt of the generation that bought it, and record
    the outcome there: stored (its URL / blocks dropped), or given up on when this attempt ends
    the activity's use of the answer for good (a terminal or unexpected failure, or a retryable
    one on the orchestrator's `final` attempt). A re-run answers from the receipt."""
    from shared.imaging.types import ErrorCode, ImageApiError
    from shared.orchestration import contracts as c
    from shared.storage import receipts

    rt = _runtime()
    name = receipts.receipt_name(job.job_id, datetime.fromisoformat(job.created), first_index)
    receipt = await receipts.find(rt.store, name)
    entry = receipt.entry(job.index) if receipt is not None else None
    if entry is None:
        raise ImageApiError(
            ErrorCode.IMAGE_DOWNLOAD_FAILED,
            f"No receipt of the generation holds image {job.index}; it was not generated again.",
        )
    if isinstance(entry, receipts.StoredImage):
        return c.ok(c.Persisted(image=_indexed(entry.record(), entry.index)))
    if isinstance(entry, receipts.FailedImage):
        return c.dump(c.Failed(code=entry.code, message=entry.message))

    def give_up(code: str, message: str) -> Any:
        return receipts.update(rt.store, name, lambda r: r.with_failed(job.index, code, message))

    try:
        image = await _store_pending(job, entry)
    except ImageApiError as exc:
        if not exc.retryable or job.final:
            await give_up(exc.code.value, exc.message)
            await _drop_preview_of(job, entry)
        raise
    except Exception as exc:
        await give_up("internal_error", _unexpected(PERSIST, exc))
        await _drop_preview_of(job, entry)
        raise
    await receipts.update(rt.store, name, lambda r: r.with_stored(_stored(image)))
    await _drop_preview_of(job, entry)
    return c.ok(c.Persisted(image=image))


@activity(bp, PERSIST)
async def persist_image(payload: Json) -> Json:
    """Store one generated image the activity that got it could not store. Its input names no
    URL (history holds none): a synchronous generation's image is read from its receipt, a
    DALL-E 2 image from a fresh poll of its operation. Input `PersistInput`, payload
    `Persisted`."""
    from shared.imaging.types import ImageApiError
    from shared.orchestration import contracts as c

    try:
        job = c.PersistInput.model_validate(payload)
        if job.operation_url is not None:
            image = await _from_operation(job, job.operation_url)
            return c.ok(c.Persisted(image=await _store_url(job, image)))
        assert job.first_index is not None  # PersistInput: exactly one of the two
        return await _persist_from_receipt(job, job.first_index)
    except ImageApiError as exc:
        return _failure(exc)
    except Exception as exc:
        return _crash(PERSIST, exc)


@activity(bp, SUBMIT)
async def submit_operation(payload: Json) -> Json:
    """DALL-E 2: start an operation. Input `SubmitInput`, payload `Submitted` (with the
    deployment's learnt duration, as `poll_operation` answers it, so even the first poll can be
    paced by it)."""
    from shared.imaging.types import ImageApiError
    from shared.orchestration import contracts as c

    try:
        job = c.SubmitInput.model_validate(payload)
        if job.job_id and job.created and await _canceled(job.job_id, job.created):
            return _canceled_answer()
        deployment = _deployment(job.model)
        url = await _runtime().client(deployment).submit(job.params, await _sources(job.edit))
        expected = _duration(deployment.name).value()
        return c.ok(c.Submitted(operation_url=url, expected_s=expected))
    except ImageApiError as exc:
        return _failure(exc)
    except Exception as exc:
        return _crash(SUBMIT, exc)


@activity(bp, POLL)
async def poll_operation(payload: Json) -> Json:
    """DALL-E 2 / BFL: poll once; when the operation succeeded, store its images at once (saving
    the orchestrator a round trip; a BFL sample expires 10 minutes after it is ready) and learn
    the operation's duration as the middle of the bounds the input gives. Input `PollInput`,
    payload `Polled`."""
    from shared.imaging.types import Flavour, ImageApiError, OperationStatus
    from shared.orchestration import contracts as c
    from shared.storage.receipts import UrlImage

    try:
        job = c.PollInput.model_validate(payload)
        deployment = _deployment(job.model)
        state = await _runtime().client(deployment).get_operation(job.operation_url)
        stored = c.Generated()
        if state.status is OperationStatus.SUCCEEDED:
            _duration(deployment.name).add_bounds(job.running_until_s, job.elapsed_s)
            images = [
                # No `expires`: the download itself tells an expired URL, and for BFL the
                # refusal is explained by _explain_expired_sample (why asking again helps).
                UrlImage(index=i, url=image.url, revised_prompt=image.revised_prompt)
                for i, image in enumerate(state.images[: job.n])
                if image.url
            ]
            # a BFL sample cannot be fetched afresh: an expired one fails the job now
            bfl = deployment.flavour is Flavour.BFL
            stored = await _store_sources(job, images, terminal_fails=bfl)
        error = None
        if state.error is not None:
            error = c.OperationError(code=state.error.code.value, message=state.error.message)
        polled = c.Polled(
            status=state.status.value,
            retry_after=state.retry_after_s,
            expected_s=_duration(deployment.name).value(),
            error=error,
            images=stored.images,
            sources=stored.sources,
        )
        return c.ok(polled)
    except ImageApiError as exc:
        return _failure(exc)
    except Exception as exc:
        return _crash(POLL, exc)


@activity(bp, DELETE)
async def delete_operation(payload: Json) -> Json:
    """DALL-E 2: delete a finished operation. Best effort: always `Ok`, saying whether it was
    deleted. Input `DeleteInput`, payload `Deleted`."""
    from shared.imaging.types import ImageApiError
    from shared.orchestration import contracts as c

    try:
        job = c.DeleteInput.model_validate(payload)
        await _runtime().client(_deployment(job.model)).delete_operation(job.operation_url)
        return c.ok(c.Deleted(deleted=True))
    except ImageApiError as exc:
        return c.ok(c.Deleted(deleted=False, code=exc.code.value, message=exc.message))
    except Exception as exc:
        log.warning("deleting the operation failed: %s", type(exc).__name__)
        return c.ok(c.Deleted(deleted=False, code=type(exc).__name__))


# A canceled job's folder holds a few dozen blobs at most (images, receipts, up to 17 edit
# inputs): one call deletes this many, and says when more may be left.
DISCARD_LIMIT = 500


@activity(bp, DISCARD)
async def discard_job_blobs(payload: Json) -> Json:
    """A canceled job: delete every blob in its folder `{yyyy}/{mm}/{dd}/{job}/` — its images,
    its edit's staged inputs, its receipts — once no activity of the job is in flight any more
    (the orchestrator waited for them). Quiet: a blob that cannot be deleted is skipped and
    reported as `more`; a listing that fails answers "retry". Input `DiscardInput`, payload
    `Discarded`."""
    from shared.imaging.types import ImageApiError
    from shared.orchestration import contracts as c
    from shared.storage import naming

    try:
        job = c.DiscardInput.model_validate(payload)
        created = datetime.fromisoformat(job.created)
        prefix = (
            naming.previews_prefix(job.job_id, created)
            if job.previews_only
            else f"{naming.job_folder(job.job_id, created)}/"
        )
        deleted, more = await _runtime().store.delete_prefix(prefix, limit=DISCARD_LIMIT)
        log.info("discard_job_blobs: deleted %d blob(s) of job %s", deleted, job.job_id)
        return c.ok(c.Discarded(deleted=deleted, more=more or None))
    except ImageApiError as exc:
        return _failure(exc)
    except Exception as exc:
        return _crash(DISCARD, exc)
