"""The activities of the image job: the only code that talks to the image API and Blob Storage.

Each takes and returns small JSON. An image-API failure is *returned*, never raised, and never
slept on:

    {"outcome": "ok", ...}                                       success
    {"outcome": "retry", "retry_after": s | None, "code", "message"}  throttled / unavailable
    {"outcome": "error", "code", "message"}                      terminal (content filter, 400, ...)

so the orchestrator decides, on a durable timer, whether and when to try again. Images are
written to Blob Storage here (base64 ones decoded as the reply streams in, URL ones copied), and
only the blob's name and facts go back to history.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections import defaultdict
from datetime import datetime
from typing import Any

from shared.blueprints.deps import runtime
from shared.imaging.errors import safe_message
from shared.imaging.types import (
    Deployment,
    GenerationParams,
    ImageApiError,
    OperationStatus,
)
from shared.orchestration.polling import DurationEstimate
from shared.settings import SettingsError
from shared.storage.formats import ImageFormat
from shared.storage.store import StagedImage

GENERATE = "generate_images"
PERSIST = "persist_image"
SUBMIT = "submit_operation"
POLL = "poll_operation"
DELETE = "delete_operation"

Json = dict[str, Any]
log = logging.getLogger(__name__)

# How long DALL-E 2 operations of each deployment took, learnt from polls; process memory only
# (activities may keep state, the orchestrator may not). See `DurationEstimate`.
_durations: defaultdict[str, DurationEstimate] = defaultdict(DurationEstimate)


def _failure(exc: ImageApiError) -> Json:
    if exc.retryable:
        return {
            "outcome": "retry",
            "retry_after": exc.retry_after_s,
            "code": exc.code.value,
            "message": exc.message,
        }
    return {"outcome": "error", "code": exc.code.value, "message": exc.message}


def _crash(activity: str, exc: Exception) -> Json:
    """An unexpected exception, logged with its frames and a redacted message (messages may hold
    signed URLs); the result carries the type only."""
    if isinstance(exc, SettingsError):
        return {"outcome": "error", "code": "configuration_error", "message": str(exc)}
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error(
        "activity %s failed unexpectedly: %s: %s\n%s",
        activity,
        type(exc).__name__,
        safe_message(str(exc)),
        frames,
    )
    return {
        "outcome": "error",
        "code": "internal_error",
        "message": f"{activity} failed unexpectedly ({type(exc).__name__})",
    }


def _metadata(payload: Json, revised_prompt: str | None) -> dict[str, str | None]:
    params = payload.get("params") or {}
    return {
        "job_id": payload["job_id"],
        "model": payload.get("model"),
        "prompt": payload.get("prompt") or params.get("prompt"),
        "revised_prompt": revised_prompt,
        "size": payload.get("size") or params.get("size"),
    }


def _record(stored: Any, index: int, revised_prompt: str | None) -> Json:
    return {**stored.model_dump(mode="json"), "index": index, "revised_prompt": revised_prompt}


def _deployment(payload: Json) -> Deployment:
    """The deployment an activity talks to: named by `model` and resolved from this worker's
    settings (so history does not repeat it), or given whole by inputs of older jobs."""
    if payload.get("deployment") is not None:
        return Deployment.model_validate(payload["deployment"])
    name = str(payload["model"])
    try:
        return runtime().settings.deployment(name)
    except KeyError:
        raise SettingsError("IMAGE_MODELS", f"model {name!r} is not configured") from None


async def _store_url(payload: Json, index: int, url: str, revised: str | None) -> Json:
    rt = runtime()
    created = datetime.fromisoformat(payload["created"])
    name = rt.store.blob_name(payload["job_id"], created, index, "png")
    stored = await rt.store.copy_from_url(
        url, name, _metadata(payload, revised), rt.http, rt.policy
    )
    return _record(stored, index, revised)


async def _store_sources(payload: Json, sources: list[Json]) -> tuple[list[Json], list[Json]]:
    """Copy URL images at once, in parallel: (stored records, sources still to copy). A copy that
    fails is left to `persist_image`, which the orchestrator retries on its own, so a flaky
    download never costs a second generation."""
    if not sources:
        return [], []
    results = await asyncio.gather(
        *(
            _store_url(payload, int(s["index"]), str(s["url"]), s.get("revised_prompt"))
            for s in sources
        ),
        return_exceptions=True,
    )
    stored: list[Json] = []
    left: list[Json] = []
    for source, result in zip(sources, results, strict=True):
        if isinstance(result, dict):
            stored.append(result)
        elif isinstance(result, Exception):
            if not isinstance(result, ImageApiError):
                log.warning("storing an image failed: %s", type(result).__name__)
            left.append(source)
        else:  # a BaseException such as cancellation
            raise result
    return stored, left


async def generate_images(payload: Json) -> Json:
    """Generate and store: base64 images are decoded into Blob Storage as the reply streams in,
    URL images are copied at once; a URL copy that fails goes back as a source for
    `persist_image`.

    Input: {job_id, model, created, params, first_index, prompt?}.
    Ok: {"images": [stored image + index + revised_prompt],
         "sources": [{index, url, revised_prompt}]}.
    """
    try:
        rt = runtime()
        params = GenerationParams.model_validate(payload["params"])
        first = int(payload.get("first_index", 0))
        created = datetime.fromisoformat(payload["created"])
        staged: dict[int, StagedImage] = {}

        async def open_sink(ordinal: int) -> StagedImage:
            def name_for(fmt: ImageFormat) -> str:
                return rt.store.blob_name(payload["job_id"], created, first + ordinal, fmt.ext)

            staged[ordinal] = await rt.store.open_staged(name_for, rt.policy.max_bytes)
            return staged[ordinal]

        images = await rt.client(_deployment(payload)).generate_streamed(params, open_sink)
        stored: list[Json] = []
        sources: list[Json] = []
        for offset, image in enumerate(images[: params.n]):
            if image.streamed is not None:
                index = first + image.streamed
                if image.streamed >= params.n:
                    continue
                meta = _metadata(payload, image.revised_prompt)
                record = await staged[image.streamed].commit(meta)
                stored.append(_record(record, index, image.revised_prompt))
            elif image.url:
                sources.append(
                    {
                        "index": first + offset,
                        "url": image.url,
                        "revised_prompt": image.revised_prompt,
                    }
                )
        copied, left = await _store_sources(payload, sources)
        return {"outcome": "ok", "images": stored + copied, "sources": left}
    except ImageApiError as exc:
        return _failure(exc)
    except Exception as exc:
        return _crash(GENERATE, exc)


async def persist_image(payload: Json) -> Json:
    """Copy one generated image from the service's URL into our container (when the activity
    that got the URL could not).

    Input: {job_id, model, created, prompt, index, url, revised_prompt}. Ok: {"image": {...}}.
    """
    try:
        index = int(payload["index"])
        revised = payload.get("revised_prompt")
        return {"outcome": "ok", "image": await _store_url(payload, index, payload["url"], revised)}
    except ImageApiError as exc:
        return _failure(exc)
    except Exception as exc:
        return _crash(PERSIST, exc)


async def submit_operation(payload: Json) -> Json:
    """DALL-E 2: start an operation. Input: {model, params}. Ok: {"operation_url", "expected_s"
    (the deployment's learnt duration, as `poll_operation` answers it, so even the first poll
    can be paced by it)}."""
    try:
        deployment = _deployment(payload)
        params = GenerationParams.model_validate(payload["params"])
        url = await runtime().client(deployment).submit(params)
        return {
            "outcome": "ok",
            "operation_url": url,
            "expected_s": _durations[deployment.name].value(),
        }
    except ImageApiError as exc:
        return _failure(exc)
    except Exception as exc:
        return _crash(SUBMIT, exc)


async def poll_operation(payload: Json) -> Json:
    """DALL-E 2: poll once; when the operation succeeded, store its images at once (saving the
    orchestrator a round trip).

    Input: {model, operation_url, elapsed_s, running_until_s, job_id, created, prompt, size,
    n}: `elapsed_s` is when (seconds after the submit, in the orchestrator's time) this poll was
    made, `running_until_s` when the last poll that saw the operation still queued or running
    was. On success the operation's duration is learnt as the middle of those bounds.
    Ok: {"status", "retry_after", "expected_s" (the deployment's learnt duration, or None),
    "error" (when failed), and when succeeded "images" (stored) and "sources" (images still to
    copy, for `persist_image`)}.
    """
    try:
        deployment = _deployment(payload)
        state = await runtime().client(deployment).get_operation(payload["operation_url"])
        result: Json = {
            "outcome": "ok",
            "status": state.status.value,
            "retry_after": state.retry_after_s,
        }
        if state.status is OperationStatus.SUCCEEDED:
            _durations[deployment.name].add_bounds(
                float(payload.get("running_until_s") or 0.0),
                float(payload.get("elapsed_s") or 0.0),
            )
            n = int(payload.get("n") or len(state.images))
            sources = [
                {"index": i, "url": image.url, "revised_prompt": image.revised_prompt}
                for i, image in enumerate(state.images[:n])
                if image.url
            ]
            if "job_id" in payload:
                result["images"], sources = await _store_sources(payload, sources)
            result["sources"] = sources
        if state.error is not None:
            result["error"] = {"code": state.error.code.value, "message": state.error.message}
        result["expected_s"] = _durations[deployment.name].value()
        return result
    except ImageApiError as exc:
        return _failure(exc)
    except Exception as exc:
        return _crash(POLL, exc)


async def delete_operation(payload: Json) -> Json:
    """DALL-E 2: delete a finished operation. Best effort: always "ok", with `deleted`."""
    try:
        deployment = _deployment(payload)
        await runtime().client(deployment).delete_operation(payload["operation_url"])
        return {"outcome": "ok", "deleted": True}
    except ImageApiError as exc:
        return {"outcome": "ok", "deleted": False, "code": exc.code.value, "message": exc.message}
    except Exception as exc:
        log.warning("deleting the operation failed: %s", type(exc).__name__)
        return {"outcome": "ok", "deleted": False, "code": type(exc).__name__}
