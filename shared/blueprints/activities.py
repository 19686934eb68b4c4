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
from shared.orchestration.names import DELETE, GENERATE, PERSIST, POLL, SUBMIT

if TYPE_CHECKING:
    from shared.blueprints.deps import Runtime
    from shared.imaging.types import Deployment, ImageApiError
    from shared.orchestration import contracts as c
    from shared.orchestration.polling import DurationEstimate
    from shared.storage.formats import ImageFormat
    from shared.storage.receipts import Receipt
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
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error(
        "activity %s failed unexpectedly: %s: %s\n%s",
        name,
        type(exc).__name__,
        safe_message(str(exc)),
        frames,
    )
    return c.dump(
        c.Failed(
            code="internal_error",
            message=f"{name} failed unexpectedly ({type(exc).__name__})",
        )
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
    job: c.GenerateInput | c.PersistInput | c.PollInput, source: c.ImageSource
) -> c.IndexedImage:
    rt = _runtime()
    created = datetime.fromisoformat(job.created)
    name = rt.store.blob_name(job.job_id, created, source.index, "png")
    meta = _metadata(job, source.revised_prompt)
    stored = await rt.store.copy_from_url(source.url, name, meta, rt.http, rt.policy)
    return _indexed(stored, source.index)


async def _store_sources(
    job: c.GenerateInput | c.PersistInput | c.PollInput, sources: list[c.ImageSource]
) -> c.Generated:
    """Copy URL images at once, in parallel: the stored records, and the sources still to copy.
    A copy that fails is left to `persist_image`, which the orchestrator retries on its own, so
    a flaky download never costs a second generation."""
    from shared.imaging.types import ImageApiError
    from shared.orchestration import contracts as c

    if not sources:
        return c.Generated()
    results = await asyncio.gather(*(_store_url(job, s) for s in sources), return_exceptions=True)
    stored: list[c.IndexedImage] = []
    left: list[c.ImageSource] = []
    for source, result in zip(sources, results, strict=True):
        if isinstance(result, c.IndexedImage):
            stored.append(result)
        elif isinstance(result, Exception):
            if not isinstance(result, ImageApiError):
                log.warning("storing an image failed: %s", type(result).__name__)
            left.append(source)
        else:  # a BaseException such as cancellation
            raise result
    return c.Generated(images=stored, sources=left)


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

    images = await rt.client(_deployment(job.model)).generate_streamed(params, open_sink)
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


async def _store_answer(job: c.GenerateInput, receipt: Receipt) -> c.Generated:
    """Store what the service answered, from the receipt (fresh, or left by a crashed run):
    commit the staged blocks it names, copy its URLs. A URL already past its expiry fails the
    job at once with `image_download_failed`: buying the image again is the caller's decision,
    not a retry's."""
    from shared.imaging.types import ErrorCode, ImageApiError
    from shared.orchestration import contracts as c

    rt = _runtime()
    expired = [u.index for u in receipt.urls if u.expired(datetime.now(UTC))]
    if expired:
        raise ImageApiError(
            ErrorCode.IMAGE_DOWNLOAD_FAILED,
            f"The image service's URL of image {expired[0]} expired before the image could be "
            "copied (the worker restarted in between); it was not generated again.",
        )
    stored: list[c.IndexedImage] = []
    for part in receipt.staged:
        meta = _metadata(job, part.revised_prompt)
        await rt.store.commit_blocks(part.blob, part.block_ids, part.content_type, meta)
        stored.append(
            c.IndexedImage(
                blob=part.blob,
                content_type=part.content_type,
                bytes=part.bytes,
                width=part.width,
                height=part.height,
                revised_prompt=part.revised_prompt,
                index=part.index,
            )
        )
    sources = [
        c.ImageSource(index=u.index, url=u.url, revised_prompt=u.revised_prompt)
        for u in receipt.urls
    ]
    copied = await _store_sources(job, sources)
    return c.Generated(images=stored + copied.images, sources=copied.sources)


@activity(bp, GENERATE)
async def generate_images(payload: Json) -> Json:
    """Generate and store: base64 images are decoded into Blob Storage as the reply streams in,
    URL images are copied at once; a URL copy that fails goes back as a source for
    `persist_image`. Input `GenerateInput`, payload `Generated`.

    The service's answer is kept as a receipt (shared/storage/receipts.py) before anything is
    stored, and removed once it has been: a run that finds one (its predecessor died after the
    service answered) stores from it instead of calling the service, so a crash after the answer
    never buys the images twice. A retryable storage failure keeps the receipt for the retry;
    a terminal one removes it."""
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
            receipt = await _buy(job)
            await receipts.keep(rt.store, name, receipt)
        else:
            log.info("generate_images: storing job %s from its receipt, not generating", job.job_id)
        try:
            generated = await _store_answer(job, receipt)
        except ImageApiError as exc:
            if not exc.retryable:
                await receipts.discard(rt.store, name)
            raise
        await receipts.discard(rt.store, name)
        return c.ok(generated)
    except ImageApiError as exc:
        return _failure(exc)
    except Exception as exc:
        return _crash(GENERATE, exc)


@activity(bp, PERSIST)
async def persist_image(payload: Json) -> Json:
    """Copy one generated image from the service's URL into our container (when the activity
    that got the URL could not). Input `PersistInput`, payload `Persisted`."""
    from shared.imaging.types import ImageApiError
    from shared.orchestration import contracts as c

    try:
        job = c.PersistInput.model_validate(payload)
        source = c.ImageSource(index=job.index, url=job.url, revised_prompt=job.revised_prompt)
        return c.ok(c.Persisted(image=await _store_url(job, source)))
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
        deployment = _deployment(job.model)
        url = await _runtime().client(deployment).submit(job.params)
        expected = _duration(deployment.name).value()
        return c.ok(c.Submitted(operation_url=url, expected_s=expected))
    except ImageApiError as exc:
        return _failure(exc)
    except Exception as exc:
        return _crash(SUBMIT, exc)


@activity(bp, POLL)
async def poll_operation(payload: Json) -> Json:
    """DALL-E 2: poll once; when the operation succeeded, store its images at once (saving the
    orchestrator a round trip) and learn the operation's duration as the middle of the bounds
    the input gives. Input `PollInput`, payload `Polled`."""
    from shared.imaging.types import ImageApiError, OperationStatus
    from shared.orchestration import contracts as c

    try:
        job = c.PollInput.model_validate(payload)
        deployment = _deployment(job.model)
        state = await _runtime().client(deployment).get_operation(job.operation_url)
        stored = c.Generated()
        if state.status is OperationStatus.SUCCEEDED:
            _duration(deployment.name).add_bounds(job.running_until_s, job.elapsed_s)
            sources = [
                c.ImageSource(index=i, url=image.url, revised_prompt=image.revised_prompt)
                for i, image in enumerate(state.images[: job.n])
                if image.url
            ]
            stored = await _store_sources(job, sources)
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
